import { appendFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { PartGenerator } from '../src/capture/index.js';
import type { InspectionResult } from '../src/line/index.js';
import { startTestStation } from './helpers/station.js';
import { until } from './helpers/plc.js';
import { tmpDir } from './helpers/tmp.js';

const gen = new PartGenerator({ seed: 5, defectRate: 0.5 });
const jpegOf = (i: number) =>
  sharp(Buffer.from(gen.part(i).image.data as Uint8Array), { raw: { width: 512, height: 384, channels: 1 } })
    .jpeg({ quality: 92 })
    .toBuffer();

describe('dir: source as a hot folder (watch=1)', () => {
  it('reads the files already there, then each new file once, only after it is completely written', async () => {
    const dir = tmpDir('hot-folder-');
    writeFileSync(path.join(dir, 'a.jpg'), await jpegOf(2));
    writeFileSync(path.join(dir, 'b.jpg'), await jpegOf(8));
    const results: InspectionResult[] = [];
    const s = await startTestStation({ sources: [{ name: 'hot', uri: `dir:${dir}?watch=1&settleMs=300` }], onResult: (r) => results.push(r) });
    try {
      await until('the two files present at start', () => results.length === 2);
      expect(results.map((r) => r.file)).toEqual(['a.jpg', 'b.jpg']);

      // A writer copying a file in pieces, slower than the settle time would allow if it were not waited for.
      const slow = await jpegOf(8);
      const file = path.join(dir, 'c.jpg');
      writeFileSync(file, slow.subarray(0, 2000));
      for (let at = 2000; at < slow.length; at += 4000) {
        await sleep(100);
        appendFileSync(file, slow.subarray(at, Math.min(slow.length, at + 4000)));
      }
      // A file moved in whole (the usual way to drop into a hot folder).
      writeFileSync(path.join(dir, '.d.part'), await jpegOf(2));
      renameSync(path.join(dir, '.d.part'), path.join(dir, 'd.jpg'));
      await until('the two new files', () => results.length === 4, 20_000);
      const c = results.find((r) => r.file === 'c.jpg')!;
      // Read only once complete: decoded fine and judged like the same picture written at once.
      expect(c.errorCode).toBeUndefined();
      expect(c.verdict).toBe(results.find((r) => r.file === 'b.jpg')!.verdict);
      expect(results.find((r) => r.file === 'd.jpg')!.verdict).toBe(results.find((r) => r.file === 'a.jpg')!.verdict);

      // Rewriting a file already read does not make it a new part; a file removed and added again does.
      writeFileSync(path.join(dir, 'a.jpg'), await jpegOf(2));
      rmSync(path.join(dir, 'b.jpg'));
      await sleep(800);
      writeFileSync(path.join(dir, 'b.jpg'), await jpegOf(8));
      await until('b.jpg again', () => results.length === 5);
      await sleep(800);
      expect(results.map((r) => r.file).sort()).toEqual(['a.jpg', 'b.jpg', 'b.jpg', 'c.jpg', 'd.jpg']);
      expect(results[4].file).toBe('b.jpg');
      expect(results.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await s.stop();
    }
  });
});
