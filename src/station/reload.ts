/**
 * Applying a reload plan to a running station: thresholds become new recipe versions applied
 * between frames; a recipe whose model or preprocessing changed is hot-swapped (the old model
 * stays if the new one does not load). An invalid file is refused whole; the old one stays.
 */
import { readFileSync } from 'node:fs';
import { deepFreeze, type LoadedConfig, loadConfigFile } from '../config/index.js';
import { serializeError, StationError } from '../errors/index.js';
import { sha256Hex } from '../inference/index.js';
import { configSha256, type StationParts } from './components.js';
import { modelFilesOf, planReload, type ReloadResult } from './reload-plan.js';

export async function reloadStation(s: StationParts, configFile: string | undefined, actor: string): Promise<ReloadResult> {
  if (!configFile) throw new StationError('STN_ERR_CONFIG_RELOAD', 'this station was not started from a configuration file');
  let next: LoadedConfig;
  try {
    next = loadConfigFile(configFile);
  } catch (err) {
    s.reloads.refused++;
    const e = serializeError(err, 'STN_ERR_CONFIG_INVALID');
    await s.accounts.audit(actor, 'config.reload.refused', configFile, { code: e.code, message: e.message });
    s.log.error({ code: e.code, message: e.message }, 'configuration reload refused; the running configuration stays');
    throw err;
  }
  const config = s.config;
  const plan = planReload(config, next, {
    running: new Map(s.line.models.map((m) => [m.file, m.sha256])),
    onDisk: new Map(modelFilesOf(next).map((f) => [f, modelFileSha(f)])),
  });
  const result: ReloadResult = { thresholds: [], models: [], keepGood: [], needsRestart: plan.needsRestart, errors: [] };
  let recipes = { ...config.recipes };
  for (const change of plan.changes) {
    const { recipe: name, before, after } = change;
    if (change.kind === 'swap') {
      const v = await s.repo.addRecipeVersion(name, next.recipes[name], actor, 'configuration reloaded: model or preprocessing');
      try {
        const m = await s.line.swapRecipe(name, after, v.version);
        s.recipeVersionIds.set(`${name}@${v.version}`, v.id);
        if (m) s.modelIds.set(m.sha256, await s.repo.ensureModel(m));
        recipes = { ...recipes, [name]: next.recipes[name] };
        result.models.push(name);
      } catch (err) {
        s.reloads.modelSwapFailed++;
        const e = serializeError(err, 'STN_ERR_MODEL_INVALID');
        result.errors.push({ recipe: name, code: e.code, message: e.message });
        s.log.error({ recipe: name, code: e.code, message: e.message }, 'model hot swap failed; the old model stays');
        // The version written for the failed swap is superseded by the one still running.
        const back = await s.repo.addRecipeVersion(name, before, 'configuration', `hot swap failed (${e.code}): previous recipe kept`);
        s.recipeVersionIds.set(`${name}@${back.version}`, back.id);
        s.line.setThresholds(name, before.thresholds, back.version);
      }
      continue;
    }
    if (change.thresholds) {
      const v = await s.repo.addRecipeVersion(name, after, actor, 'configuration reloaded');
      s.recipeVersionIds.set(`${name}@${v.version}`, v.id);
      s.line.setThresholds(name, after.thresholds, v.version);
      result.thresholds.push(name);
    }
    if (change.keepGood) result.keepGood.push(name);
    recipes = { ...recipes, [name]: { ...(recipes[name] ?? before), thresholds: after.thresholds, keepGood: after.keepGood } };
  }
  s.config = deepFreeze({ ...config, recipes });
  s.reloads.applied++;
  await s.accounts.audit(actor, 'config.reload', configFile, { ...result, configSha256: configSha256(next) });
  s.log.info(result, 'configuration reloaded');
  return result;
}

function modelFileSha(file: string): string | null {
  try {
    return sha256Hex(readFileSync(file));
  } catch {
    return null;
  }
}
