/**
 * Reload planning, pure: (running configuration, new configuration, model file hashes) → what a
 * reload does. No file is read and nothing is applied here; src/station/reload.ts applies a plan.
 */
import path from 'node:path';
import type { LoadedConfig, Recipe } from '../config/index.js';
import { canonicalJson } from '../store/index.js';

/** The top-level sections a running station cannot change: they take effect at the next start. */
export const RESTART_SECTIONS = ['station', 'http', 'storage', 'line', 'plc', 'opcua', 'mqtt', 'sources'] as const;

/** What a reload does to one recipe that exists before and after. */
export type RecipeChange =
  /** The model file, its contents, or preprocessing changed: the worker swaps the recipe (model path absolute). */
  | { recipe: string; kind: 'swap'; before: Recipe; after: Recipe }
  /** Only thresholds and/or keepGood changed: applied between frames. */
  | { recipe: string; kind: 'tune'; before: Recipe; after: Recipe; thresholds: boolean; keepGood: boolean };

/** What a reload did, as the API and the audit log report it. */
export interface ReloadResult {
  /** Recipes whose thresholds changed (a new version each, applied from the next frame). */
  thresholds: string[];
  /** Recipes whose model or preprocessing was swapped. */
  models: string[];
  keepGood: string[];
  /** Changes that only take effect at the next start. */
  needsRestart: string[];
  /** Hot swaps that failed (the old model stays). */
  errors: { recipe: string; code: string; message: string }[];
}

export interface ReloadPlan {
  /** Sections (and `recipes.NAME` added or removed) that need a restart. */
  needsRestart: string[];
  changes: RecipeChange[];
}

/** SHA-256 of model files by absolute path: the ones the line runs, and the ones on disk now (null: unreadable). */
export interface ModelHashes {
  running: ReadonlyMap<string, string>;
  onDisk: ReadonlyMap<string, string | null>;
}

/** The model files whose on-disk hash a plan needs (absolute paths of the new configuration's recipes). */
export function modelFilesOf(config: LoadedConfig): string[] {
  return Object.values(config.recipes).map((r) => path.resolve(config.baseDir, r.model));
}

export function planReload(current: LoadedConfig, next: LoadedConfig, hashes: ModelHashes): ReloadPlan {
  const needsRestart: string[] = RESTART_SECTIONS.filter((key) => canonicalJson(next[key] ?? null) !== canonicalJson(current[key] ?? null));
  const changes: RecipeChange[] = [];
  for (const name of new Set([...Object.keys(current.recipes), ...Object.keys(next.recipes)])) {
    const before = current.recipes[name];
    const after = next.recipes[name];
    if (!before || !after) {
      needsRestart.push(`recipes.${name}`);
      continue;
    }
    const modelBefore = path.resolve(current.baseDir, before.model);
    const modelAfter = path.resolve(next.baseDir, after.model);
    const { thresholds: tb, keepGood: kb, ...restBefore } = before;
    const { thresholds: ta, keepGood: ka, ...restAfter } = after;
    const fileChanged = (hashes.onDisk.get(modelAfter) ?? null) !== (hashes.running.get(modelBefore) ?? undefined);
    if (canonicalJson({ ...restBefore, model: modelBefore }) !== canonicalJson({ ...restAfter, model: modelAfter }) || fileChanged) {
      changes.push({ recipe: name, kind: 'swap', before, after: { ...after, model: modelAfter } });
      continue;
    }
    const thresholds = canonicalJson(tb) !== canonicalJson(ta);
    const keepGood = kb !== ka;
    if (thresholds || keepGood) changes.push({ recipe: name, kind: 'tune', before, after, thresholds, keepGood });
  }
  return { needsRestart, changes };
}
