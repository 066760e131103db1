import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Thresholds, type Recipe } from '../config/schema.js';
import { StationError } from '../errors/index.js';
import type { Repository } from '../store/index.js';
import { runSuggest, runWhatIf } from '../whatif/index.js';
import { need } from './auth.js';

export interface WhatIfDeps {
  repo: Pick<Repository, 'getRecipe'> & Parameters<typeof runWhatIf>[0] & Parameters<typeof runSuggest>[0];
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

  api.post(
    '/api/whatif',
    {
      onRequest: viewer,
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
