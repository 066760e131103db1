import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Thresholds, type Recipe } from '../config/schema.js';
import { StationError } from '../errors/index.js';
import { compareRun, runSuggest, runWhatIf, type Reinferrer } from '../whatif/index.js';
import { actorOf } from './auth.js';
import type { RecipeDeps } from './recipes.js';
import { IdParams, idOf } from './schemas.js';
import { need } from './auth.js';

export interface WhatIfDeps extends RecipeDeps {
  /** The recipes this station runs. */
  recipeNames: readonly string[];
  reinferrer: Reinferrer;
  /** Models a re-inference may use: the .onnx files beside the station's own models. */
  candidateModels: () => CandidateModel[];
  /** A recipe's model file (absolute). */
  recipeModel: (recipe: string) => string | null;
}

export interface CandidateModel {
  file: string;
  path: string;
  name: string;
  family: string;
  sha256: string;
  labels: readonly string[];
  /** Recipes that run it now. */
  usedBy: string[];
  problem?: string;
}

const Filter = {
  recipe: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'required when the station runs more than one recipe' })),
  station: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  line: Type.Optional(Type.String({ maxLength: 128, description: 'only the stations of this line' })),
  from: Type.Optional(Type.String({ format: 'date-time' })),
  to: Type.Optional(Type.String({ format: 'date-time' })),
};

/**
 * What-if for integrators and quality engineers: replay stored inspections against candidate
 * thresholds (nothing on the line changes), and suggest thresholds from reviewed parts.
 */
export function registerWhatIf(app: FastifyInstance, deps: WhatIfDeps): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const viewer = need('viewer');

  const recipeOf = (name: string | undefined): string => {
    if (name) {
      if (!deps.recipeNames.includes(name))
        throw new StationError('STN_ERR_RECIPE_UNKNOWN', `no recipe ${name} on this station (it runs ${deps.recipeNames.join(', ')})`);
      return name;
    }
    if (deps.recipeNames.length !== 1) throw new StationError('STN_ERR_WHATIF_RECIPE', `name the recipe: this station runs ${deps.recipeNames.join(', ')}`);
    return deps.recipeNames[0];
  };
  const range = (q: { from?: string; to?: string }) => ({ from: q.from ? new Date(q.from) : undefined, to: q.to ? new Date(q.to) : undefined });

  api.post(
    '/api/whatif',
    {
      preHandler: viewer,
      config: { rateLimit: { max: 240, timeWindow: '1 minute' } },
      schema: {
        description:
          "The verdict every stored inspection of a recipe would get under candidate thresholds: reject rate now vs candidate, the parts that flip, and escapes and false rejects against reviews (or the source's ground truth). Changes nothing.",
        body: Type.Object(
          {
            thresholds: Thresholds,
            ...Filter,
            flips: Type.Integer({ minimum: 0, maximum: 1000, default: 100, description: 'how many of the newest flipped parts to list' }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const b = req.body;
      const recipe = recipeOf(b.recipe);
      const labels = deps.recipeLabels(recipe) ?? [];
      const unknown = [...Object.keys(b.thresholds.classes ?? {}), ...(b.thresholds.goodClasses ?? [])].filter((c) => !labels.includes(c));
      if (unknown.length) throw new StationError('STN_ERR_RECIPE_CLASS', `unknown class ${unknown.join(', ')} (the model knows ${labels.join(', ')})`);
      return runWhatIf(deps.repo, { recipe, thresholds: b.thresholds, station: b.station, line: b.line, ...range(b), keepFlips: b.flips });
    },
  );

  const integrator = need('integrator');
  const job = async (id: number) => {
    const j = await deps.reinferrer.get(id);
    if (!j) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no re-inference ${id}`);
    return j;
  };

  api.get(
    '/api/models',
    {
      preHandler: viewer,
      schema: { description: "Models a re-inference may run: the .onnx files beside the station's own models, with their manifests." },
    },
    async () => ({ items: deps.candidateModels() }),
  );

  api.post(
    '/api/reinference',
    {
      preHandler: integrator,
      config: { rateLimit: { max: 20, timeWindow: '1 minute' } },
      schema: {
        description:
          "Runs a candidate model and/or preprocessing over stored original images in the background (one job at a time, one onnxruntime thread); results are kept apart from the line's records. 202 with the job.",
        body: Type.Object(
          {
            ...Filter,
            model: Type.Optional(
              Type.String({
                minLength: 1,
                maxLength: 200,
                pattern: '^[^/\\\\]+\\.onnx$',
                description: "a file name from GET /api/models (default: the recipe's own model)",
              }),
            ),
            resize: Type.Optional(Type.Union([Type.Literal('letterbox'), Type.Literal('stretch')])),
            roi: Type.Optional(
              Type.Tuple([Type.Integer({ minimum: 0 }), Type.Integer({ minimum: 0 }), Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })]),
            ),
            thresholds: Type.Optional(Thresholds),
            limit: Type.Integer({ minimum: 1, maximum: 20_000, default: 2000, description: 'at most this many stored images, newest first' }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      const b = req.body;
      const recipe = recipeOf(b.recipe);
      const models = deps.candidateModels();
      const model = b.model ? models.find((m) => m.file === b.model) : models.find((m) => m.path === deps.recipeModel(recipe));
      if (!model) throw new StationError('STN_ERR_MODEL_NOT_FOUND', `no model ${b.model} among ${models.map((m) => m.file).join(', ')}`);
      if (model.problem) throw new StationError('STN_ERR_MODEL_INVALID', `${model.file}: ${model.problem}`);
      const current = await deps.repo.getRecipe(recipe);
      const thresholds = b.thresholds ?? (current!.definition as Recipe).thresholds;
      const unknown = [...Object.keys(thresholds.classes ?? {}), ...(thresholds.goodClasses ?? [])].filter((c) => !model.labels.includes(c));
      if (unknown.length)
        throw new StationError(
          'STN_ERR_RECIPE_CLASS',
          `unknown class ${unknown.join(', ')} for ${model.file} (it knows ${model.labels.join(', ')}); send thresholds for it`,
        );
      const j = await deps.reinferrer.start({
        recipe,
        model: model.path,
        resize: b.resize,
        roi: b.roi,
        thresholds,
        station: b.station,
        ...range(b),
        limit: b.limit,
        author: actorOf(req),
      });
      await deps.accounts.audit(actorOf(req), 'reinference.start', recipe, { id: j.id, model: model.file, total: j.total });
      return reply.status(202).send(j);
    },
  );

  api.get('/api/reinference', { preHandler: viewer }, async () => ({ items: await deps.repo.listReinferences(50) }));

  api.get(
    '/api/reinference/:id',
    {
      preHandler: viewer,
      schema: { description: "A re-inference job and, once it has results, the comparison with the line's verdicts on the same parts.", params: IdParams },
    },
    async (req) => {
      const j = await job(idOf(req.params));
      const parts = await deps.repo.reinferenceParts(j.id);
      return { ...j, comparison: parts.length ? compareRun(parts) : null };
    },
  );

  api.get(
    '/api/reinference/:id/parts',
    {
      preHandler: viewer,
      schema: {
        description: "The parts side by side: the line's verdict and findings, the candidate's, and the label.",
        params: IdParams,
        querystring: Type.Object(
          {
            only: Type.Union([Type.Literal('all'), Type.Literal('disagree')], { default: 'disagree' }),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
            offset: Type.Integer({ minimum: 0, default: 0 }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      await job(idOf(req.params));
      const all = await deps.repo.reinferenceParts(idOf(req.params));
      const picked = req.query.only === 'all' ? all : all.filter((p) => p.production.verdict !== p.candidate.verdict);
      const page = picked.slice(req.query.offset, req.query.offset + req.query.limit);
      const thumbs = await deps.repo.withImage(
        page.map((p) => p.inspectionId),
        'thumb',
      );
      return {
        total: picked.length,
        items: page.map(({ production: { outputs: _o, ...production }, ...p }) => ({
          ...p,
          capturedAt: p.capturedAt.toISOString(),
          production,
          thumb: thumbs.has(p.inspectionId),
          label: p.label ? (p.label.defective ? 'defective' : 'good') : null,
        })),
      };
    },
  );

  api.post('/api/reinference/:id/cancel', { preHandler: integrator, schema: { params: IdParams } }, async (req) => {
    await job(idOf(req.params));
    const j = await deps.reinferrer.cancel(idOf(req.params));
    await deps.accounts.audit(actorOf(req), 'reinference.cancel', String(idOf(req.params)), {});
    return j;
  });

  api.post(
    '/api/whatif/suggest',
    {
      preHandler: viewer,
      config: { rateLimit: { max: 60, timeWindow: '1 minute' } },
      schema: {
        description:
          "Per-class thresholds from labelled parts (reviews, or the source's ground truth) that meet a target — zero escapes, or a recall per class — at the lowest false-reject rate each class allows, with the trade-off curves.",
        body: Type.Object(
          {
            ...Filter,
            target: Type.Union(
              [
                Type.Object({ escapes: Type.Literal(0) }, { additionalProperties: false }),
                Type.Object({ recall: Type.Number({ minimum: 0.5, maximum: 1 }) }, { additionalProperties: false }),
              ],
              { default: { escapes: 0 } },
            ),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const b = req.body;
      const recipe = recipeOf(b.recipe);
      const current = await deps.repo.getRecipe(recipe);
      if (!current) throw new StationError('STN_ERR_RECIPE_UNKNOWN', `no recipe ${recipe}`);
      return runSuggest(deps.repo, {
        recipe,
        station: b.station,
        line: b.line,
        ...range(b),
        current: (current.definition as Recipe).thresholds,
        target: b.target,
      });
    },
  );
}
