/**
 * A station that cannot start stops what it had started, in reverse order, and exits with code 2
 * and the error's code — through the real command (`station run --config FILE`), so exit codes,
 * threads, timers, sockets and child processes are the real ones.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { PartGenerator } from '../src/capture/index.js';
import { plateRecipe, validateConfig } from '../src/config/index.js';
import type { InspectionResult } from '../src/line/index.js';
import { StationHealth } from '../src/ops/health.js';
import { defectCode } from '../src/plc/defect-codes.js';
import { StationError } from '../src/errors/index.js';
import { errorFields } from '../src/station/log.js';
import { type Component, startInOrder } from '../src/station/lifecycle.js';
import { planReload } from '../src/station/reload-plan.js';
import { ROOT, station } from './helpers/cli.js';
import { tmpDir } from './helpers/tmp.js';

const MODEL = path.join(ROOT, 'models', 'plate-defects.onnx');

/** A station file over a small folder of parts, HTTP on a free port, changed by `extra`. */
async function stationFile(dir: string, extra: Record<string, unknown> = {}, recipe: Record<string, unknown> = {}): Promise<string> {
  const frames = path.join(dir, 'frames');
  mkdirSync(frames, { recursive: true });
  const sharp = (await import('sharp')).default;
  const gen = new PartGenerator({ seed: 5, defectRate: 0.5 });
  for (let i = 0; i < 2; i++) {
    const p = gen.part(i);
    await sharp(p.image.data, { raw: { width: 512, height: 384, channels: 1 } })
      .png()
      .toFile(path.join(frames, `part-${i}.png`));
  }
  const config = {
    station: { id: 'startup-1' },
    http: { host: '127.0.0.1', port: 0 },
    storage: { dataDir: path.join(dir, 'data') },
    sources: [{ name: 'folder', uri: `dir:${frames}`, recipe: 'plate' }],
    recipes: { plate: { model: MODEL, thresholds: { default: { minScore: 0.5 } }, ...recipe } },
    ...extra,
  };
  const file = path.join(dir, 'station.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

/**
 * Live processes still in the station's process group (the image encoder, a camera's ffmpeg, …).
 * A `<defunct>` entry has exited already (tsx's esbuild, waiting to be reaped by init).
 */
function leftInGroup(pgid: number): string[] {
  try {
    return execFileSync('ps', ['-o', 'pid=,args=', '-g', String(pgid)], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim() && !l.includes('<defunct>'));
  } catch {
    return []; // ps exits 1 when it lists nothing
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * Runs `station run --config FILE` expecting a failed start: exit code 2, `station: CODE:` on
 * stderr, the process gone by itself (a leaked timer or socket would keep it alive until the
 * command's own guard ends it after 10 s and says so), no child process left. How soon it goes is
 * not timed beyond that: a loaded machine stretches it, and node-opcua's import-time RSA
 * self-check (seconds on a busy core) may still be running when a PLC component fails.
 */
async function expectRefusedStart(file: string, code: string, env: Record<string, string> = {}, args = ['run', '--config', file]) {
  let failedAt = 0;
  let spawnedAt = 0;
  const r = await station(args, {
    env: { LOG_LEVEL: 'info', ...env },
    detached: true,
    timeoutMs: 60_000,
    onSpawn: () => (spawnedAt = Date.now()),
    onStderr: (s) => {
      if (!failedAt && /station failed to start|station: STN_ERR_/.test(s)) failedAt = Date.now();
    },
  });
  expect(r.code, r.stderr.slice(-2000)).toBe(2);
  expect(r.stderr).toMatch(new RegExp(`station: ${code}: `));
  expect(r.stderr).not.toMatch(/still running .* after the command ended/);
  expect(failedAt).toBeGreaterThan(0);
  const stopMs = spawnedAt + r.exitMs - failedAt;
  expect(stopMs).toBeLessThan(10_000);
  expect(leftInGroup(r.pid)).toEqual([]);
  return { ...r, stopMs };
}

describe('a station that cannot start', () => {
  it('exits 2 with STN_ERR_HTTP_LISTEN when its HTTP port is taken, after stopping the line worker and recorder it had started', async () => {
    const dir = tmpDir();
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    try {
      const file = await stationFile(dir, { http: { host: '127.0.0.1', port: (taken.address() as net.AddressInfo).port } });
      const r = await expectRefusedStart(file, 'STN_ERR_HTTP_LISTEN');
      // It had got as far as the line: the components before HTTP had started and were stopped.
      expect(r.stderr).toContain('"component":"HTTP"');
      expect(r.stderr).toContain('model loaded');
    } finally {
      taken.close();
    }
  });

  it('the demo too: exits 2 with STN_ERR_HTTP_LISTEN when its port is taken, its simulated PLC stopped with it', async () => {
    const dir = tmpDir();
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    try {
      const port = String((taken.address() as net.AddressInfo).port);
      await expectRefusedStart('', 'STN_ERR_HTTP_LISTEN', { MQTT_URL: '' }, ['demo', '--port', port, '--data', path.join(dir, 'data'), '--duration', '30']);
    } finally {
      taken.close();
    }
  });

  it('exits 2 with STN_ERR_CONFIG_INVALID naming the variable when a secret is missing, before anything starts', async () => {
    const dir = tmpDir();
    const file = await stationFile(dir, { opcua: { port: 0, users: [{ username: 'operator', passwordEnv: 'STARTUP_TEST_UNSET_PASSWORD' }] } });
    const r = await expectRefusedStart(file, 'STN_ERR_CONFIG_INVALID', { STARTUP_TEST_UNSET_PASSWORD: '' });
    expect(r.stderr).toContain('opcua.users.0.passwordEnv: the environment variable STARTUP_TEST_UNSET_PASSWORD is not set');
    expect(r.stderr).not.toContain('database ready');
  });

  it('exits 2 with STN_ERR_STORE_CONNECT when PostgreSQL is unreachable', async () => {
    const dir = tmpDir();
    const file = await stationFile(dir);
    const r = await expectRefusedStart(file, 'STN_ERR_STORE_CONNECT', { DATABASE_URL: `postgresql://127.0.0.1:${await closedPort()}/x` });
    expect(r.stderr).toMatch(/cannot be reached \(ECONNREFUSED\)/);
    expect(r.stderr).not.toContain('model loaded');
  });

  it('exits 2 with a model code when the model is not ONNX, after closing the database', async () => {
    const dir = tmpDir();
    const bad = path.join(dir, 'bad.onnx');
    writeFileSync(bad, 'this is not an ONNX model');
    const file = await stationFile(dir, {}, { model: bad });
    const r = await expectRefusedStart(file, 'STN_ERR_MODEL_[A-Z_]+');
    expect(r.stderr).not.toContain('HTTP listening');
  });

  it('exits 2 with STN_ERR_PLC_CONNECT when plc.required and the PLC endpoint refuses the connection', async () => {
    const dir = tmpDir();
    const file = await stationFile(dir, {
      plc: { endpoint: `opc.tcp://127.0.0.1:${await closedPort()}`, securityMode: 'None', securityPolicy: 'None', user: { anonymous: true }, required: true },
    });
    const r = await expectRefusedStart(file, 'STN_ERR_PLC_CONNECT');
    expect(r.stderr).toContain('"component":"PLC gate"');
  });
});

describe('the start/stop sequence', () => {
  const quiet = pino({ level: 'silent' });
  const recorder = (events: string[], name: string, o: { failStart?: unknown; failStop?: boolean } = {}): Component => ({
    name,
    start() {
      if (o.failStart) throw o.failStart;
      events.push(`start ${name}`);
    },
    stop() {
      events.push(`stop ${name}`);
      if (o.failStop) throw new Error(`${name} would not stop`);
    },
  });

  it('starts in order and stops in reverse, once however often stop is called', async () => {
    const events: string[] = [];
    const stop = await startInOrder(
      ['a', 'b', 'c'].map((n) => recorder(events, n)),
      quiet,
    );
    await Promise.all([stop(), stop()]);
    expect(events).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  });

  it('when one fails to start, stops the ones started before it in reverse order, even past one that fails to stop, and rejects with a code', async () => {
    const events: string[] = [];
    const port = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8080'), { code: 'EADDRINUSE' });
    const components = [
      recorder(events, 'a'),
      recorder(events, 'b', { failStop: true }),
      { ...recorder(events, 'http', { failStart: port }), failCode: 'STN_ERR_HTTP_LISTEN' as const },
      recorder(events, 'never'),
    ];
    const err = await startInOrder(components, quiet).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StationError);
    expect(err).toMatchObject({ code: 'STN_ERR_HTTP_LISTEN', message: port.message });
    expect(events).toEqual(['start a', 'start b', 'stop b', 'stop a']);
  });

  it('keeps the code of an error that has a registered one', async () => {
    const err = await startInOrder([recorder([], 'line', { failStart: new StationError('STN_ERR_MODEL_INVALID', 'not ONNX') })], quiet).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'STN_ERR_MODEL_INVALID' });
  });
});

describe('reload planning (pure)', () => {
  const base = (recipe: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
    validateConfig(
      {
        station: { id: 'plan-1' },
        sources: [{ name: 'folder', uri: 'synthetic:', recipe: 'plate' }],
        recipes: { plate: { ...plateRecipe(MODEL), ...recipe } },
        ...extra,
      },
      ROOT,
    );
  const same = { running: new Map([[MODEL, 'aaa']]), onDisk: new Map([[MODEL, 'aaa']]) };

  it('plans nothing when nothing changed', () => {
    expect(planReload(base(), base(), same)).toEqual({ needsRestart: [], changes: [] });
  });

  it('plans new thresholds and keepGood as a tune applied between frames', () => {
    const next = base({ thresholds: { default: { minScore: 0.9 } }, keepGood: 0.5 });
    const plan = planReload(base(), next, same);
    expect(plan.needsRestart).toEqual([]);
    expect(plan.changes).toEqual([expect.objectContaining({ recipe: 'plate', kind: 'tune', thresholds: true, keepGood: true })]);
  });

  it('plans a hot swap when the model file changed on disk under the same name', () => {
    const plan = planReload(base(), base(), { running: new Map([[MODEL, 'aaa']]), onDisk: new Map([[MODEL, 'bbb']]) });
    expect(plan.changes).toEqual([expect.objectContaining({ recipe: 'plate', kind: 'swap', after: expect.objectContaining({ model: MODEL }) })]);
  });

  it('plans a hot swap when preprocessing changed, and a restart for sections and recipes that cannot change live', () => {
    const next = validateConfig(
      {
        station: { id: 'plan-2' },
        sources: [{ name: 'folder', uri: 'synthetic:', recipe: 'plate' }],
        recipes: { plate: { ...plateRecipe(MODEL), resize: 'stretch' }, other: plateRecipe(MODEL) },
      },
      ROOT,
    );
    const plan = planReload(base(), next, same);
    expect(plan.needsRestart).toEqual(['station', 'recipes.other']);
    expect(plan.changes.map((c) => [c.recipe, c.kind])).toEqual([['plate', 'swap']]);
  });
});

describe('health problems', () => {
  it('reports image writes that failed, with the last code, while the count grows, and forgets them a minute later', () => {
    let now = 1_000_000;
    const recorder = { databaseDown: false, spoolDepth: 0, lastDatabaseError: null, counters: { diskFull: 0, imageErrors: 0 } };
    const health = new StationHealth(
      {
        line: { state: 'running', lastFault: null, cameras: new Map() },
        recorder,
        failedSources: new Map(),
        lastImageError: () => 'STN_ERR_IMAGE_EMPTY',
        retention: { disk: null },
        minFreeBytes: 0,
        gate: null,
        mqtt: null,
      },
      () => now,
    );
    expect(health.check()).toEqual({ status: 'ok', problems: [] });
    recorder.counters.imageErrors = 21;
    expect(health.check()).toEqual({ status: 'degraded', problems: ['recorder: 21 image writes failed (last: STN_ERR_IMAGE_EMPTY)'] });
    now += 61_000;
    expect(health.check().status).toBe('ok');
  });
});

describe('logging errors', () => {
  it('an expected error (a registered code, or a system code such as ENOSPC) is one line {code, message} without a stack', () => {
    expect(errorFields(new StationError('STN_ERR_IMAGE_EMPTY', 'the image has no bytes'))).toEqual({
      code: 'STN_ERR_IMAGE_EMPTY',
      message: 'the image has no bytes',
    });
    const enospc = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    expect(errorFields(enospc)).toEqual({ code: 'ENOSPC', message: 'ENOSPC: no space left on device' });
  });

  it('an unexpected error is logged whole, stack included', () => {
    const err = new TypeError('x is undefined');
    expect(errorFields(err)).toEqual({ err });
  });
});

describe('PLC defect codes', () => {
  it("is 1 + the index of the top rejecting class in the deciding model's labels, 0 without one", () => {
    const labels = (sha: string) => (sha === 'm1' ? ['scratch', 'spot'] : undefined);
    const r = (defects: { class: string; rejecting: boolean }[], modelSha256 = 'm1') =>
      ({ defects: defects.map((d) => ({ ...d, score: 0.9 })), modelSha256 }) as unknown as InspectionResult;
    expect(defectCode(r([{ class: 'spot', rejecting: true }]), labels)).toBe(2);
    expect(
      defectCode(
        r([
          { class: 'scratch', rejecting: false },
          { class: 'spot', rejecting: true },
        ]),
        labels,
      ),
    ).toBe(2);
    expect(defectCode(r([]), labels)).toBe(0);
    expect(defectCode(r([{ class: 'spot', rejecting: true }], 'unknown'), labels)).toBe(0);
  });

  it('sends a part its code alone rejected as 900 (no-read) or 901 (mismatch); a finding takes precedence', () => {
    const labels = () => ['scratch', 'spot'];
    const r = (reasons: { rule: string }[], defects: { class: string; rejecting: boolean }[] = []) =>
      ({ reasons, defects: defects.map((d) => ({ ...d, score: 0.9 })), modelSha256: 'm1' }) as unknown as InspectionResult;
    expect(defectCode(r([{ rule: 'no-read' }]), labels)).toBe(900);
    expect(defectCode(r([{ rule: 'code-mismatch' }]), labels)).toBe(901);
    expect(defectCode(r([{ rule: 'no-read' }, { rule: 'class' }], [{ class: 'spot', rejecting: true }]), labels)).toBe(2);
    expect(defectCode(r([{ rule: 'uninspected' }]), labels)).toBe(0);
  });
});
