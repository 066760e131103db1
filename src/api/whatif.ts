import type { FastifyInstance } from 'fastify';
import { type Static, Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Thresholds, type Recipe } from '../config/schema.js';
import { StationError } from '../errors/index.js';
import type { Repository } from '../store/index.js';
import { runSuggest, runWhatIf, type WhatIfJobs } from '../whatif/index.js';
import { need } from './auth.js';

export interface WhatIfDeps {
  repo: Pick<Repository, 'getRecipe' | 'countForWhatIf'> & Parameters<typeof runWhatIf>[0] & Parameters<typeof runSuggest>[0];
  jobs: WhatIfJobs;
  /** Windows up to this many parts are answered in the request (1 000 000: about 10 s on 2 cores); larger ones run as jobs. */
  syncMaxParts: number;
  /** The recipes this station runs. */
  recipeNames: readonly string[];
  /** The labels of each recipe's model (thresholds may only name these). */
  recipeLabels: (recipe: string) => readonly string[] | null;
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

export const Filter = {
  recipe: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'required when the station runs more than one recipe' })),
  station: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  line: Type.Optional(Type.String({ maxLength: 128, description: 'only the stations of this line' })),
  from: Type.Optional(Type.String({ format: 'date-time' })),
  to: Type.Optional(Type.String({ format: 'date-time' })),
};

/** The recipe a what-if or re-inference names, or the station's only one. */
export function recipeChooser(recipeNames: readonly string[]) {
  return (name: string | undefined): string => {
    if (name) {
      if (!recipeNames.includes(name))
        throw new StationError('STN_ERR_RECIPE_UNKNOWN', `no recipe ${name} on this station (it runs ${recipeNames.join(', ')})`);
      return name;
    }
    if (recipeNames.length !== 1) throw new StationError('STN_ERR_WHATIF_RECIPE', `name the recipe: this station runs ${recipeNames.join(', ')}`);
    return recipeNames[0];
  };
}

export const optionalRange = (q: { from?: string; to?: string }) => ({ from: q.from ? new Date(q.from) : undefined, to: q.to ? new Date(q.to) : undefined });

/**
 * What-if for integrators and quality engineers: replay stored inspections against candidate
 * thresholds (nothing on the line changes), and suggest thresholds from reviewed parts.
 */
export async function whatIfRoutes(app: FastifyInstance, deps: WhatIfDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const viewer = need('viewer');
  const recipeOf = recipeChooser(deps.recipeNames);
  const range = optionalRange;
  const WhatIfBody = Type.Object(
    {
      thresholds: Thresholds,
      ...Filter,
      flips: Type.Integer({ minimum: 0, maximum: 1000, default: 100, description: 'how many of the newest flipped parts to list' }),
    },
    { additionalProperties: false },
  );
  /** The body as a what-if query, its recipe and classes checked. */
  const queryOf = (b: Static<typeof WhatIfBody>) => {
    const recipe = recipeOf(b.recipe);
    const labels = deps.recipeLabels(recipe) ?? [];
    const unknown = [...Object.keys(b.thresholds.classes ?? {}), ...(b.thresholds.goodClasses ?? [])].filter((c) => !labels.includes(c));
    if (unknown.length) throw new StationError('STN_ERR_RECIPE_CLASS', `unknown class ${unknown.join(', ')} (the model knows ${labels.join(', ')})`);
    return { recipe, thresholds: b.thresholds, station: b.station, line: b.line, ...range(b), keepFlips: b.flips };
  };

  api.post(
    '/api/whatif',
    {
      onRequest: viewer,
      config: { rateLimit: { max: 240, timeWindow: '1 minute' } },
      schema: {
        description:
          "The verdict every stored inspection of a recipe would get under candidate thresholds: reject rate now vs candidate, the parts that flip, and escapes and false rejects against reviews (or the source's ground truth). Changes nothing.",
        body: WhatIfBody,
      },
    },
    async (req) => {
      const q = queryOf(req.body);
      const parts = await deps.repo.countForWhatIf(q);
      if (parts > deps.syncMaxParts)
        throw new StationError(
          'STN_ERR_WHATIF_LARGE',
          `the window holds ${parts} parts, more than the ${deps.syncMaxParts} answered at once (http.whatIfSyncMaxParts): start it as a job (POST /api/whatif/jobs, same body)`,
        );
      return runWhatIf(deps.repo, q);
    },
  );

  api.post(
    '/api/whatif/jobs',
    {
      onRequest: viewer,
      config: { rateLimit: { max: 30, timeWindow: '1 minute' } },
      schema: {
        description:
          "Starts a what-if over any window (a month is fine) in the background: 202 with the job, whose `GET` shows its progress (parts done of the window's total, elapsed, remaining) and, once done, the same result as `POST /api/whatif`. One runs at a time (the line needs the other core).",
        body: WhatIfBody,
      },
    },
    async (req, reply) => {
      const job = await deps.jobs.start(queryOf(req.body), req.principal!.username);
      return reply.code(202).header('location', `/api/whatif/jobs/${job.id}`).send(job);
    },
  );

  const JobParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
  api.get(
    '/api/whatif/jobs/:id',
    {
      onRequest: viewer,
      schema: {
        description: 'A what-if job: its state and progress, and its result once done (kept an hour after it ends; a restart forgets jobs).',
        params: JobParams,
      },
    },
    async (req) => deps.jobs.get(req.params.id),
  );
  api.post(
    '/api/whatif/jobs/:id/cancel',
    {
      onRequest: viewer,
      schema: { description: 'Cancels a running what-if job (its starter, or an admin); an ended job is returned as it ended.', params: JobParams },
    },
    async (req) => {
      const job = deps.jobs.get(req.params.id);
      const p = req.principal!;
      if (job.startedBy !== p.username && p.role !== 'admin')
        throw new StationError('STN_ERR_HTTP_FORBIDDEN', `only the user who started this job (${job.startedBy}) or an admin may cancel it`);
      return deps.jobs.cancel(req.params.id);
    },
  );

  api.post(
    '/api/whatif/suggest',
    {
      onRequest: viewer,
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
