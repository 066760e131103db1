/**
 * Many stations, one database: three station processes (`station run`) against one PostgreSQL
 * at once, each with its own line and camera. No record may be lost or doubled, and each
 * station's part sequence stays whole.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { SHIPPED_MODEL } from '../src/paths.js';
import { station } from './helpers/cli.js';
import { freshPostgres, pgAvailable } from './helpers/pg.js';
import { tmpDir } from './helpers/tmp.js';

const PARTS = 40;

describe.skipIf(!pgAvailable)('three stations, one PostgreSQL', () => {
  it('records every part of every station once, with per-station sequences intact, and the API filters by station and line', async () => {
    const url = await freshPostgres('station_three');
    const dir = tmpDir();
    const stations = [
      { id: 'press-1', line: 'line-1', seed: 1 },
      { id: 'press-2', line: 'line-1', seed: 2 },
      { id: 'weld-1', line: 'line-2', seed: 3 },
    ];
    const runs = await Promise.all(
      stations.map((s) => {
        const file = path.join(dir, `${s.id}.yaml`);
        writeFileSync(
          file,
          [
            `station: { id: ${s.id}, line: ${s.line}, site: plant-1 }`,
            'http: { port: 0 }',
            `storage: { dataDir: ./data-${s.id} }`,
            'line: { deadlineMs: 600000 }',
            `sources: [{ name: cam, uri: "synthetic:?seed=${s.seed}&defectRate=0.3&count=${PARTS}&rate=0", recipe: plate }]`,
            `recipes:\n  plate:\n    model: ${SHIPPED_MODEL}\n    keepGood: 0.1\n    thresholds: { default: { minScore: 0.5 } }`,
            '',
          ].join('\n'),
        );
        return station(['run', '--config', file], { env: { DATABASE_URL: url, LOG_LEVEL: 'info' }, timeoutMs: 240_000 });
      }),
    );
    for (const r of runs) expect(r.code, r.stderr.slice(-2000)).toBe(0);

    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const per = (
        await c.query(
          'SELECT "stationId", count(*)::int AS n, count(DISTINCT "partSeq")::int AS seqs, min("partSeq")::int AS lo, max("partSeq")::int AS hi FROM "Inspection" GROUP BY 1 ORDER BY 1',
        )
      ).rows;
      expect(per).toEqual(
        stations.map((s) => ({ stationId: s.id, n: PARTS, seqs: PARTS, lo: 1, hi: PARTS })).sort((a, b) => a.stationId.localeCompare(b.stationId)),
      );
      // One recipe, one version, shared by the three: the same definition raced at start-up.
      expect((await c.query('SELECT count(*)::int AS n FROM "RecipeVersion"')).rows[0].n).toBe(1);
      expect((await c.query('SELECT count(*)::int AS n FROM "Model"')).rows[0].n).toBe(1);
      const lines = (await c.query('SELECT id, line FROM "Station" ORDER BY id')).rows;
      expect(lines).toEqual([
        { id: 'press-1', line: 'line-1' },
        { id: 'press-2', line: 'line-1' },
        { id: 'weld-1', line: 'line-2' },
      ]);
    } finally {
      await c.end();
    }
    // Each process says so itself on the way out: every part it decided is recorded.
    for (const r of runs) {
      const stopped = r.stderr
        .split('\n')
        .filter((l) => l.includes('"station stopped"'))
        .map((l) => JSON.parse(l))
        .at(-1);
      expect(stopped.line.parts).toBe(PARTS);
      expect(stopped.recorder).toMatchObject({ recorded: PARTS, writeErrors: 0, dropped: 0, spooled: 0 });
    }

    // A fourth station (this process) reads the plant's records: by station, by line.
    const { startTestStation, userWithRole } = await import('./helpers/station.js');
    const s = await startTestStation({ sources: [{ name: 'push', uri: 'http:' }], adminPassword: 'multi-admin', databaseUrl: url });
    try {
      const viewer = await userWithRole(s, 'viewer');
      const get = async (u: string) => (await s.api!.inject({ method: 'GET', url: u, headers: viewer })).json();
      expect((await get('/api/stations')).items.map((x: { id: string }) => x.id)).toEqual(['press-1', 'press-2', 'test-1', 'weld-1']);
      const from = new Date(Date.now() - 3600_000).toISOString();
      const all = (await get(`/api/stats/stations?from=${from}`)).stations;
      expect(all.map((x: { station: string; parts: number }) => [x.station, x.parts])).toEqual([
        ['press-1', PARTS],
        ['press-2', PARTS],
        ['weld-1', PARTS],
      ]);
      expect((await get(`/api/stats/stations?from=${from}&line=line-1`)).stations).toHaveLength(2);
      expect((await get('/api/inspections?station=weld-1&limit=500')).items).toHaveLength(PARTS);
      expect((await get('/api/inspections?line=line-1&limit=500')).items).toHaveLength(2 * PARTS);
      const w = await s.api!.inject({
        method: 'POST',
        url: '/api/whatif',
        headers: viewer,
        payload: { recipe: 'plate', line: 'line-2', thresholds: { default: { minScore: 0.5 } } },
      });
      expect(w.json()).toMatchObject({ inspections: PARTS, flips: 0 });
    } finally {
      await s.stop();
    }
  }, 300_000);
});
