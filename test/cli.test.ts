import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { PartGenerator } from '../src/capture/index.js';
import { ROOT, station, TSX } from './helpers/cli.js';
import { tmpDir } from './helpers/tmp.js';
import { freshPostgres, pgAvailable } from './helpers/pg.js';
import { haveMosquitto, startMosquitto } from './helpers/mosquitto.js';

describe('the station command', () => {
  it('demo --duration --json runs the line under the simulated PLC and ends with the summary object', async () => {
    // An existing data folder open to others is tightened to 0700 (and says so).
    const data = tmpDir();
    chmodSync(data, 0o755);
    // Seed 98: smeared labels on parts 1, 11 and 27, the next part's serial on parts 10, 24 and 30.
    const r = await station(['demo', '--duration', '6', '--json', '--port', '0', '--rate', '10', '--seed', '98', '--data', data]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('data directory was open to others; tightened');
    // Nobody but the station's user reads what it writes: the folder 0700, every file 0600.
    expect(statSync(data).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(data, 'station.db')).mode & 0o777).toBe(0o600);
    const files = (readdirSync(data, { recursive: true }) as string[]).map((f) => path.join(data, f)).filter((f) => statSync(f).isFile());
    expect(files.some((f) => f.includes(`${path.sep}images${path.sep}`))).toBe(true);
    expect(files.filter((f) => (statSync(f).mode & 0o777) !== 0o600)).toEqual([]);
    const summary = JSON.parse(r.lines[r.lines.length - 1]);
    expect(summary).toMatchObject({
      parts: expect.any(Number),
      verdicts: { pass: expect.any(Number), fail: expect.any(Number), uninspected: expect.any(Number) },
      latencyMs: { p50: expect.any(Number), p99: expect.any(Number) },
      plc: {
        passedGood: expect.any(Number),
        rejectedDefective: expect.any(Number),
        escapes: expect.any(Number),
        falseRejects: expect.any(Number),
        late: expect.any(Number),
        failSafeRejects: expect.any(Number),
      },
    });
    // Every part the station saw reached the gate; every uninspected part was rejected there,
    // and the only other fail-safe rejects are verdicts that missed their part (timing is the
    // benchmark's business, not this test's: on a loaded machine a verdict can be late).
    const g = summary.plc;
    expect(g.passedGood + g.rejectedDefective + g.escapes + g.falseRejects).toBe(summary.parts);
    expect(g.failSafeRejects).toBeGreaterThanOrEqual(summary.verdicts.uninspected);
    expect(g.failSafeRejects - summary.verdicts.uninspected).toBeLessThanOrEqual(g.late);
    // An escape is a defective part the model passed, never one the link lost.
    expect(g.escapes).toBeLessThanOrEqual(summary.truth.defective - Math.round(summary.truth.recall * summary.truth.defective));
    expect(g.rejectedDefective).toBeGreaterThan(0);
    expect(summary.parts).toBeGreaterThanOrEqual(25);
    expect(summary.verdicts.pass + summary.verdicts.fail + summary.verdicts.uninspected).toBe(summary.parts);
    expect(summary.verdicts.fail).toBeGreaterThan(0);
    expect(summary.recorded).toBe(summary.parts);
    // The simulated PLC names every part: each record has its serial and lot, and the summary counts them.
    expect(summary.identity).toEqual({ withSerial: summary.parts, withLot: summary.parts, unusable: 0 });
    const db = new Database(path.join(data, 'station.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT partSeq, partId, lot, code, reasons FROM Inspection').all() as {
        partSeq: number;
        partId: string | null;
        lot: string | null;
        code: string | null;
        reasons: string;
      }[];
      expect(rows).toHaveLength(summary.parts);
      // Serials and lots carry the simulator's run (its start), so a second demo on this data names other parts.
      const run = /^SN-(\d{12})-/.exec(rows[0]?.partId ?? '')?.[1];
      expect(run).toMatch(/^\d{12}$/);
      for (const { code: _, reasons: __, ...row } of rows)
        expect(row).toEqual({
          partSeq: row.partSeq,
          partId: `SN-${run}-${String(row.partSeq).padStart(8, '0')}`,
          lot: `LOT-${run}-${Math.floor((Number(row.partSeq) - 1) / 50) + 1}`,
        });
      // Each plate carries its serial as a DataMatrix label; the smeared ones are no-reads, the wrong ones mismatches.
      expect(summary.codes.read).toBeGreaterThan(0);
      expect(summary.codes.noRead).toBeGreaterThan(0);
      expect(summary.codes.mismatch).toBeGreaterThan(0);
      expect(rows.filter((r) => r.code !== null)).toHaveLength(summary.codes.read);
      for (const r of rows) {
        const rules = (JSON.parse(r.reasons) as { rule: string }[]).map((x) => x.rule);
        if (rules.includes('uninspected')) continue;
        if (rules.includes('no-read')) expect(r.code).toBeNull();
        else if (rules.includes('code-mismatch')) expect(r.code).toBe(`SN-${run}-${String(r.partSeq + 1).padStart(8, '0')}`);
        else expect(r.code).toBe(r.partId);
      }
    } finally {
      db.close();
    }
  });

  it('SIGTERM stops the demo gracefully: the parts in flight get their verdicts at the gate, every record is written, the last stdout line is one JSON object without --json, and no secret reaches the log', async () => {
    const data = tmpDir();
    const secret = 'sigterm-admin-secret-0451';
    let child: import('node:child_process').ChildProcess | null = null;
    let signalled = false;
    const r = await station(['demo', '--duration', '120', '--port', '0', '--rate', '10', '--data', data], {
      env: { STATION_ADMIN_PASSWORD: secret, LOG_LEVEL: 'debug' },
      onSpawn: (c) => (child = c),
      onStderr: (s) => {
        // Some parts into the run, mid-stream: stop it as systemd would.
        if (!signalled && /parts (2\d|[3-9]\d)\b/.test(s)) {
          signalled = true;
          child!.kill('SIGTERM');
        }
      },
      timeoutMs: 90_000,
    });
    expect(signalled).toBe(true);
    expect(r.code).toBe(0);
    // Without --json too: stdout is the summary as one JSON line (the readable one went to stderr).
    expect(r.lines).toHaveLength(1);
    const summary = JSON.parse(r.lines[r.lines.length - 1]);
    expect(summary.parts).toBeGreaterThanOrEqual(20);
    expect(summary.recorded).toBe(summary.parts);
    const g = summary.plc;
    expect(g.passedGood + g.rejectedDefective + g.escapes + g.falseRejects).toBe(summary.parts);
    const db = new Database(path.join(data, 'station.db'), { readonly: true });
    expect((db.prepare('select count(*) as n from Inspection').get() as { n: number }).n).toBe(summary.parts);
    db.close();
    expect(r.stderr).not.toContain(secret);
  });

  it.skipIf(!pgAvailable || !haveMosquitto)(
    'demo with DATABASE_URL=postgresql://… records into PostgreSQL and publishes every result to Mosquitto',
    async () => {
      const url = await freshPostgres('station_demo');
      const broker = await startMosquitto();
      const mqtt = await import('mqtt');
      const sub = await mqtt.default.connectAsync(broker.url);
      const seen: number[] = [];
      sub.on('message', (topic, payload) => {
        if (topic.endsWith('/inspection')) seen.push(JSON.parse(payload.toString()).partSeq);
      });
      await sub.subscribeAsync('demo-site/demo-area/demo-line/demo-1/#', { qos: 1 });
      const r = await station(['demo', '--duration', '8', '--json', '--port', '0', '--rate', '10', '--data', tmpDir(), '--mqtt', broker.url], {
        env: { DATABASE_URL: url },
        timeoutMs: 90_000,
      });
      expect(r.code, r.stderr.slice(-1500)).toBe(0);
      const summary = JSON.parse(r.lines[r.lines.length - 1]);
      expect(summary.recorded).toBe(summary.parts);
      const pg = await import('pg');
      const c = new pg.default.Client({ connectionString: url });
      await c.connect();
      const n = (await c.query('SELECT count(*)::int AS n FROM "Inspection"')).rows[0].n;
      await c.end();
      expect(n).toBe(summary.parts);
      await new Promise((res) => setTimeout(res, 500));
      expect(new Set(seen).size).toBe(summary.parts);
      await sub.endAsync();
      broker.stop();
    },
  );

  it('replay prints one JSON line per image and a summary', async () => {
    const dir = tmpDir();
    // The evaluation layout: good/ and defect/<class>/ carry the ground truth.
    for (const [rate, n] of [
      [1, 4],
      [0, 2],
    ] as const) {
      const gen = new PartGenerator({ seed: 21, defectRate: rate });
      for (let i = 0; i < n; i++) {
        const p = gen.part(i);
        const sub = p.truth.defective ? path.join(dir, 'defect', p.truth.defects[0].class) : path.join(dir, 'good');
        mkdirSync(sub, { recursive: true });
        await sharp(p.image.data, { raw: { width: 512, height: 384, channels: 1 } })
          .png()
          .toFile(path.join(sub, `part${rate}-${i}.png`));
      }
    }
    writeFileSync(path.join(dir, 'zz-broken.jpg'), 'broken');
    const r = await station(['replay', dir, '--json']);
    expect(r.code).toBe(0);
    const rows = r.lines.slice(0, -1).map((l) => JSON.parse(l));
    expect(rows).toHaveLength(7);
    for (const row of rows)
      expect(row).toEqual(
        expect.objectContaining({
          file: expect.any(String),
          verdict: expect.stringMatching(/^(pass|fail|uninspected)$/),
          defects: expect.any(Array),
          latencyMs: expect.any(Number),
        }),
      );
    expect(rows.find((x) => x.file === 'zz-broken.jpg')).toMatchObject({ verdict: 'uninspected', errorCode: 'STN_ERR_IMAGE_CORRUPT' });
    const failed = rows.find((x) => x.verdict === 'fail');
    expect(failed.defects[0]).toEqual({ class: expect.any(String), score: expect.any(Number), box: expect.any(Array), area: expect.any(Number) });
    expect(failed.reasons.length).toBeGreaterThan(0);
    expect(rows.find((x) => x.verdict === 'pass').reasons).toEqual([]);
    expect(JSON.parse(r.lines[r.lines.length - 1])).toMatchObject({ images: 7, uninspected: 1, defective: 4, good: 2, recall: 1, falseRejectRate: 0 });
  });

  it('replay runs on the offline line: no database driver is even loaded (a loader hook refuses them), nothing written', async () => {
    const dir = tmpDir();
    const gen = new PartGenerator({ seed: 4, defectRate: 0.5 });
    for (let i = 0; i < 3; i++)
      await sharp(gen.part(i).image.data, { raw: { width: 512, height: 384, channels: 1 } })
        .png()
        .toFile(path.join(dir, `p${i}.png`));
    const work = tmpDir();
    const tmp = tmpDir();
    const r = await station(['replay', dir], {
      cwd: work,
      env: { DATABASE_URL: 'postgresql://127.0.0.1:1/none', TMPDIR: tmp, STATION_DENY_MODULES: 'better-sqlite3,@prisma/client,pg' },
      nodeArgs: ['--import', path.join(ROOT, 'test', 'helpers', 'deny-ort.mjs')],
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.lines.at(-1)!)).toMatchObject({ images: 3 });
    expect(readdirSync(work)).toEqual([]);
    // No temporary station folder (database, spool, images) either; other libraries' scratch files may appear.
    expect(readdirSync(tmp).filter((f) => f.startsWith('station-'))).toEqual([]);
  });

  it('run refuses an invalid configuration with its key path and exit code 2', async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'station.yaml');
    writeFileSync(f, 'station:\n  id: s1\n  colour: blue\nsources: []\nrecipes: {}\n');
    const r = await station(['run', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('STN_ERR_CONFIG_INVALID');
    expect(r.stderr).toMatch(/station \(line 3\): unknown key "colour"/);
    expect(r.stderr).toMatch(/sources.*fewer|sources.*minimum|sources/i);
  });

  it('db migrate applies the migrations to DATABASE_URL, then finds nothing to do', async () => {
    const dir = tmpDir();
    const env = { DATABASE_URL: `file:${path.join(dir, 'x.db')}` };
    const first = await station(['db', 'migrate'], { env });
    const committed = readdirSync(path.join(ROOT, 'prisma', 'migrations'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    expect(JSON.parse(first.lines.at(-1)!).applied).toEqual(committed);
    const second = await station(['db', 'migrate'], { env });
    expect(JSON.parse(second.lines.at(-1)!)).toEqual({ applied: [] });
  });
});

describe('commands as modules', () => {
  it('db migrate never loads onnxruntime-node (a loader hook that refuses it is in place)', async () => {
    const dir = tmpDir();
    const r = await station(['db', 'migrate'], {
      env: { DATABASE_URL: `file:${path.join(dir, 'm.db')}` },
      nodeArgs: ['--import', path.join(ROOT, 'test', 'helpers', 'deny-ort.mjs')],
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.lines.at(-1)!).applied.length).toBeGreaterThan(0);
    expect(r.stderr).toContain(`database file:${path.join(dir, 'm.db')} (from DATABASE_URL)`);
  });

  it('the loader hook does refuse onnxruntime-node: replay under it fails', async () => {
    const r = await station(['replay', tmpDir()], { nodeArgs: ['--import', path.join(ROOT, 'test', 'helpers', 'deny-ort.mjs')] });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('onnxruntime-node was loaded');
  });

  it("the demo's help says it publishes to MQTT only when asked; synth's states its default defect rate", async () => {
    const demo = await station(['demo', '--help'], { env: { MQTT_URL: '' } });
    expect(demo.stdout.replace(/\s+/g, ' ')).toContain('default: MQTT_URL when set, else no publishing');
    const synth = await station(['synth', '--help']);
    expect(synth.stdout).toMatch(/--defect-rate <p>\s+fraction of defective parts \(default: 0\.5\)/);
  });

  it('importing the command modules runs nothing: no output, no parsing, the program lists every command', async () => {
    const { buildProgram } = await import('../src/cli/index.js');
    const names = buildProgram().commands.map((c) => c.name());
    expect(names).toEqual(expect.arrayContaining(['demo', 'run', 'replay', 'eval', 'synth', 'probe', 'bench', 'whatif', 'plc-sim', 'pki', 'user', 'db']));
  });
});

/** Where bin/station looks for jemalloc (the same list). */
const JEMALLOC = [
  '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2',
  '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2',
  '/usr/lib64/libjemalloc.so.2',
  '/usr/lib/libjemalloc.so.2',
  '/usr/local/lib/libjemalloc.so.2',
];

describe('npm start', () => {
  /** `npm start` runs bin/station (node on bin/station.js), which runs dist/: compiled from the sources being tested when older than them. */
  function buildDistIfStale() {
    const built = path.join(ROOT, 'dist', 'cli', 'commands', 'demo.js');
    const newest = Math.max(
      ...(readdirSync(path.join(ROOT, 'src'), { recursive: true }) as string[])
        .filter((f) => f.endsWith('.ts'))
        .map((f) => statSync(path.join(ROOT, 'src', f)).mtimeMs),
    );
    if (existsSync(built) && statSync(built).mtimeMs >= newest) return;
    // tsc emits even when some file under edit does not type-check; the demo only needs its modules.
    spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT });
  }

  it("stops with npm: SIGTERM to npm's process ends the station within 10 s", async () => {
    buildDistIfStale();
    const data = tmpDir();
    const npm = spawn('npm', ['start', '--', '--duration', '60', '--port', '0', '--rate', '5', '--data', data], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'warn', MQTT_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    npm.stderr.on('data', (d) => (err += d));
    const stations = () =>
      spawnSync('ps', ['-o', 'pid=,args=', '-e'], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter((l) => l.includes('station.js demo') && l.includes(data) && !l.includes(' sh -c '));
    try {
      // Running: the demo's live line counts parts.
      const until = Date.now() + 60_000;
      while (!/parts [1-9]/.test(err) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      expect(err).toMatch(/parts [1-9]/);
      expect(stations()).toHaveLength(1);
      // bin/station preloads jemalloc where it is installed (issue #18: glibc's allocator let native memory grow)
      const maps = readFileSync(`/proc/${stations()[0].trim().split(/\s+/)[0]}/maps`, 'utf8');
      expect(maps.includes('libjemalloc.so')).toBe(JEMALLOC.some((f) => existsSync(f)));
      npm.kill('SIGTERM');
      const gone = Date.now() + 10_000;
      while (stations().length && Date.now() < gone) await new Promise((r) => setTimeout(r, 200));
      expect(stations(), err.slice(-1000)).toEqual([]);
    } finally {
      for (const l of stations()) process.kill(Number(l.trim().split(/\s+/)[0]), 'SIGKILL');
      npm.kill('SIGKILL');
    }
  });

  it('Ctrl-C (SIGINT to the whole foreground group: npm forwards it, so the station gets it twice) drains and prints the summary (first-hour finding: it was killed outright)', async () => {
    buildDistIfStale();
    const data = tmpDir();
    const npm = spawn('npm', ['start', '--', '--duration', '60', '--port', '0', '--rate', '5', '--data', data], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'warn', MQTT_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, as a terminal's foreground job
    });
    let out = '';
    let err = '';
    npm.stdout.on('data', (d) => (out += d));
    npm.stderr.on('data', (d) => (err += d));
    const closed = new Promise<void>((resolve) => npm.on('close', () => resolve()));
    try {
      const until = Date.now() + 60_000;
      while (!/parts [1-9]/.test(err) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      expect(err).toMatch(/parts [1-9]/);
      process.kill(-npm.pid!, 'SIGINT');
      await Promise.race([closed, new Promise((r) => setTimeout(r, 20_000))]);
      const last = out.trim().split('\n').pop() ?? '';
      expect(JSON.parse(last), err.slice(-1000)).toMatchObject({ parts: expect.any(Number), plc: expect.any(Object) });
    } finally {
      try {
        process.kill(-npm.pid!, 'SIGKILL');
      } catch {
        /* the group is gone */
      }
    }
  });
});

describe('started by npm, the station follows its parent', () => {
  it('stops by itself when the process that started it is gone (npm killed without passing the signal on)', async () => {
    const data = tmpDir();
    // As npm runs a script: a shell in between, npm_lifecycle_event set.
    const cmd = `${JSON.stringify(process.execPath)} --import ${JSON.stringify(TSX)} ${JSON.stringify(path.join(ROOT, 'src/cli/index.ts'))} demo --duration 60 --port 0 --rate 5 --data ${JSON.stringify(data)}; true`;
    const sh = spawn('sh', ['-c', cmd], {
      cwd: ROOT,
      env: { ...process.env, npm_lifecycle_event: 'start', LOG_LEVEL: 'warn', MQTT_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    sh.stderr.on('data', (d) => (err += d));
    const stations = () =>
      spawnSync('ps', ['-o', 'pid=,args=', '-e'], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter((l) => l.includes(' demo ') && l.includes(data) && !l.includes('sh -c'));
    try {
      const until = Date.now() + 60_000;
      while (!/parts [1-9]/.test(err) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      expect(stations()).toHaveLength(1);
      sh.kill('SIGKILL');
      const gone = Date.now() + 10_000;
      while (stations().length && Date.now() < gone) await new Promise((r) => setTimeout(r, 200));
      expect(stations(), err.slice(-1000)).toEqual([]);
    } finally {
      for (const l of stations()) process.kill(Number(l.trim().split(/\s+/)[0]), 'SIGKILL');
    }
  });
});

describe('station user add', () => {
  /** A station file whose data folder is `data` beside it. */
  function stationFile(dir: string): string {
    const cfg = readFileSync(path.join(ROOT, 'fixtures', 'station.yaml'), 'utf8')
      .replace('dataDir: ../data/example', `dataDir: ${path.join(dir, 'data')}`)
      .replace('model: ../models/plate-defects.onnx', `model: ${path.join(ROOT, 'models', 'plate-defects.onnx')}`);
    mkdirSync(path.join(dir, 'frames'), { recursive: true });
    writeFileSync(path.join(dir, 'station.yaml'), cfg);
    return path.join(dir, 'station.yaml');
  }
  const users = (file: string) => {
    const db = new Database(file, { readonly: true });
    const rows = db.prepare('select username, role from User').all();
    db.close();
    return rows;
  };

  it("with --config writes to the database of that station file's storage and says which one", async () => {
    const dir = tmpDir();
    const r = await station(['user', 'add', 'alice@plant-1', '--role', 'quality', '--config', stationFile(dir)], {
      cwd: dir,
      env: { STATION_PASSWORD: 'alice-password-1', DATABASE_URL: '' },
    });
    expect(r.code, r.stderr).toBe(0);
    const db = path.join(dir, 'data', 'station.db');
    expect(JSON.parse(r.lines.at(-1)!)).toEqual({ user: 'alice@plant-1', role: 'quality', database: `file:${db}` });
    expect(r.stderr).toContain(`added to file:${db}`);
    expect(users(db)).toEqual([{ username: 'alice@plant-1', role: 'quality' }]);
  });

  it('with --config follows the station: DATABASE_URL, which the station would use, wins and is named', async () => {
    const dir = tmpDir();
    const url = `file:${path.join(dir, 'elsewhere.db')}`;
    const r = await station(['user', 'add', 'carol', '--role', 'admin', '--config', stationFile(dir)], {
      cwd: dir,
      env: { STATION_PASSWORD: 'carol-password-1', DATABASE_URL: url },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`added to ${url} (from DATABASE_URL)`);
    expect(users(path.join(dir, 'elsewhere.db'))).toEqual([{ username: 'carol', role: 'admin' }]);
    expect(existsSync(path.join(dir, 'data', 'station.db'))).toBe(false);
  });

  it('with --data writes to DIR/station.db', async () => {
    const dir = tmpDir();
    const r = await station(['user', 'add', 'bob', '--role', 'viewer', '--data', path.join(dir, 'd')], {
      cwd: dir,
      env: { STATION_PASSWORD: 'bob-password-1', DATABASE_URL: '' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(users(path.join(dir, 'd', 'station.db'))).toEqual([{ username: 'bob', role: 'viewer' }]);
  });

  it("refuses a name outside the API's pattern with exit code 2 and writes nothing", async () => {
    const dir = tmpDir();
    const r = await station(['user', 'add', 'bad name!', '--role', 'viewer', '--data', dir], { env: { STATION_PASSWORD: 'x-password-1', DATABASE_URL: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('STN_ERR_HTTP_BAD_REQUEST');
    expect(existsSync(path.join(dir, 'station.db'))).toBe(false);
  });

  it('is listed in the help with --config and --data', async () => {
    const top = await station(['--help']);
    expect(top.stdout).toMatch(/user\b/);
    const r = await station(['user', 'add', '--help']);
    expect(r.stdout).toContain('--config <file>');
    expect(r.stdout).toContain('--data <dir>');
    expect(r.stdout).toContain('STATION_PASSWORD');
  });
});

describe('station run', () => {
  it('a source that fails while running, leaving no live source, stops the station with exit code 2 and the code, never 0', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'station.yaml');
    // The folder exists (the loader accepts it); its fixture list does not, which the source finds when it starts.
    writeFileSync(
      file,
      [
        'station: { id: dead-source }',
        'http: { port: 0 }',
        `storage: { dataDir: ${JSON.stringify(path.join(dir, 'data'))} }`,
        `sources: [{ name: folder, uri: ${JSON.stringify(`dir:${dir}?list=${path.join(dir, 'missing.txt')}`)}, recipe: plate }]`,
        'recipes:',
        `  plate: { model: ${JSON.stringify(path.join(ROOT, 'models', 'plate-defects.onnx'))}, thresholds: { default: { minScore: 0.5 } } }`,
      ].join('\n'),
    );
    const r = await station(['run', '--config', file], { env: { LOG_LEVEL: 'info' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('frame source failed');
    expect(r.stderr).toContain('station stopped: no live frame source left');
    expect(r.stderr).toMatch(/station: STN_ERR_SOURCE_FAILED: frame source folder failed/);
  });

  it('runs the example configuration over a folder, records every part and stops when the folder is done', async () => {
    const dir = tmpDir();
    const frames = path.join(dir, 'frames');
    const synth = await station(['synth', frames, '--count', '5', '--seed', '3']);
    expect(synth.code).toBe(0);
    const cfg = readFileSync(path.join(ROOT, 'fixtures', 'station.yaml'), 'utf8')
      .replace('dataDir: ../data/example', `dataDir: ${path.join(dir, 'data')}`)
      .replace('model: ../models/plate-defects.onnx', `model: ${path.join(ROOT, 'models', 'plate-defects.onnx')}`)
      .replace('port: 8080', 'port: 0');
    writeFileSync(path.join(dir, 'station.yaml'), cfg);
    const r = await station(['run', '--config', path.join(dir, 'station.yaml')]);
    expect(r.code).toBe(0);
    const db = new Database(path.join(dir, 'data', 'station.db'), { readonly: true });
    const rows = db.prepare('select verdict, source from Inspection').all() as { verdict: string; source: string }[];
    db.close();
    expect(rows).toHaveLength(5);
    expect(rows.every((x) => x.source === 'folder' && x.verdict !== 'uninspected')).toBe(true);
  });
});
