import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/capture/random.js';
import { SHIPPED_MODEL } from '../src/paths.js';
import { station as cli } from './helpers/cli.js';
import { lineSimulator, PLC_PASSWORD } from './helpers/plc.js';
import { tmpDir } from './helpers/tmp.js';

/**
 * Power cuts, for real: `station run` recording a PLC-triggered line at 10 parts/s with every
 * image kept, SIGKILLed at seeded random moments (some right after a configuration reload,
 * retention sweeping every second), restarted each time. What must hold afterwards: every part
 * the PLC received a verdict for has exactly one record, the database is intact, every image
 * the database names exists and every image file has its row.
 */
const KILLS = Number(process.env.POWER_CUT_KILLS ?? 30);
const SEED = Number(process.env.POWER_CUT_SEED ?? 20261201);

function configFile(dir: string, endpoint: string): string {
  const file = path.join(dir, 'station.yaml');
  writeFileSync(
    file,
    `station: { id: power-1 }
http: { port: 0 }
storage:
  dataDir: ${JSON.stringify(path.join(dir, 'data'))}
  retention: { intervalS: 1, maxAgeDays: 0.0001 }
plc:
  endpoint: ${endpoint}
  user: { username: station, passwordEnv: POWER_PLC_PASSWORD }
  reconnectMinMs: 100
  reconnectMaxMs: 300
sources:
  - { name: cam, uri: "synthetic:?seed=42&defectRate=0.3&trigger=plc", recipe: plate }
recipes:
  plate:
    model: ${JSON.stringify(SHIPPED_MODEL)}
    thresholds: { default: { minScore: 0.5, maxCount: 0 } }
    keepGood: 1
`,
  );
  return file;
}

/** Every file below `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

describe('power cuts while recording', () => {
  it(
    `SIGKILLed ${KILLS} times at random moments, the station loses no record, duplicates none, and leaves no orphan`,
    async () => {
      const dir = tmpDir('power-cut-', true);
      const sim = await lineSimulator(dir, {}, { dataDir: path.join(dir, 'data'), id: 'power-1' });
      const file = configFile(dir, sim.endpointUrl);
      sim.startConveyor();
      const rng = new Rng(SEED);
      const env = { POWER_PLC_PASSWORD: PLC_PASSWORD, LOG_LEVEL: 'info' };

      /** One life of the station: until killed (or, for the last, stopped gracefully once it has worked a while). */
      /** Each life's stderr (the station's log), kept to explain a failure. */
      const logs: string[] = [];
      const life = (k: number, last: boolean) =>
        new Promise<{ ready: boolean; readyz: number | null }>((resolve, reject) => {
          let ready = false;
          let url: string | null = null;
          let readyz: number | null = null;
          const when = 300 + rng.next() * 2500;
          const reload = rng.next() < 0.2;
          // A third of the lives end while still starting (migrations, the spool and journal replay).
          const early = rng.next() < 1 / 3 ? 500 + rng.next() * 3000 : null;
          cli(['run', '--config', file], {
            env,
            timeoutMs: 60_000,
            onStderr: (s) => {
              logs[k] = (logs[k] ?? '') + s;
              url ??= /"url":"(http:[^"]+)"/.exec(s)?.[1] ?? null;
              if (ready || !/"plc":"ready"/.test(s)) return;
              ready = true;
            },
            onSpawn: (child) => {
              const started = Date.now();
              if (early !== null && !last) {
                setTimeout(() => child.kill('SIGKILL'), early);
                return;
              }
              const tick = setInterval(async () => {
                if (!ready && Date.now() - started < 20_000) return;
                clearInterval(tick);
                if (last) {
                  await sleep(1500);
                  readyz = url ? ((await fetch(`${url}/api/ready`).catch(() => null))?.status ?? null) : null;
                  child.kill('SIGTERM');
                  return;
                }
                if (reload) {
                  await sleep(when * 0.8);
                  child.kill('SIGHUP');
                  await sleep(when * 0.2);
                } else await sleep(when);
                child.kill('SIGKILL');
              }, 20);
            },
          }).then(
            (run) => {
              if (last && run.code !== 0) reject(new Error(`the last run exited ${run.code}: ${run.stderr.slice(-2000)}`));
              resolve({ ready, readyz });
            },
            (err) => reject(new Error(`life ${k}: ${err}`)),
          );
        });

      for (let k = 0; k < KILLS; k++) await life(k, false);
      const final = await life(KILLS, true);
      await sim.drain();
      expect(final.readyz).toBe(200);

      const db = new Database(path.join(dir, 'data', 'station.db'), { readonly: true });
      try {
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
        const rows = db.prepare("SELECT partSeq, COUNT(*) AS n FROM Inspection WHERE source = 'cam' GROUP BY partSeq").all() as {
          partSeq: number;
          n: number;
        }[];
        const records = new Map(rows.map((r) => [Number(r.partSeq), r.n]));
        const received = [...new Set(sim.received.map((r) => r.seq))];
        expect(received.length).toBeGreaterThan(KILLS * 5);
        const lost = received.filter((seq) => !records.has(seq));
        const duplicated = [...records].filter(([, n]) => n > 1);
        expect({ lost: lost.length, duplicated: duplicated.length }).toEqual({ lost: 0, duplicated: 0 });

        const images = path.join(dir, 'data', 'images');
        const named = new Set((db.prepare('SELECT path FROM Image').all() as { path: string }[]).map((r) => r.path));
        const missing = [...named].filter((p) => !existsSync(path.join(images, p)));
        const orphans = filesUnder(images).filter((f) => !f.startsWith('.retention-pending') && !named.has(f));
        if (orphans.length) {
          // What the record of each orphan's part holds, and what the lives logged about it.
          const seqs = [...new Set(orphans.map((f) => Number(/-cam-(\d+)-/.exec(f)?.[1])))];
          const about = seqs.map((seq) => ({
            seq,
            plc: sim.received.filter((r) => r.seq === seq).length,
            records: db
              .prepare(
                'SELECT i.id, i.capturedAt, i.verdict, (SELECT COUNT(*) FROM Image m WHERE m.inspectionId = i.id) AS images FROM Inspection i WHERE partSeq = ?',
              )
              .all(seq),
          }));
          const lives = logs.map((l, k) => ({ k, l })).slice(-3);
          console.log(`orphans: ${JSON.stringify(about)}\n${lives.map(({ k, l }) => `life ${k}:\n${l.slice(-6000)}`).join('\n')}`);
        }
        expect({ missing: missing.length, orphans: orphans.slice(0, 5) }).toEqual({ missing: 0, orphans: [] });
        console.log(
          `power cuts: ${KILLS} kills, ${received.length} verdicts at the PLC, ${records.size} records, lost 0, duplicated 0, ${named.size} image files kept`,
        );
      } finally {
        db.close();
      }
    },
    60_000 + KILLS * 8000,
  );
});
