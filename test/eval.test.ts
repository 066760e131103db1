import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { station } from './helpers/cli.js';
import { sharedDataset } from './helpers/shared.js';
import { tmpDir } from './helpers/tmp.js';

describe('station eval', () => {
  it('scores the shipped model on a labelled synthetic folder, with pixel AUROC from the masks and a plot', async () => {
    const dir = path.join(tmpDir(), 'set');
    expect((await station(['synth', dir, '--count', '60', '--seed', '11', '--start', '3000000', '--defect-rate', '0.5'])).code).toBe(0);
    const plot = path.join(path.dirname(dir), 'curves.png');
    const r = await station(['eval', dir, '--model', 'models/plate-defects.onnx', '--json', '--plot', plot], { timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    const s = JSON.parse(r.lines.at(-1)!);
    expect(s).toMatchObject({ images: 60, uninspected: 0 });
    expect(s.imageAuroc).toBeGreaterThanOrEqual(0.99);
    expect(s.ap).toBeGreaterThanOrEqual(0.99);
    expect(s.pixelAuroc).toBeGreaterThan(0.9);
    expect(Object.keys(s.perClassRecall).sort()).toEqual(['crack', 'dent', 'missing_hole', 'scratch', 'spot'].filter((c) => c in s.perClassRecall));
    expect(s.latencyMsP50).toBeGreaterThan(0);
    expect(existsSync(plot)).toBe(true);
    expect((await sharp(plot).metadata()).format).toBe('png');
  });

  const kolektor = sharedDataset('kolektorsdd');
  it.skipIf(!kolektor)('runs on real photographs with real masks (KolektorSDD), end to end', async () => {
    const r = await station(['eval', kolektor!, '--model', 'models/plate-defects.onnx', '--json'], { timeoutMs: 300_000 });
    expect(r.code).toBe(0);
    const s = JSON.parse(r.lines.at(-1)!);
    // The synthetic-plate model knows nothing of commutators: this checks the pipeline on real
    // data (decode, masks, metrics), not the model.
    expect(s.images).toBeGreaterThan(100);
    expect(s.uninspected).toBe(0);
    for (const k of ['imageAuroc', 'ap', 'pixelAuroc']) expect(s[k]).toBeGreaterThanOrEqual(0);
    expect(s.perClassRecall).toHaveProperty('crack');
  }, 320_000);
});
