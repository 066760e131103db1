import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { CandidateModel } from '../api/whatif.js';
import { serializeError } from '../errors/index.js';
import { loadModel } from '../inference/index.js';
import { allocator } from './allocator.js';

/** Memory and handles of this process, for health and the soak test. */
export function processFacts() {
  const m = process.memoryUsage();
  const p = process as unknown as { getActiveResourcesInfo?: () => string[] };
  return {
    rssBytes: m.rss,
    heapUsedBytes: m.heapUsed,
    externalBytes: m.external,
    activeResources: p.getActiveResourcesInfo?.().length ?? null,
    allocator,
  };
}

/** The .onnx files in the folders of the station's own models, each with its manifest (or why it cannot load). */
export function candidateModels(recipeModels: string[], usedBy: (file: string) => string[]): CandidateModel[] {
  const dirs = [...new Set(recipeModels.map((f) => path.dirname(f)))];
  const out: CandidateModel[] = [];
  for (const dir of dirs) {
    for (const file of readdirSync(dir)
      .filter((f) => f.endsWith('.onnx'))
      .sort()) {
      const full = path.join(dir, file);
      try {
        const m = loadModel(full).manifest;
        out.push({ file, path: full, name: m.name, family: m.family, sha256: m.sha256, labels: m.labels, usedBy: usedBy(full) });
      } catch (err) {
        out.push({
          file,
          path: full,
          name: file,
          family: '',
          sha256: '',
          labels: [],
          usedBy: usedBy(full),
          problem: serializeError(err, 'STN_ERR_MODEL_INVALID').message,
        });
      }
    }
  }
  return out;
}
