import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { PartGenerator, SYNTHETIC_CLASSES, type SyntheticOptions } from './synthetic.js';

export interface DatasetOptions extends SyntheticOptions {
  count: number;
  /** First part index; held-out sets use a range disjoint from training. */
  start?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Writes synthetic parts as a labelled folder in the station's evaluation layout
 * (`good/`, `defect/<class>/`, `masks/<class>/`) plus `labels.jsonl` with every box, which the
 * training script and `station replay` read. Parts with two defects file under the first class.
 */
export async function writeSyntheticDataset(dir: string, options: DatasetOptions): Promise<{ good: number; defect: number }> {
  const gen = new PartGenerator(options);
  const start = options.start ?? 0;
  await mkdir(path.join(dir, 'good'), { recursive: true });
  for (const c of SYNTHETIC_CLASSES) {
    await mkdir(path.join(dir, 'defect', c), { recursive: true });
    await mkdir(path.join(dir, 'masks', c), { recursive: true });
  }
  const lines: string[] = [];
  let good = 0,
    defect = 0;
  for (let k = 0; k < options.count; k++) {
    const index = start + k;
    const part = gen.part(index);
    const { width, height, data } = part.image;
    const name = `part_${String(index).padStart(6, '0')}.png`;
    const first = part.truth.defects[0]?.class;
    const rel = first ? path.join('defect', first, name) : path.join('good', name);
    await sharp(data, { raw: { width, height, channels: 1 } })
      .png({ compressionLevel: 3 })
      .toFile(path.join(dir, rel));
    if (first) {
      const bin = new Uint8Array(part.mask.length);
      for (let i = 0; i < bin.length; i++) bin[i] = part.mask[i] ? 255 : 0;
      await sharp(bin, { raw: { width, height, channels: 1 } })
        .png()
        .toFile(path.join(dir, 'masks', first, name));
      defect++;
    } else good++;
    lines.push(JSON.stringify({ file: rel, index, width, height, defects: part.truth.defects }));
    options.onProgress?.(k + 1, options.count);
  }
  await writeFile(path.join(dir, 'labels.jsonl'), lines.join('\n') + '\n');
  return { good, defect };
}
