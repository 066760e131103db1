import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Option } from 'commander';
import type { SerializedError } from '../errors/index.js';
import type { InspectionResult } from '../line/index.js';

export interface FolderOptions {
  recipe: string;
  config?: string;
  model?: string;
  list?: string;
}

/** The options replay and eval share: whose recipe decides. */
export const recipeOption = () => new Option('--recipe <name>', 'recipe whose thresholds decide (from --config, or the embedded "plate")').default('plate');
export const configOption = () => new Option('--config <file>', 'station YAML file whose recipes to use');
export const listOption = () => new Option('--list <file>', 'only the images this fixture list names (paths relative to the folder, one per line)');

/**
 * Runs every image of a folder through a recipe with the station's own line (worker, model,
 * decision), offline: no deadline, the queue waits. Resolves when the last image is decided.
 */
export async function runFolder(dir: string, o: FolderOptions, onResult: (r: InspectionResult) => void): Promise<void> {
  const [{ loadConfigFile, plateRecipe, validateConfig }, { StationError }, { SHIPPED_MODEL }, { startStation }, { pino }] = await Promise.all([
    import('../config/index.js'),
    import('../errors/index.js'),
    import('../paths.js'),
    import('../main.js'),
    import('pino'),
  ]);
  const base = o.config ? loadConfigFile(o.config) : null;
  const recipes: Record<string, unknown> = base ? { ...base.recipes } : { plate: plateRecipe(SHIPPED_MODEL) };
  if (!recipes[o.recipe] && !o.model) throw new StationError('STN_ERR_RECIPE_UNKNOWN', `no recipe "${o.recipe}" (known: ${Object.keys(recipes).join(', ')})`);
  const recipe = { ...((recipes[o.recipe] as object) ?? plateRecipe(SHIPPED_MODEL)), ...(o.model ? { model: path.resolve(o.model) } : {}) };
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'station-folder-'));
  try {
    const config = validateConfig(
      {
        station: { id: 'offline' },
        storage: { dataDir: tmp },
        line: { deadlineMs: 24 * 3600 * 1000, queueSize: 2 },
        sources: [{ name: 'folder', uri: `dir:${path.resolve(dir)}${o.list ? `?list=${encodeURIComponent(path.resolve(o.list))}` : ''}`, recipe: o.recipe }],
        recipes: { [o.recipe]: recipe },
      },
      base?.baseDir ?? process.cwd(),
    );
    const station = await startStation({ config, http: false, log: pino({ level: 'warn' }, pino.destination(2)), onResult });
    // Offline, a folder that cannot be read is the command's failure, not a logged line.
    const failures: SerializedError[] = [];
    station.line.on('source-error', (_source, error) => failures.push(error));
    await station.line.whenIdle();
    await station.stop();
    if (failures.length) throw new StationError(failures[0].code, failures[0].message);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
