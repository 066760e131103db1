import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Thresholds, type Recipe } from '../config/schema.js';
import { StationError } from '../errors/index.js';
import type { Accounts, Repository } from '../store/index.js';
import { compareRun, type Reinferrer } from '../whatif/index.js';
import { actorOf, need } from './auth.js';
import { hidePaths, IdParams, idOf, INT32_MAX } from './schemas.js';
import { type CandidateModel, Filter, optionalRange, recipeChooser } from './whatif.js';

export interface ReinferenceDeps {
  repo: Pick<Repository, 'getRecipe' | 'listReinferences' | 'reinferenceParts' | 'withImage'>;
  accounts: Pick<Accounts, 'audit'>;
  recipeNames: readonly string[];
  reinferrer: Pick<Reinferrer, 'get' | 'start' | 'cancel'>;
  /** Models a re-inference may use: the .onnx files beside the station's own models. */
  candidateModels: () => CandidateModel[];
  /** A recipe's model file (absolute). */
  recipeModel: (recipe: string) => string | null;
}

/**
 * Re-inference: a candidate model or preprocessing run over stored images in the background, its
 * results kept apart from the line's and compared with them part by part.
 */
export async function reinferenceRoutes(app: FastifyInstance, deps: ReinferenceDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const viewer = need('viewer');
  const recipeOf = recipeChooser(deps.recipeNames);
  const range = optionalRange;
  const integrator = need('integrator');
  const job = async (id: number) => {
    const j = await deps.reinferrer.get(id);
    if (!j) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no re-inference ${id}`);
    return j;
  };

  api.get(
    '/api/models',
    {
      onRequest: viewer,
      schema: { description: "Models a re-inference may run: the .onnx files beside the station's own models, with their manifests." },
    },
    async (req) => hidePaths(req.principal, { items: deps.candidateModels() }),
  );

  api.post(
    '/api/reinference',
    {
      onRequest: integrator,
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
              Type.Tuple([
                Type.Integer({ minimum: 0, maximum: 65_535 }),
                Type.Integer({ minimum: 0, maximum: 65_535 }),
                Type.Integer({ minimum: 1, maximum: 65_535 }),
                Type.Integer({ minimum: 1, maximum: 65_535 }),
              ]),
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

  api.get('/api/reinference', { onRequest: viewer }, async (req) => hidePaths(req.principal, { items: await deps.repo.listReinferences(50) }));

  api.get(
    '/api/reinference/:id',
    {
      onRequest: viewer,
      schema: { description: "A re-inference job and, once it has results, the comparison with the line's verdicts on the same parts.", params: IdParams },
    },
    async (req) => {
      const j = await job(idOf(req.params));
      const parts = await deps.repo.reinferenceParts(j.id);
      return hidePaths(req.principal, { ...j, comparison: parts.length ? compareRun(parts) : null });
    },
  );

  api.get(
    '/api/reinference/:id/parts',
    {
      onRequest: viewer,
      schema: {
        description: "The parts side by side: the line's verdict and findings, the candidate's, and the label.",
        params: IdParams,
        querystring: Type.Object(
          {
            only: Type.Union([Type.Literal('all'), Type.Literal('disagree')], { default: 'disagree' }),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
            offset: Type.Integer({ minimum: 0, maximum: INT32_MAX, default: 0 }),
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

  api.post('/api/reinference/:id/cancel', { onRequest: integrator, schema: { params: IdParams } }, async (req) => {
    await job(idOf(req.params));
    const j = await deps.reinferrer.cancel(idOf(req.params));
    await deps.accounts.audit(actorOf(req), 'reinference.cancel', String(idOf(req.params)), {});
    return j;
  });
}
