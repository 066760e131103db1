import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SHIPPED_MODEL } from '../src/paths.js';
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
    expect(summary).toMatchObject({ images: claimed.images, defective: claimed.defective, good: claimed.good, recall: claimed.recall, falseRejectRate: claimed.falseRejectRate, uninspected: 0 });
  }, 240_000);
});
