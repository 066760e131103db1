/**
 * The offline line: a folder (or a fixture list) through a recipe with the station's own line —
 * worker thread, preprocessing, decoders, decision — and nothing else: no database, no recorder,
 * no HTTP, nothing written. `station replay`, `station eval` and re-inference run on it.
 *
 *   dir:FOLDER[?list=FILE] ──▶ Line (no deadline, the queue waits) ──results──▶ onResult
 */
import { type LoadedConfig, type Recipe, validateConfig } from '../config/index.js';
import type { SerializedError } from '../errors/index.js';
import { type InspectionResult, Line } from '../line/index.js';

/** A configuration for one folder source and one recipe, offline: no deadline, a short queue that waits. */
export function offlineConfig(o: {
  id: string;
  /** `dir:FOLDER` with its query (`?list=…`). */
  uri: string;
  sourceName: string;
  recipeName: string;
  recipe: Partial<Recipe> & { model: string };
  /** Relative paths (the recipe's model) are resolved from here. */
  baseDir: string;
  /** onnxruntime intra-op threads (default: the line's). */
  threads?: number;
}): LoadedConfig {
  return validateConfig(
    {
      station: { id: o.id },
      line: { deadlineMs: 24 * 3600 * 1000, queueSize: 2, ...(o.threads ? { threads: o.threads } : {}) },
      sources: [{ name: o.sourceName, uri: o.uri, recipe: o.recipeName }],
      recipes: { [o.recipeName]: o.recipe },
    },
    o.baseDir,
  );
}

/** One run of the offline line; `line` is exposed for cancelling (its `stop()`) and its counters. */
export class OfflineLine {
  readonly line: Line;
  private interrupt: () => void = () => undefined;
  private readonly interrupted = new Promise<void>((resolve) => (this.interrupt = resolve));

  constructor(config: LoadedConfig) {
    this.line = new Line({ config, recipeVersions: {} });
  }

  /**
   * Starts the worker, runs every frame of the source through `onResult`, stops the worker.
   * Resolves with the failures of the source (empty when it was read to the end); rejects when
   * the model does not load.
   */
  async run(onResult: (r: InspectionResult) => void): Promise<SerializedError[]> {
    const failures: SerializedError[] = [];
    this.line.on('result', onResult);
    this.line.on('source-error', (_source, error) => failures.push(error));
    try {
      await this.line.start();
      this.line.begin();
      await Promise.race([this.line.whenIdle(), this.interrupted]);
    } finally {
      await this.line.stop();
    }
    return failures;
  }

  /** Ends the run early: the frames decided so far have been delivered, the rest are not read. */
  async cancel(): Promise<void> {
    this.interrupt();
    await this.line.stop();
  }
}
