import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { StationError } from '../errors/index.js';
import type { Repository } from '../store/index.js';
import { need } from './auth.js';
import { ErrorBody, IdParams, idOf } from './schemas.js';

export interface ReviewDeps {
  repo: Pick<Repository, 'getInspection' | 'addReview'>;
  /** The labels of a recipe's model on this line (null: the recipe is not on this line). */
  recipeLabels: (recipe: string) => readonly string[] | null;
  recipeNames: readonly string[];
}

/**
 * A person's judgement of an inspection. An escape is a defect the station passed, a false reject a
 * good part it rejected: each only on such a part. The class of an escape is one of the recipe
 * model's labels (a misspelt class would train a class nobody meant; it also becomes a folder
 * name and a YAML value in dataset exports, issue #15). The part's current label said again adds
 * nothing: 200 with the current review instead of 201.
 */
const ReviewBody = Type.Object({
  id: Type.Integer(),
  label: Type.String(),
  class: Type.Union([Type.String(), Type.Null()]),
  note: Type.String(),
  by: Type.String(),
  createdAt: Type.String(),
});

export async function reviewRoutes(app: FastifyInstance, deps: ReviewDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const recipes = new Set(deps.recipeNames);

  api.post(
    '/api/inspections/:id/review',
    {
      onRequest: need('quality'),
      schema: {
        description:
          "A person's judgement: confirmed, false_reject (a good part the station rejected; not on a passed part) or escape (a defect the station passed; only on a passed part, class required; 400 STN_ERR_REVIEW_LABEL otherwise). A class is one of the recipe model's labels (400 STN_ERR_REVIEW_CLASS otherwise). The part's current label and class again, with no note or box: 200 and the current review, nothing added.",
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
          200: ReviewBody,
          201: ReviewBody,
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
      if (b.label === 'escape' && row.verdict !== 'pass')
        throw new StationError('STN_ERR_REVIEW_LABEL', `inspection ${id} was not passed (${row.verdict}): an escape is a defect the station passed`);
      if (b.label === 'false_reject' && row.verdict === 'pass')
        throw new StationError('STN_ERR_REVIEW_LABEL', `inspection ${id} was passed: a false reject is a good part the station rejected`);
      if (b.class !== undefined) {
        const labels = recipes.has(row.recipe) ? (deps.recipeLabels(row.recipe) ?? []) : [];
        if (!labels.includes(b.class)) {
          throw new StationError(
            'STN_ERR_REVIEW_CLASS',
            labels.length
              ? `class ${JSON.stringify(b.class)} is not a label of recipe ${row.recipe}'s model (${labels.join(', ')})`
              : `class ${JSON.stringify(b.class)}: recipe ${row.recipe} is not on this station, so it has no model labels to choose from`,
          );
        }
      }
      const { created, ...review } = await deps.repo.addReview(id, req.principal!.userId, b);
      return reply.status(created ? 201 : 200).send({ ...review, by: req.principal!.username, createdAt: review.createdAt.toISOString() });
    },
  );
}
