import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PartGenerator } from '../src/capture/index.js';
import { station as cli } from './helpers/cli.js';
import { type CorpusFile, damagedCorpus, decoderReportsDamage } from './helpers/damaged.js';
import { startTestStation } from './helpers/station.js';
import { tmpDir } from './helpers/tmp.js';

const IMAGE_CODES = ['STN_ERR_IMAGE_CORRUPT', 'STN_ERR_IMAGE_EMPTY', 'STN_ERR_IMAGE_TOO_LARGE', 'STN_ERR_IMAGE_FORMAT'];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('damaged images are uninspected and kept; valid edge cases keep their verdict', () => {
  let dir: string;
  let corpus: CorpusFile[];
  const damaged = new Set<string>();

  beforeAll(async () => {
    // A clearly defective plate (a scratch the model scores 0.92) and a good one, each as JPEG
    // and PNG; a part near its threshold could flip on a lossy re-encode (CMYK) and prove nothing.
    const gen = new PartGenerator({ seed: 5, defectRate: 0.5 });
    const [bad, good] = [8, 2];
    expect([gen.part(bad).truth.defective, gen.part(good).truth.defective]).toEqual([true, false]);
    corpus = await damagedCorpus(20261201, [bad, good]);
    dir = tmpDir('damaged-corpus-', true);
    for (const f of corpus) {
      writeFileSync(path.join(dir, f.name), f.data);
      if (await decoderReportsDamage(f.data)) damaged.add(f.name);
    }
    // The corpus is only worth something if the decoder does report most of the damage, and no valid file.
    expect(damaged.size).toBeGreaterThanOrEqual(40);
    for (const f of corpus) if (f.kind !== 'damaged') expect(damaged.has(f.name), `${f.name} is valid`).toBe(false);
    for (const must of ['empty.jpg', 'magic.jpg', 'magic.png', 'huge.png', 'huge.jpg', 'cut60.jpg', 'cut60-flip.jpg', 'cut30.png', 'marker0.jpg']) {
      expect(damaged.has(`p${bad}-${must}`), must).toBe(true);
    }
  });

  it('through replay: every file the decoder reports damaged is uninspected with an image code; every valid one gets its original verdict', async () => {
    const run = await cli(['replay', dir, '--json'], { timeoutMs: 120_000 });
    expect(run.code).toBe(0);
    const byFile = new Map<string, { verdict: string; errorCode?: string }>();
    for (const line of run.lines.slice(0, -1)) {
      const r = JSON.parse(line) as { file: string; verdict: string; errorCode?: string };
      byFile.set(path.basename(r.file), r);
    }
    expect(byFile.size).toBe(corpus.length);
    for (const f of corpus) {
      const r = byFile.get(f.name)!;
      if (damaged.has(f.name)) {
        expect(r.verdict, f.name).toBe('uninspected');
        expect(IMAGE_CODES, f.name).toContain(r.errorCode);
      } else if (f.kind !== 'damaged') {
        expect(r.verdict, `${f.name} against ${f.original}`).toBe(byFile.get(f.original)!.verdict);
      } else {
        // Damage the decoder cannot see still gets a verdict, never silence.
        expect(['pass', 'fail'], f.name).toContain(r.verdict);
      }
    }
    const originals = corpus.filter((f) => f.kind === 'original').map((f) => byFile.get(f.name)!.verdict);
    expect(new Set(originals)).toEqual(new Set(['pass', 'fail']));
  });

  it('through a running line: the record of every damaged part is uninspected and keeps the bytes as received', async () => {
    const s = await startTestStation({ sources: [{ name: 'folder', uri: `dir:${dir}` }] });
    try {
      await s.line.whenIdle();
      await s.recorder.flush();
      // A dir: source reads its files in name order, numbering them from 1.
      const names = corpus.map((f) => f.name).sort();
      const rows = (await s.repo.listInspections({ limit: 500 })).items;
      expect(rows.length).toBe(corpus.length);
      const verdictOf = new Map(rows.map((r) => [names[r.partSeq - 1], r]));
      for (const f of corpus) {
        const row = verdictOf.get(f.name)!;
        if (damaged.has(f.name)) {
          expect(row.verdict, f.name).toBe('uninspected');
          expect(IMAGE_CODES, f.name).toContain(row.errorCode);
          const img = await s.repo.getImage(row.id, 'original');
          expect(img, `${f.name} keeps its bytes`).not.toBeNull();
          expect(sha(readFileSync(path.join(s.dataDir, 'images', img!.path))), f.name).toBe(sha(f.data));
          expect(row.images).toEqual(expect.arrayContaining(['original', 'overlay', 'thumb']));
        } else if (f.kind !== 'damaged') {
          expect(row.verdict, `${f.name} against ${f.original}`).toBe(verdictOf.get(f.original)!.verdict);
        }
      }
      expect(s.recorder.counters.imageErrors).toBe(0);
    } finally {
      await s.stop();
    }
  });
});
