import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Thresholds, type Recipe } from '../config/schema.js';
import { StationError } from '../errors/index.js';
import type { ModelDocs } from '../eval/docs.js';
import type { Line } from '../line/index.js';
import { canonicalJson, type Accounts, type Repository } from '../store/index.js';
import { actorOf, need } from './auth.js';
import { DbInt, hidePaths } from './schemas.js';

export interface RecipeDeps {
  repo: Pick<Repository, 'listRecipes' | 'getRecipe' | 'recipeVersions' | 'addRecipeVersion'>;
  accounts: Pick<Accounts, 'audit'>;
  line: Pick<Line, 'setThresholds'>;
  /** The recipes this station runs. */
  recipeNames: readonly string[];
  /** The labels of each recipe's model (thresholds may only name these). */
  recipeLabels: (recipe: string) => readonly string[] | null;
  /** The card and saved evaluations of each recipe's model. */
  recipeModelDocs: (recipe: string) => ModelDocs | null;
  /** `${recipe}@${version}` → RecipeVersion id, shared with the recorder. */
  recipeVersionIds: Map<string, number>;
}

const Name = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) });

/**
 * Recipes and thresholds for integrators. Every change is a new recipe version with author,
 * time and reason, written to the audit log, and applied to the running line between frames.
 */
export async function recipeRoutes(app: FastifyInstance, deps: RecipeDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const viewer = need('viewer');
  const integrator = need('integrator');
  // A Set, not the configuration object: `constructor` or `__proto__` is no recipe (issue #15, finding 8).
  const onLine = new Set(deps.recipeNames);
  const labelsOf = (name: string) => (onLine.has(name) ? deps.recipeLabels(name) : null);

  api.get('/api/recipes', { onRequest: viewer }, async (req) => hidePaths(req.principal, { items: await deps.repo.listRecipes() }));

  api.get('/api/recipes/:name', { onRequest: viewer, schema: { params: Name } }, async (req) => {
    const r = await deps.repo.getRecipe(req.params.name);
    if (!r) throw new StationError('STN_ERR_RECIPE_UNKNOWN', `no recipe ${req.params.name}`);
    const { id: _id, ...out } = r;
    return hidePaths(req.principal, { ...out, labels: labelsOf(req.params.name) ?? [] });
  });

  api.get(
    '/api/recipes/:name/model',
    {
      onRequest: viewer,
      schema: {
        description: 'The model a recipe runs: its card (Markdown and rendered HTML) and saved evaluations with the cost of each threshold.',
        params: Name,
      },
    },
    async (req) => {
      const docs = onLine.has(req.params.name) ? deps.recipeModelDocs(req.params.name) : null;
      if (!docs) throw new StationError('STN_ERR_RECIPE_UNKNOWN', `no recipe ${req.params.name} on this line`);
      return hidePaths(req.principal, docs);
    },
  );

  api.get('/api/recipes/:name/versions', { onRequest: viewer, schema: { params: Name } }, async (req) => {
    const items = await deps.repo.recipeVersions(req.params.name);
    if (items.length === 0) throw new StationError('STN_ERR_RECIPE_UNKNOWN', `no recipe ${req.params.name}`);
    return hidePaths(req.principal, { items });
  });

  /**
   * Writes a new version with these thresholds and hands them to the line. `merge`: the rules
   * given change only the fields they name (a PUT of `default: {minScore}` keeps its minArea and
   * maxCount); every other rule and key stays. The audit lists each field that changed.
   */
  async function applyThresholds(name: string, given: Thresholds, actor: string, reason: string, action: string, extra: object, merge = false) {
    const current = await deps.repo.getRecipe(name);
    if (!current) throw new StationError('STN_ERR_RECIPE_UNKNOWN', `no recipe ${name}`);
    const before = (current.definition as Recipe).thresholds ?? {};
    const thresholds = merge ? mergeThresholds(before, given) : given;
    const changes = changedFields(before, thresholds);
    const definition = { ...(current.definition as Recipe), thresholds };
    const v = await deps.repo.addRecipeVersion(name, definition, actor, reason);
    deps.recipeVersionIds.set(`${name}@${v.version}`, v.id);
    deps.line.setThresholds(name, thresholds, v.version);
    await deps.accounts.audit(actor, action, name, { version: v.version, previous: current.version, reason, thresholds, changes, ...extra });
    return { name, version: v.version, previous: current.version, thresholds, changes, author: actor, reason };
  }

  api.put(
    '/api/recipes/:name/thresholds',
    {
      onRequest: integrator,
      schema: {
        description:
          'New thresholds for a recipe: a new version (author, reason and every changed field in the audit log), applied to the running line from its next frame. ' +
          '`mode: "merge"` (default): each rule given changes only the fields it names — `{"default": {"minScore": 0.6}}` keeps the default rule\'s minArea and maxCount — and every rule or key not given stays. ' +
          '`mode: "replace"`: the thresholds become exactly the body (rules not given are gone).',
        params: Name,
        body: Type.Object(
          {
            thresholds: Thresholds,
            reason: Type.String({ minLength: 3, maxLength: 500 }),
            mode: Type.Optional(Type.Union([Type.Literal('merge'), Type.Literal('replace')], { default: 'merge' })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const labels = labelsOf(req.params.name);
      if (!labels) throw new StationError('STN_ERR_RECIPE_UNKNOWN', `no recipe ${req.params.name} on this line`);
      const t = req.body.thresholds;
      const named = [...Object.keys(t.classes ?? {}), ...(t.goodClasses ?? [])];
      const unknown = named.filter((c) => !labels.includes(c));
      if (unknown.length) throw new StationError('STN_ERR_RECIPE_CLASS', `unknown class ${unknown.join(', ')} (the model knows ${labels.join(', ')})`);
      return applyThresholds(req.params.name, t, actorOf(req), req.body.reason, 'recipe.thresholds', {}, req.body.mode !== 'replace');
    },
  );

  api.post(
    '/api/recipes/:name/rollback',
    {
      onRequest: integrator,
      schema: {
        description: 'Restores the thresholds of an earlier version, as a new version.',
        params: Name,
        body: Type.Object({ version: DbInt(), reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
      },
    },
    async (req) => {
      const name = req.params.name;
      const [target, current] = [await deps.repo.getRecipe(name, req.body.version), await deps.repo.getRecipe(name)];
      if (!target || !current) throw new StationError('STN_ERR_RECIPE_UNKNOWN', `no version ${req.body.version} of recipe ${name}`);
      // Only thresholds change on a running line; a version with another model or ROI needs a restart.
      const { thresholds: tt, ...restTarget } = target.definition as Recipe;
      const { thresholds: _ct, ...restCurrent } = current.definition as Recipe;
      if (canonicalJson(restTarget) !== canonicalJson(restCurrent)) {
        throw new StationError(
          'STN_ERR_RECIPE_RESTART',
          `version ${req.body.version} of ${name} differs in more than its thresholds; change the station file and restart`,
        );
      }
      return applyThresholds(name, tt, actorOf(req), req.body.reason ?? `rollback to version ${req.body.version}`, 'recipe.rollback', {
        restored: req.body.version,
      });
    },
  );
}

/** `given` over `current`: rules merged field by field, other keys replaced when given. */
export function mergeThresholds(current: Thresholds, given: Thresholds): Thresholds {
  const classes = { ...(current.classes ?? {}) };
  for (const [c, rule] of Object.entries(given.classes ?? {})) classes[c] = { ...(Object.hasOwn(classes, c) ? classes[c] : {}), ...rule };
  const merged: Thresholds = { ...current, ...given };
  if (current.default || given.default) merged.default = { ...(current.default ?? {}), ...(given.default ?? {}) } as NonNullable<Thresholds['default']>;
  if (current.classes || given.classes) merged.classes = classes;
  return merged;
}

/** Every leaf that differs between two threshold sets, as `path: from → to` (for the audit log). */
export function changedFields(before: unknown, after: unknown, at = ''): { field: string; from: unknown; to: unknown }[] {
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => changedFields(before[k], after[k], at ? `${at}.${k}` : k));
  }
  return canonicalJson(before ?? null) === canonicalJson(after ?? null) ? [] : [{ field: at, from: before ?? null, to: after ?? null }];
}
