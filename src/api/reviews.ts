import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { StationError } from '../errors/index.js';
import { isSafeName, SAFE_NAME_PATTERN, type Repository } from '../store/index.js';
import { need } from './auth.js';
import { ErrorBody, IdParams, idOf } from './schemas.js';

export interface ReviewDeps {
  repo: Pick<Repository, 'getInspection' | 'addReview'>;
  /** The labels of a recipe's model on this line (null: the recipe is not on this line). */
  recipeLabels: (recipe: string) => readonly string[] | null;
  recipeNames: readonly string[];
}

/**
 * A person's judgement of an inspection. The class of an escape becomes a folder name and a YAML
 * value in dataset exports, so it must be one of the model's labels or a plain name
 * (issue #15, findings 1 and 2).
 */
export async function reviewRoutes(app: FastifyInstance, deps: ReviewDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const recipes = new Set(deps.recipeNames);

  api.post(
    '/api/inspections/:id/review',
    {
      onRequest: need('quality'),
      schema: {
        description: `A person's judgement: confirmed, false_reject (a good part was rejected) or escape (a defect the station missed; class required). A class is one of the recipe model's labels or a plain name matching ${SAFE_NAME_PATTERN} (400 STN_ERR_REVIEW_CLASS otherwise).`,
        params: IdParams,
        body: Type.Object(
          {
            label: Type.Union([Type.Literal('confirmed'), Type.Literal('false_reject'), Type.Literal('escape')]),
            class: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            box: Type.Optional(Type.Tuple([Type.Number(), Type.Number(), Type.Number(), Type.Number()])),
            note: Type.Optional(Type.String({ maxLength: 2000 })),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            id: Type.Integer(),
            label: Type.String(),
            class: Type.Union([Type.String(), Type.Null()]),
            note: Type.String(),
            by: Type.String(),
            createdAt: Type.String(),
          }),
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const id = idOf(req.params);
      if (b.label === 'escape' && !b.class) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', 'an escape needs the class of the defect the station missed');
      const row = await deps.repo.getInspection(id);
      if (!row) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no inspection ${id}`);
      if (b.class !== undefined) {
        const labels = recipes.has(row.recipe) ? (deps.recipeLabels(row.recipe) ?? []) : [];
        if (!labels.includes(b.class) && !isSafeName(b.class)) {
          throw new StationError(
            'STN_ERR_REVIEW_CLASS',
            `class ${JSON.stringify(b.class)} is neither a label of the model (${labels.join(', ')}) nor a plain name (${SAFE_NAME_PATTERN})`,
          );
        }
      }
      const review = await deps.repo.addReview(id, req.principal!.userId, b);
      return reply.status(201).send({ ...review, by: req.principal!.username, createdAt: review.createdAt.toISOString() });
    },
  );
}
