import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { PartGenerator } from '../src/capture/index.js';
import { plateRecipe, validateConfig } from '../src/config/index.js';
import { startStation } from '../src/main.js';
import { SHIPPED_MODEL } from '../src/paths.js';
import type { InspectionResult } from '../src/line/index.js';
import { parseSpoolLine, refusedForGood, spoolLine } from '../src/store/recorder.js';
import { startTestStation } from './helpers/station.js';
import { tmpDir } from './helpers/tmp.js';

/** Three real results of the line, as the recorder would have spooled them. */
async function realResults(): Promise<InspectionResult[]> {
  const dir = tmpDir('spool-frames-');
  const gen = new PartGenerator({ seed: 5, defectRate: 0.5 });
  for (const i of [2, 8, 4]) {
    const p = gen.part(i).image as { data: Uint8Array };
    await sharp(Buffer.from(p.data), { raw: { width: 512, height: 384, channels: 1 } })
      .png()
      .toFile(path.join(dir, `part-${i}.png`));
  }
  const results: InspectionResult[] = [];
  const s = await startTestStation({ sources: [{ name: 'cam', uri: `dir:${dir}` }], onResult: (r) => results.push(r) });
  await s.line.whenIdle();
  await s.stop();
  return results.map(({ image: _i, masks: _m, anomalyMap: _a, ...rest }) => rest as InspectionResult);
}

describe('the spool after a power cut', () => {
  it('sets aside only rows whose data is wrong, never rows a full or busy database refused (SQLite full disk is P2039)', () => {
    expect(refusedForGood({ name: 'PrismaClientValidationError' })).toBe(true);
    expect(refusedForGood({ code: 'P2011' })).toBe(true);
    for (const code of ['P2039', 'P2024', 'P2034', 'P1001', 'P1008', 'P2002', undefined]) expect(refusedForGood({ code }), String(code)).toBe(false);
  });

  it('checks every line: a torn one and a damaged one fail, an intact one and one of an older release (no checksum) are read', () => {
    const entry = { r: { seq: 1, source: 'cam' } as never, images: [] };
    const line = spoolLine(entry).trimEnd();
    expect(parseSpoolLine(line)).toEqual(entry);
    expect(parseSpoolLine(line.slice(0, -5))).toBeNull();
    expect(parseSpoolLine(line.replace('"cam"', '"cax"'))).toBeNull();
    expect(parseSpoolLine(JSON.stringify(entry))).toEqual(entry);
    expect(parseSpoolLine('\u0000\u0000garbage')).toBeNull();
  });

  it('replays every good line of a spool with a garbage line in the middle, a row no database takes and a torn last line, quarantines the three, and the station is ready', async () => {
    const [a, b, c] = await realResults();
    const data = tmpDir('spool-station-');
    mkdirSync(path.join(data, 'spool'), { recursive: true });
    const torn = spoolLine({ r: { ...a, seq: 99 }, images: [] });
    writeFileSync(
      path.join(data, 'spool', 'spool-1700000000000-1.jsonl'),
      spoolLine({ r: a, images: [] }) +
        'x\u0000\u0000{"r": not json at all\n' +
        spoolLine({ r: b, images: [] }) +
        // Well formed, checksum right, but a row no database will take (review finding: it held every later record in the spool).
        spoolLine({ r: { ...b, seq: 77, source: null as never }, images: [] }) +
        `${JSON.stringify({ r: c, images: [] })}\n` + // spooled by a release before checksums
        torn.slice(0, Math.floor(torn.length / 2)), // power lost in the middle of an append
    );
    const config = validateConfig(
      {
        station: { id: 'test-1' },
        http: { port: 0 },
        storage: { dataDir: data },
        sources: [{ name: 'push', uri: 'http:', recipe: 'plate' }],
        recipes: { plate: plateRecipe(SHIPPED_MODEL) },
      },
      data,
    );
    const s = await startStation({ config, log: pino({ level: 'silent' }) });
    try {
      expect(s.recorder.counters).toMatchObject({ replayed: 3, quarantined: 3 });
      expect(s.recorder.spoolDepth).toBe(0);
      expect(s.recorder.databaseDown).toBe(false);
      const rows = (await s.repo.listInspections({ limit: 10 })).items;
      expect(rows.map((r) => r.partSeq).sort()).toEqual([a.seq, b.seq, c.seq].sort());
      const ready = await s.api!.inject({ method: 'GET', url: '/api/ready' });
      expect(ready.statusCode).toBe(200);
      // Ready, but saying what was set aside.
      const health = (await s.api!.inject({ method: 'GET', url: '/api/health' })).json();
      expect(health.problems.join(' ')).toMatch(/3 spool lines could not be replayed and were set aside/);
      const quarantine = readdirSync(path.join(data, 'spool')).filter((f) => f.endsWith('.quarantine'));
      expect(quarantine).toHaveLength(1);
      expect(
        readFileSync(path.join(data, 'spool', quarantine[0]), 'utf8')
          .trimEnd()
          .split('\n'),
      ).toHaveLength(3);
      expect(readdirSync(path.join(data, 'spool')).filter((f) => f.endsWith('.jsonl') || f.endsWith('.replaying'))).toEqual([]);
    } finally {
      await s.stop();
    }
  });
});
