import path from 'node:path';
import { Option } from 'commander';
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
 * decision), offline: no deadline, the queue waits, no database. Resolves when the last image is
 * decided; a folder that cannot be read is the command's failure.
 */
export async function runFolder(dir: string, o: FolderOptions, onResult: (r: InspectionResult) => void): Promise<void> {
  const [{ loadConfigFile, plateRecipe }, { StationError }, { SHIPPED_MODEL }, { OfflineLine, offlineConfig }] = await Promise.all([
    import('../config/index.js'),
    import('../errors/index.js'),
    import('../paths.js'),
    import('../station/offline.js'),
  ]);
  const base = o.config ? loadConfigFile(o.config) : null;
  const recipes: Record<string, unknown> = base ? { ...base.recipes } : { plate: plateRecipe(SHIPPED_MODEL) };
  if (!recipes[o.recipe] && !o.model) throw new StationError('STN_ERR_RECIPE_UNKNOWN', `no recipe "${o.recipe}" (known: ${Object.keys(recipes).join(', ')})`);
  const recipe = { ...((recipes[o.recipe] as object) ?? plateRecipe(SHIPPED_MODEL)), ...(o.model ? { model: path.resolve(o.model) } : {}) } as {
    model: string;
  };
  const config = offlineConfig({
    id: 'offline',
    uri: `dir:${path.resolve(dir)}${o.list ? `?list=${encodeURIComponent(path.resolve(o.list))}` : ''}`,
    sourceName: 'folder',
    recipeName: o.recipe,
    recipe,
    baseDir: base?.baseDir ?? process.cwd(),
  });
  const failures = await new OfflineLine(config).run(onResult);
  if (failures.length) throw new StationError(failures[0].code, failures[0].message);
}
