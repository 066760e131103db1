import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelDocs } from '../src/eval/docs.js';
import { loadModel } from '../src/inference/index.js';
import { PACKAGE_ROOT, SHIPPED_MODEL } from '../src/paths.js';
import { sharedDataset } from './helpers/shared.js';
import { station } from './helpers/cli.js';
import { tmpDir } from './helpers/tmp.js';

describe('the shipped model card', () => {
  it('station replay on the regenerated held-out set reproduces the recall and false-reject rate in the card', async () => {
    const manifest = JSON.parse(readFileSync(SHIPPED_MODEL.replace(/\.onnx$/, '.manifest.json'), 'utf8'));
    const claimed = manifest.evaluation.heldout;
    const dir = path.join(tmpDir(), 'heldout');
    const synth = await station(['synth', dir, '--seed', '11', '--start', '1000000', '--count', '1000', '--defect-rate', '0.3'], { timeoutMs: 180_000 });
    expect(synth.code).toBe(0);
    const replay = await station(['replay', dir], { timeoutMs: 180_000 });
    expect(replay.code).toBe(0);
    const summary = JSON.parse(replay.lines.at(-1)!);
    expect(summary).toMatchObject({
      images: claimed.images,
      defective: claimed.defective,
      good: claimed.good,
      recall: claimed.recall,
      falseRejectRate: claimed.falseRejectRate,
      uninspected: 0,
    });
  }, 240_000);
});

describe('every shipped model', () => {
  const models = readdirSync(path.join(PACKAGE_ROOT, 'models')).filter((f) => f.endsWith('.onnx'));
  it('loads with its pinned manifest, and has a card and a saved evaluation made for this very build', () => {
    expect(models.sort()).toEqual(['magnetic-tile.onnx', 'plate-defects.onnx']);
    for (const f of models) {
      const file = path.join(PACKAGE_ROOT, 'models', f);
      const model = loadModel(file);
      expect(model.manifestSource).toBe('file');
      const docs = modelDocs(file, model.manifest);
      expect(docs.problems).toEqual([]);
      expect(docs.card?.markdown).toMatch(/^# Model card/);
      expect(docs.reports.length).toBeGreaterThan(0);
      for (const r of docs.reports) {
        expect(r.current).toBe(true);
        expect(r.dataset.good + r.dataset.defective).toBe(r.summary.images);
      }
    }
  });
});

const tiles = sharedDataset('magnetic_tile');
describe.skipIf(!tiles)('the magnetic-tile model on the real photographs (../shared)', () => {
  const report = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'models', 'magnetic-tile.eval-val.json'), 'utf8'));
  const fixture = ['--config', 'fixtures/magnetic-tile.yaml', '--recipe', 'magnetic-tile', '--list', 'fixtures/magnetic-tile.val.txt'];

  it('station eval on the validation fixture list reproduces the saved evaluation', async () => {
    const r = await station(['eval', tiles!, '--model', 'models/magnetic-tile.onnx', ...fixture, '--json'], { timeoutMs: 180_000 });
    expect(r.code).toBe(0);
    const s = JSON.parse(r.lines.at(-1)!);
    const { latencyMsP50: _a, ...measured } = s;
    const { latencyMsP50: _b, ...saved } = report.summary;
    expect(measured).toEqual(saved);
  }, 200_000);

  it('station replay through the fixture recipe catches and rejects what the card says', async () => {
    const r = await station(['replay', tiles!, ...fixture], { timeoutMs: 180_000 });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.lines.at(-1)!)).toMatchObject({ images: 229, defective: 70, good: 159, fail: 69, uninspected: 0, recall: 0.9857, falseRejectRate: 0 });
  }, 200_000);
});
