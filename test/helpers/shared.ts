import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The real industrial datasets live beside the repository in ../shared (never copied into it).
 * A fresh clone has no ../shared: tests that need it are skipped with this message.
 */
export const SHARED_DATASETS = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'shared', 'datasets');

export function sharedDataset(name: 'magnetic_tile' | 'kolektorsdd'): string | null {
  const dir = path.join(SHARED_DATASETS, name);
  if (existsSync(path.join(dir, 'manifest.csv'))) return dir;
  console.warn(`skipped: the ${name} dataset is not at ${dir} (it lives in ../shared, outside the repository)`);
  return null;
}
