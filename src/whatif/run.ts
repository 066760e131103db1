/**
 * What-if and threshold suggestion over the stored history: streams the inspections of one
 * recipe from the repository in chunks through the pure tally, so memory stays bounded.
 */
import { performance } from 'node:perf_hooks';
import type { Thresholds } from '../config/schema.js';
import type { Repository, WhatIfScan } from '../store/repository.js';
import { checkReplayable, WhatIfTally, type FlippedPart, type WhatIfRow, type WhatIfSummary } from './tally.js';
import { suggestThresholds, type SuggestTarget, type Suggestion } from './suggest.js';

/** One recipe's inspections, of a station or a line, in a capture-time range. */
export type WhatIfQuery = WhatIfScan;

export interface WhatIfResult extends WhatIfSummary {
  recipe: string;
  thresholds: Thresholds;
  from: string | null;
  to: string | null;
  /** The newest flipped parts (at most `keepFlips`), with whether a thumbnail is stored. */
  flipped: (FlippedPart & { thumb: boolean })[];
  elapsedMs: number;
}

/** How far a run has got: parts re-decided so far, of the window's `total` (from the aggregates). */
export type WhatIfProgress = (done: number) => void;

export async function runWhatIf(
  repo: Repository,
  q: WhatIfQuery & { thresholds: Thresholds; keepFlips?: number },
  run: { onProgress?: WhatIfProgress; signal?: AbortSignal } = {},
): Promise<WhatIfResult> {
  checkReplayable(q.thresholds);
  const t0 = performance.now();
  const tally = new WhatIfTally(q.thresholds, q.keepFlips ?? 100);
  let done = 0;
  await repo.scanForWhatIf(
    q,
    (rows) => {
      for (const r of rows) tally.add(r);
      done += rows.length;
      run.onProgress?.(done);
    },
    undefined,
    run.signal,
  );
  const flipped = tally.flipped();
  const thumbs = await repo.withImage(
    flipped.map((f) => f.id),
    'thumb',
  );
  return {
    ...tally.summary(),
    recipe: q.recipe,
    thresholds: q.thresholds,
    from: q.from?.toISOString() ?? null,
    to: q.to?.toISOString() ?? null,
    flipped: flipped.map((f) => ({ ...f, thumb: thumbs.has(f.id) })),
    elapsedMs: Math.round(performance.now() - t0),
  };
}

export async function runSuggest(
  repo: Repository,
  q: WhatIfQuery & { current: Thresholds; target: SuggestTarget },
): Promise<Suggestion & { recipe: string; elapsedMs: number }> {
  const t0 = performance.now();
  const labelled: WhatIfRow[] = [];
  await repo.scanForWhatIf(q, (rows) => {
    for (const r of rows) if (r.label) labelled.push(r);
  });
  return { recipe: q.recipe, ...suggestThresholds(labelled, q.current, q.target), elapsedMs: Math.round(performance.now() - t0) };
}
