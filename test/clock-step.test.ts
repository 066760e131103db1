import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SHIPPED_MODEL } from '../src/paths.js';
import { station as cli } from './helpers/cli.js';
import { lineSimulator, PLC_PASSWORD } from './helpers/plc.js';
import { tmpDir } from './helpers/tmp.js';

/** Debian's libfaketime: steps the wall clock of one process while it runs (`apt-get install libfaketime`; .ci/run does). */
const FAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const haveFaketime = existsSync(FAKETIME);
/** Images older than 30 minutes go: an hour forward must not make seconds-old parts look that old. */
const RETENTION_DAYS = 30 / (24 * 60);
if (!haveFaketime) console.warn(`clock-step test skipped: ${FAKETIME} is missing (apt-get install libfaketime)`);

describe.skipIf(!haveFaketime)('a wall clock stepped by an hour while the line runs', () => {
  it('makes no part late, loses no verdict, restarts no worker, deletes no image early and keeps every record in its station sequence, forwards and backwards', {
    timeout: 120_000,
  }, async () => {
    const dir = tmpDir('clock-step-', true);
    const sim = await lineSimulator(dir, {}, { dataDir: path.join(dir, 'data'), id: 'clock-1' });
    const file = path.join(dir, 'station.yaml');
    writeFileSync(
      file,
      `station: { id: clock-1 }
http: { port: 0 }
storage: { dataDir: ${JSON.stringify(path.join(dir, 'data'))}, retention: { maxAgeDays: ${RETENTION_DAYS}, intervalS: 0.5 } }
plc: { endpoint: ${sim.endpointUrl}, user: { username: station, passwordEnv: CLOCK_PLC_PASSWORD } }
sources:
  - { name: cam, uri: "synthetic:?seed=42&defectRate=0.3&trigger=plc", recipe: plate }
recipes:
  plate: { model: ${JSON.stringify(SHIPPED_MODEL)}, keepGood: 1, thresholds: { default: { minScore: 0.5, maxCount: 0 } } }
`,
    );
    // The station's own wall clock, stepped from this file while it runs; its monotonic clock is left alone, as NTP does.
    const clock = path.join(dir, 'faketime');
    writeFileSync(clock, '+0\n');
    const env = {
      CLOCK_PLC_PASSWORD: PLC_PASSWORD,
      LOG_LEVEL: 'info',
      LD_PRELOAD: FAKETIME,
      FAKETIME_TIMESTAMP_FILE: clock,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    };
    let ready = false;
    let steppedAt = 0;
    let stepWall = 0;
    let stderr = '';
    const run = cli(['run', '--config', file], {
      env,
      timeoutMs: 90_000,
      onStderr: (s) => {
        stderr += s;
        if (/"plc":"ready"/.test(s)) ready = true;
      },
      onSpawn: (child) => {
        void (async () => {
          while (!ready) await sleep(50);
          sim.startConveyor();
          await sleep(3000);
          const before = sim.received.length;
          stepWall = Date.now();
          writeFileSync(clock, '+1h\n'); // an hour forward: every part before looks an hour older
          steppedAt = before;
          await sleep(3000);
          writeFileSync(clock, '+0\n'); // and an hour back
          await sleep(3000);
          await sim.drain();
          child.kill('SIGTERM');
        })();
      },
    });
    const done = await run;
    expect(done.code).toBe(0);
    expect(steppedAt).toBeGreaterThan(10);

    // The line worker's watchdog counts silence on the monotonic clock: an hour forward is no silence.
    expect(stderr).not.toMatch(/no heartbeat from the line worker/);
    // No verdict reached the PLC after its part had passed the gate.
    expect(sim.counters.late).toBe(0);
    expect(sim.received.length).toBeGreaterThan(60);
    // The station kept node-opcua's keys on the monotonic clock (the shim found what it patches).
    expect(stderr).not.toMatch(/node-opcua changed its token stack/);
    // From a second before the steps to the last part the PLC made, every part got its verdict in
    // time. The first parts after start-up are left out: on this shared 2-core machine one of them
    // now and then misses its 400 ms (the machine's load, not the clock); each is a recorded
    // fail-safe reject, checked below.
    const got = new Set(sim.received.map((r) => r.seq));
    const lastSeq = sim.counters.parts;
    const all = Array.from({ length: lastSeq }, (_, i) => i + 1);
    const watched = all.filter((seq) => seq >= steppedAt - 10);
    expect(watched.length).toBeGreaterThan(50);
    expect(watched.filter((seq) => !got.has(seq))).toEqual([]);
    expect(sim.counters.missing).toBe(all.filter((seq) => !got.has(seq)).length);
    const db = new Database(path.join(dir, 'data', 'station.db'), { readonly: true });
    try {
      const rows = db
        .prepare(
          "SELECT partSeq, errorCode, capturedAt, (SELECT count(*) FROM Image WHERE inspectionId = i.id) AS images FROM Inspection i WHERE source = 'cam' ORDER BY id",
        )
        .all() as { partSeq: number; errorCode: string | null; capturedAt: string; images: number }[];
      // Every part has its record; one without its verdict at the PLC is a recorded fail-safe reject.
      const recorded = new Set(rows.map((r) => Number(r.partSeq)));
      expect(all.filter((seq) => !recorded.has(seq))).toEqual([]);
      // Too late to decide, or decided and not in the PLC in time (late, or the link not ready).
      for (const r of rows.filter((r) => !got.has(Number(r.partSeq))))
        expect(['STN_ERR_LINE_DEADLINE', 'STN_ERR_PLC_LOST', 'STN_ERR_PLC_WRITE']).toContain(r.errorCode);
      expect(rows.filter((r) => r.errorCode !== null && Number(r.partSeq) >= steppedAt - 10)).toEqual([]);
      // Retention ran every half second with a 30-minute limit through the hour forward: the parts
      // before the step were seconds old, and kept their images (every part keeps them here).
      const before = rows.filter((r) => Date.parse(r.capturedAt) < stepWall - 200);
      expect(before.length).toBeGreaterThan(10);
      expect(before.filter((r) => r.images === 0)).toEqual([]);
      // The station's sequence: records in the order of their parts, whatever the wall clock said.
      const seqs = rows.map((r) => Number(r.partSeq));
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      // The records carry the (stepped) wall clock of their capture: an hour forward, then back.
      const hours = new Set(rows.map((r) => r.capturedAt.slice(0, 13)));
      expect(hours.size).toBeGreaterThanOrEqual(2);
    } finally {
      db.close();
    }
  });
});
