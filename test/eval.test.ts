import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
    const reportFile = path.join(path.dirname(dir), 'report.json');
    const r = await station(
      ['eval', dir, '--model', 'models/plate-defects.onnx', '--json', '--plot', plot, '--report', reportFile, '--dataset-description', 'sixty parts'],
      { timeoutMs: 120_000 },
    );
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

    // The saved report: the model it was made for, the data, and what each threshold costs.
    const report = JSON.parse(readFileSync(reportFile, 'utf8'));
    const manifest = JSON.parse(readFileSync('models/plate-defects.manifest.json', 'utf8'));
    expect(report).toMatchObject({
      kind: 'station-eval',
      model: { name: 'plate-defects', sha256: manifest.sha256 },
      dataset: { name: 'set', description: 'sixty parts' },
      summary: s,
    });
    expect(report.dataset.good + report.dataset.defective).toBe(60);
    const within1pct = report.operatingPoints.filter((p: { frr: number }) => p.frr <= 0.01);
    expect(Math.max(...within1pct.map((p: { recall: number }) => p.recall))).toBe(s.recallAt1pctFrr);
    expect(report.operatingPoints.at(-1)).toMatchObject({ recall: 1, frr: 1 });
  });

  it('evaluates only the images a fixture list names, and refuses a list that does not match the folder', async () => {
    const dir = path.join(tmpDir(), 'set');
    expect((await station(['synth', dir, '--count', '12', '--seed', '11', '--start', '3100000', '--defect-rate', '0.5'])).code).toBe(0);
    const good = readdirSync(path.join(dir, 'good'))
      .sort()
      .slice(0, 2)
      .map((f) => `good/${f}`);
    const list = path.join(path.dirname(dir), 'list.txt');
    writeFileSync(list, `# two good parts\n${good.join('\n')}\n\n`);
    const r = await station(['eval', dir, '--model', 'models/plate-defects.onnx', '--json', '--list', list], { timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.lines.at(-1)!)).toMatchObject({ images: 2, imageAuroc: null });

    writeFileSync(list, `${good[0]}\ngood/not-there.png\n`);
    const bad = await station(['replay', dir, '--list', list], { timeoutMs: 120_000 });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('STN_ERR_SOURCE_FAILED');
    expect(bad.stderr).toContain('good/not-there.png');
  });

  const kolektor = sharedDataset('kolektorsdd');
  it.skipIf(!kolektor)(
    'runs on real photographs with real masks (KolektorSDD), end to end',
    async () => {
      const r = await station(['eval', kolektor!, '--model', 'models/plate-defects.onnx', '--json'], { timeoutMs: 300_000 });
      expect(r.code).toBe(0);
      const s = JSON.parse(r.lines.at(-1)!);
      // The synthetic-plate model knows nothing of commutators: this checks the pipeline on real
      // data (decode, masks, metrics), not the model.
      expect(s.images).toBeGreaterThan(100);
      expect(s.uninspected).toBe(0);
      for (const k of ['imageAuroc', 'ap', 'pixelAuroc']) expect(s[k]).toBeGreaterThanOrEqual(0);
      expect(s.perClassRecall).toHaveProperty('crack');
    },
    320_000,
  );
});
