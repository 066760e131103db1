/**
 * Fault injection, for real: a database on a filesystem made read-only, an image disk that
 * fills up (size-limited tmpfs), a model run that hangs the line worker, garbage images, a
 * corrupt model at hot swap, an invalid configuration reload, the PLC killed and restarted.
 * For each: verdicts keep coming (fail-safe where needed), no recorded inspection is lost (the
 * record count is checked before and after), and the fault shows in /metrics and /api/health.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { PartGenerator } from '../src/capture/index.js';
import { loadConfigFile, plateRecipe, validateConfig } from '../src/config/index.js';
import { startStation, type Station } from '../src/main.js';
import { SHIPPED_MODEL } from '../src/paths.js';
import { LineSimulator, trustEachOther } from '../src/plc/index.js';
import { buildStallingModel } from './helpers/onnx.js';
import { observer, push, userWithRole } from './helpers/station.js';
import { tmpDir } from './helpers/tmp.js';

const quiet = pino({ level: 'silent' });
const ADMIN = 'admin-password-for-faults';

/** A size-limited tmpfs at `dir` (root only; the suite says so and skips otherwise). */
function tmpfs(dir: string, size: string) {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounts.push(dir);
  return {};
}
const mounts: string[] = [];
const canMount = (() => {
  if (process.getuid?.() !== 0) return false;
  const d = tmpDir('mount-probe-', true);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', d], { stdio: 'ignore' });
    execFileSync('umount', [d]);
    return true;
  } catch {
    return false;
  }
})();
if (!canMount) console.warn('fault tests with a read-only or full filesystem skipped: they need root to mount a tmpfs');

let running: Station[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop().catch(() => undefined);
  for (const d of mounts.splice(0)) {
    try {
      execFileSync('umount', ['-l', d]);
    } catch {
      /* already gone */
    }
  }
});

async function station(o: {
  dir: string;
  databaseUrl?: string;
  recipe?: Record<string, unknown>;
  line?: Record<string, number>;
  storage?: Record<string, unknown>;
  configFile?: string;
  sources?: { name: string; uri: string }[];
  extra?: Record<string, unknown>;
}) {
  const config = o.configFile
    ? loadConfigFile(o.configFile)
    : validateConfig(
        {
          station: { id: 'faults-1' },
          http: { port: 0 },
          storage: { dataDir: o.dir, ...o.storage },
          line: { deadlineMs: 10_000, ...o.line },
          sources: (o.sources ?? [{ name: 'push', uri: 'http:' }]).map((x) => ({ ...x, recipe: 'plate' })),
          recipes: { plate: { ...plateRecipe(SHIPPED_MODEL), keepGood: 1, ...o.recipe } },
          ...o.extra,
        },
        o.dir,
      );
  const s = await startStation({ config, configFile: o.configFile, databaseUrl: o.databaseUrl, log: quiet, adminPassword: ADMIN });
  running.push(s);
  // Health details and metrics need a login: made now, while the database takes writes.
  await observer(s);
  return s;
}

async function metrics(s: Station): Promise<string> {
  return (await s.api!.inject({ method: 'GET', url: '/metrics', headers: await observer(s) })).body;
}
function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(name) && l.includes(labels) && !l.startsWith('#'));
  return line ? Number(line.split(' ').pop()) : NaN;
}
async function health(s: Station) {
  return (await s.api!.inject({ method: 'GET', url: '/api/health', headers: await observer(s) })).json();
}
const until = async (what: () => Promise<boolean> | boolean, ms = 20_000) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await what()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not met in time');
};

async function parts(n: number, seed = 5) {
  const gen = new PartGenerator({ seed, defectRate: 0.5 });
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      sharp(gen.part(i).image.data, { raw: { width: 512, height: 384, channels: 1 } })
        .png()
        .toBuffer(),
    ),
  );
}

describe.skipIf(!canMount)('storage faults', () => {
  // A filesystem cannot be remounted read-only under a file open for writing (EBUSY), so the
  // database's own disk is filled instead: every write fails (SQLITE_FULL) until space returns.
  it("the database's disk full: verdicts keep coming, records wait in the spool and all reach the database when there is room again", async () => {
    const dir = tmpDir();
    const dbDir = path.join(dir, 'db');
    tmpfs(dbDir, '16m');
    const s = await station({ dir, databaseUrl: `file:${path.join(dbDir, 'station.db')}` });
    const key = await userWithRole(s, 'integrator');
    const images = await parts(12);
    for (const png of images.slice(0, 4)) await push(s, key, png);
    await s.recorder.flush();
    const before = await s.repo.countInspections();
    expect(before).toBe(4);

    const filler = path.join(dbDir, 'filler');
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k', 'count=1024'], { stdio: 'ignore' });
    } catch {
      /* ENOSPC is the point */
    }
    const verdicts: string[] = [];
    for (const png of images.slice(4)) verdicts.push((await push(s, key, png)).verdict);
    expect(verdicts.every((v) => v === 'pass' || v === 'fail')).toBe(true); // the line decides on
    await s.recorder.flush();
    expect(s.recorder.counters.spooled).toBe(8);
    const m = await metrics(s);
    expect(metric(m, 'station_database_up')).toBe(0);
    expect(metric(m, 'station_records_total', 'outcome="spooled"')).toBe(8);
    expect(metric(m, 'station_queue_depth', 'queue="spool"')).toBe(8);
    const h = await health(s);
    expect(h.status).toBe('degraded');
    expect(h.problems.join(' ')).toMatch(/database writes failing, 8 records in the spool/);
    expect((await s.api!.inject({ method: 'GET', url: '/api/ready' })).statusCode).toBe(503);

    execFileSync('rm', ['-f', filler]);
    await until(() => !s.recorder.databaseDown);
    expect(await s.repo.countInspections()).toBe(before + 8);
    expect(s.recorder.counters).toMatchObject({ replayed: 8, writeErrors: 0, dropped: 0 });
    expect(metric(await metrics(s), 'station_database_up')).toBe(1);
    expect((await health(s)).status).toBe('ok');
    expect((await s.api!.inject({ method: 'GET', url: '/api/ready' })).statusCode).toBe(200);
  });

  it('a full image disk: verdicts keep coming, every record is kept (without images where none fit), and retention makes room', async () => {
    const dir = tmpDir();
    const dataDir = path.join(dir, 'data');
    tmpfs(dataDir, '1m');
    const s = await station({
      dir,
      databaseUrl: `file:${path.join(dir, 'station.db')}`,
      storage: { dataDir, retention: { minFreeBytes: 300_000, intervalS: 3600 } },
    });
    const key = await userWithRole(s, 'integrator');
    const images = await parts(30, 9);
    const before = await s.repo.countInspections();
    for (const png of images) await push(s, key, png);
    await s.recorder.flush();
    await s.retention.sweep();
    expect(await s.repo.countInspections()).toBe(before + 30);
    const rec = s.recorder.counters;
    expect(rec.withImages).toBeGreaterThan(0);
    // Retention kept free space above its floor by deleting the oldest images (rows stay).
    expect(s.retention.counters.inspectionsPurged).toBeGreaterThan(0);
    expect(s.retention.disk!.freeBytes).toBeGreaterThanOrEqual(300_000);
    const withImages = await s.db.inspection.count({ where: { images: { some: {} } } });
    expect(withImages).toBeLessThan(30);
    const m = await metrics(s);
    expect(metric(m, 'station_retention_total', 'event="inspectionsPurged"')).toBe(s.retention.counters.inspectionsPurged);
    expect(metric(m, 'station_disk_bytes', 'kind="free"')).toBeGreaterThanOrEqual(300_000);
    // Fill it for real: the station notices ENOSPC, keeps the row, and says so.
    writeFileSync(path.join(dataDir, 'filler'), Buffer.alloc(0));
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${path.join(dataDir, 'filler')}`, 'bs=4k', 'count=1024'], { stdio: 'ignore' });
    } catch {
      /* ENOSPC is the point */
    }
    const n = await s.repo.countInspections();
    for (const png of images.slice(0, 3)) await push(s, key, png);
    await s.recorder.flush();
    expect(await s.repo.countInspections()).toBe(n + 3);
    expect(s.recorder.counters.diskFull).toBeGreaterThan(0);
    expect(metric(await metrics(s), 'station_records_total', 'outcome="diskFull"')).toBe(s.recorder.counters.diskFull);
    const problems = (await health(s)).problems.join(' ');
    expect(problems).toMatch(/image disk (full|low)/);
    // Regression (issue 14, item 10): image write failures grew while health stayed ok.
    expect(problems).toContain(`recorder: ${s.recorder.counters.imageErrors} image writes failed (last: ENOSPC)`);
  });
});

describe('line faults', () => {
  it('a source that fails while another still delivers: the station runs on, degraded, and health names the dead source with its code', async () => {
    const dir = tmpDir();
    const s = await station({
      dir,
      sources: [
        { name: 'push', uri: 'http:' },
        { name: 'share', uri: `dir:${dir}?list=${path.join(dir, 'missing.txt')}` },
      ],
    });
    await until(async () => (await health(s)).problems.some((p: string) => p.startsWith('frame source share failed')));
    const h = await health(s);
    expect(h.status).toBe('degraded');
    expect(h.problems.join(' ')).toMatch(/frame source share failed: STN_ERR_SOURCE_FAILED: cannot read the list/);
    // The live source still inspects.
    const key = await userWithRole(s, 'integrator');
    expect((await push(s, key, (await parts(1))[0])).verdict).toMatch(/pass|fail/);
  });

  it('a model run that hangs the worker: the watchdog restarts it, the part in flight is a recorded fail-safe reject, the line recovers; past the restart budget it stays down and says so', async () => {
    const dir = tmpDir();
    const model = path.join(dir, 'stalling.onnx');
    writeFileSync(model, buildStallingModel({ size: 64, stallAbove: 0.8, n: 2048, repeats: 30 }));
    const s = await station({ dir, recipe: { model, thresholds: { anomalyScore: 0.5 } }, line: { watchdogMs: 1000, maxRestarts: 1, restartWindowS: 600 } });
    const key = await userWithRole(s, 'integrator');
    const grey = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 70, g: 70, b: 70 } } })
      .png()
      .toBuffer();
    const white = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 250, g: 250, b: 250 } } })
      .png()
      .toBuffer();
    const pushRaw = (png: Buffer) => s.api!.inject({ method: 'POST', url: '/api/frames', headers: { ...key, 'content-type': 'image/png' }, payload: png });

    expect((await pushRaw(grey)).json().verdict).toBe('pass');
    const hung = await pushRaw(white);
    expect([hung.statusCode, hung.json().code]).toEqual([503, 'STN_ERR_LINE_WORKER']);
    await until(() => s.line.state === 'running' && s.line.restarts === 1);
    expect((await pushRaw(grey)).json().verdict).toBe('pass'); // recovered
    let m = await metrics(s);
    expect(metric(m, 'station_line_restarts_total')).toBe(1);
    expect(metric(m, 'station_uninspected_total', 'code="STN_ERR_LINE_WORKER"')).toBe(1);

    // Again: the budget (one restart) is spent, the line stays down, Ready reports it.
    expect((await pushRaw(white)).statusCode).toBe(503);
    await until(() => s.line.state === 'failed');
    expect((await pushRaw(grey)).statusCode).toBe(503);
    const h = await health(s);
    expect(h.status).toBe('failed');
    expect(h.problems[0]).toMatch(/line failed: no heartbeat .* restart budget spent/);
    expect((await s.api!.inject({ method: 'GET', url: '/api/ready' })).statusCode).toBe(503);
    m = await metrics(s);
    expect(metric(m, 'station_line_state', 'state="failed"')).toBe(1);
    // Every part that entered the line has its record: 2 decided, 2 fail-safe rejects.
    await s.recorder.flush();
    const rows = await s.db.inspection.findMany({ orderBy: { id: 'asc' }, select: { verdict: true, errorCode: true } });
    expect(rows.map((r) => r.errorCode ?? r.verdict)).toEqual(['pass', 'STN_ERR_LINE_WORKER', 'pass', 'STN_ERR_LINE_WORKER']);
  });

  it('corrupt, truncated and decompression-bomb images: each a recorded uninspected part with its code; the line goes on', async () => {
    const s = await station({ dir: tmpDir() });
    const key = await userWithRole(s, 'integrator');
    const [good] = await parts(1);
    const bomb = await sharp({ create: { width: 8000, height: 6000, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    const before = await s.repo.countInspections();
    const cases: [Buffer, string][] = [
      [Buffer.from('not an image at all'), 'STN_ERR_IMAGE_CORRUPT'],
      [good.subarray(0, good.length / 2), 'STN_ERR_IMAGE_CORRUPT'],
      [bomb, 'STN_ERR_IMAGE_TOO_LARGE'],
    ];
    for (const [body, code] of cases) {
      const r = await s.api!.inject({ method: 'POST', url: '/api/frames', headers: { ...key, 'content-type': 'image/png' }, payload: body });
      expect(r.statusCode).toBe(200);
      expect(r.json()).toMatchObject({ verdict: 'uninspected', errorCode: code });
    }
    expect(['pass', 'fail']).toContain((await push(s, key, good)).verdict);
    await s.recorder.flush();
    expect(await s.repo.countInspections()).toBe(before + 4);
    const m = await metrics(s);
    expect(metric(m, 'station_uninspected_total', 'code="STN_ERR_IMAGE_CORRUPT"')).toBe(2);
    expect(metric(m, 'station_uninspected_total', 'code="STN_ERR_IMAGE_TOO_LARGE"')).toBe(1);
  }, 60_000);
});

describe('configuration faults', () => {
  function stationFile(dir: string, model: string, minScore: number, extra = '') {
    const file = path.join(dir, 'station.yaml');
    writeFileSync(
      file,
      [
        'station: { id: reload-1 }',
        'http: { port: 0 }',
        'storage: { dataDir: ./data }',
        'line: { deadlineMs: 10000 }',
        'sources: [{ name: push, uri: "http:", recipe: plate }]',
        `recipes:\n  plate:\n    model: ${model}\n    keepGood: 1\n    thresholds: { default: { minScore: ${minScore} } }${extra}`,
        '',
      ].join('\n'),
    );
    return file;
  }

  /** A station started from a file, with its own copy of the shipped model, and an admin's header. */
  async function reloadable() {
    const dir = tmpDir();
    copyFileSync(SHIPPED_MODEL, path.join(dir, 'plate.onnx'));
    copyFileSync(SHIPPED_MODEL.replace(/\.onnx$/, '.manifest.json'), path.join(dir, 'plate.manifest.json'));
    const s = await station({ dir, configFile: stationFile(dir, 'plate.onnx', 0.5) });
    const admin = {
      authorization: `Bearer ${(await s.api!.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'admin', password: ADMIN, tokenInBody: true } })).json().token}`,
    };
    return { dir, s, admin };
  }

  it('an invalid reload is refused with its key path and the running configuration stays; a valid one applies new thresholds', async () => {
    const { dir, s, admin } = await reloadable();
    const [png] = await parts(1);
    const before = await s.repo.countInspections();

    stationFile(dir, 'plate.onnx', 7);
    const bad = await s.api!.inject({ method: 'POST', url: '/api/config/reload', headers: admin });
    expect([bad.statusCode, bad.json().code]).toEqual([422, 'STN_ERR_CONFIG_INVALID']);
    expect(bad.json().message).toMatch(/recipes\.plate\.thresholds\.default\.minScore \(line \d+\)/);
    expect(await s.repo.getRecipe('plate')).toMatchObject({ version: 1 });
    expect((await push(s, admin, png)).verdict).toMatch(/pass|fail/);

    stationFile(dir, 'plate.onnx', 0.99);
    const ok = await s.api!.inject({ method: 'POST', url: '/api/config/reload', headers: admin });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ thresholds: ['plate'], models: [], needsRestart: [], errors: [] });
    expect(await s.repo.getRecipe('plate')).toMatchObject({ version: 2, author: 'admin (session)', reason: 'configuration reloaded' });
    const m = await metrics(s);
    expect(metric(m, 'station_config_reloads_total', 'result="refused"')).toBe(1);
    expect(metric(m, 'station_config_reloads_total', 'result="applied"')).toBe(1);
    await s.recorder.flush();
    expect(await s.repo.countInspections()).toBe(before + 1);
    const audit = (await s.accounts.auditLog(10)).map((a) => a.action);
    expect(audit).toEqual(expect.arrayContaining(['config.reload.refused', 'config.reload']));
  });

  it('a corrupt model at hot swap is refused and the old model keeps deciding; a good one takes over without a restart', async () => {
    const { dir, s, admin } = await reloadable();
    const images = await parts(4);
    const first = await push(s, admin, images[0]);
    const oldSha = s.line.models[0].sha256;

    writeFileSync(path.join(dir, 'broken.onnx'), 'this is not a model');
    stationFile(dir, 'broken.onnx', 0.5);
    const r = await s.api!.inject({ method: 'POST', url: '/api/config/reload', headers: admin });
    expect(r.statusCode).toBe(200);
    expect(r.json().errors).toEqual([{ recipe: 'plate', code: 'STN_ERR_MODEL_INVALID', message: expect.any(String) }]);
    expect((await push(s, admin, images[0])).verdict).toBe(first.verdict); // the old model still decides
    expect(s.line.models.map((m) => m.sha256)).toEqual([oldSha]);
    expect(metric(await metrics(s), 'station_config_reloads_total', 'result="modelSwapFailed"')).toBe(1);

    // A model that loads: the same network exported again under another name (a new file, same contract).
    const bytes = readFileSync(SHIPPED_MODEL);
    writeFileSync(path.join(dir, 'plate-v2.onnx'), bytes);
    stationFile(dir, 'plate-v2.onnx', 0.5);
    const swap = await s.api!.inject({ method: 'POST', url: '/api/config/reload', headers: admin });
    expect(swap.json()).toMatchObject({ models: ['plate'], errors: [] });
    expect((await push(s, admin, images[0])).verdict).toBe(first.verdict);
    await s.recorder.flush();
    const rows = await s.db.inspection.findMany({ orderBy: { id: 'asc' }, include: { recipeVersion: true } });
    expect(rows).toHaveLength(3);
    expect(rows.map((x) => x.recipeVersion?.version)).toEqual([1, 3, 4]);
  });
});

describe('PLC faults', () => {
  it('the PLC killed and restarted: the link, Ready and triggers come back by themselves, and every decided part is recorded', async () => {
    const dir = tmpDir();
    const password = LineSimulator.generatePassword();
    const simOptions = {
      port: 0,
      host: '127.0.0.1',
      rate: 8,
      travelMs: 600,
      seed: 42,
      defectRate: 0.2,
      pkiDir: path.join(dir, 'pki', 'plc-sim'),
      users: [{ username: 'station', password }],
    };
    let sim = new LineSimulator(simOptions);
    await sim.start();
    const port = Number(new URL(sim.endpointUrl).port);
    await trustEachOther(path.join(dir, 'data', 'pki', 'station'), 'urn:inspection-station:station:faults-1', sim.serverCertificateDir, sim.certificate());
    const s = await station({
      dir: path.join(dir, 'data'),
      sources: [{ name: 'line', uri: 'synthetic:?seed=42&defectRate=0.2&trigger=plc' }],
      line: { deadlineMs: 500 },
      extra: { plc: { endpoint: sim.endpointUrl, user: { username: 'station', password }, reconnectMinMs: 100, reconnectMaxMs: 500 } },
    });
    await s.gate!.whenReady(30_000);
    sim.startConveyor();
    await until(() => s.line.counters.parts >= 10);
    await sim.stop();
    await until(() => s.gate!.state === 'reconnecting');
    const h = await health(s);
    expect(h.status).toBe('degraded');
    expect(h.problems.join(' ')).toMatch(/PLC link reconnecting/);
    expect(metric(await metrics(s), 'station_plc_link_up')).toBe(0);

    sim = new LineSimulator({ ...simOptions, port });
    await sim.start();
    await s.gate!.whenReady(30_000);
    sim.startConveyor();
    const resumed = s.line.counters.parts;
    await until(() => s.line.counters.parts >= resumed + 10);
    await sim.drain();
    await sim.stop();
    expect(metric(await metrics(s), 'station_plc_total', 'event="connects"')).toBe(2);
    // Every part the station decided is in the database.
    const decided = s.line.counters.parts;
    await s.stop();
    running = [];
    const { openDatabase } = await import('../src/store/index.js');
    const db = await openDatabase(`file:${path.join(dir, 'data', 'station.db')}`);
    expect(await db.inspection.count()).toBe(decided);
    await db.$disconnect();
    expect(sim.counters.escapes).toBe(0);
  }, 120_000);
});
