import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { StationError } from '../errors/index.js';
import type { Repository } from '../store/index.js';
import { need } from './auth.js';
import { ErrorBody, IdParams, idOf } from './schemas.js';

export interface ReviewDeps {
  repo: Pick<Repository, 'getInspection' | 'addReview' | 'undoReview' | 'reviewTargets'>;
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

const Label = Type.Union([Type.Literal('confirmed'), Type.Literal('false_reject'), Type.Literal('escape')]);
const ClassName = Type.String({ minLength: 1, maxLength: 64 });
const Note = Type.String({ maxLength: 2000 });

/** The most parts one bulk review takes (a page of the gallery's selection is 48). */
export const BULK_REVIEW_MAX = 500;

/** The part's current review after an undo (null: it is unreviewed again). */
const CurrentReview = Type.Union([
  Type.Object({ id: Type.Integer(), label: Type.String(), class: Type.Union([Type.String(), Type.Null()]), by: Type.String(), at: Type.String() }),
  Type.Null(),
]);

/**
 * Whether a review fits its part (the one rule for one part and for a bulk review): an escape
 * only on a passed part and with a class, a false reject only on a rejected one, a class only
 * from the recipe model's labels.
 */
function checkReview(
  part: { id: number; verdict: string; recipe: string },
  b: { label: string; class?: string },
  labelsOf: (recipe: string) => readonly string[],
): void {
  if (b.label === 'escape' && !b.class) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', 'an escape needs the class of the defect the station missed');
  if (b.label === 'escape' && part.verdict !== 'pass')
    throw new StationError('STN_ERR_REVIEW_LABEL', `inspection ${part.id} was not passed (${part.verdict}): an escape is a defect the station passed`);
  if (b.label === 'false_reject' && part.verdict === 'pass')
    throw new StationError('STN_ERR_REVIEW_LABEL', `inspection ${part.id} was passed: a false reject is a good part the station rejected`);
  if (b.class !== undefined) {
    const labels = labelsOf(part.recipe);
    if (!labels.includes(b.class)) {
      throw new StationError(
        'STN_ERR_REVIEW_CLASS',
        labels.length
          ? `class ${JSON.stringify(b.class)} is not a label of recipe ${part.recipe}'s model (${labels.join(', ')})`
          : `class ${JSON.stringify(b.class)}: recipe ${part.recipe} is not on this station, so it has no model labels to choose from`,
      );
    }
  }
}

export async function reviewRoutes(app: FastifyInstance, deps: ReviewDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const recipes = new Set(deps.recipeNames);
  const labelsOf = (recipe: string) => (recipes.has(recipe) ? (deps.recipeLabels(recipe) ?? []) : []);

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
            label: Label,
            class: Type.Optional(ClassName),
            box: Type.Optional(Type.Tuple([Type.Number(), Type.Number(), Type.Number(), Type.Number()])),
            note: Type.Optional(Note),
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
      const row = await deps.repo.getInspection(id);
      if (!row) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no inspection ${id}`);
      checkReview({ id, verdict: row.verdict, recipe: row.recipe }, b, labelsOf);
      const { created, ...review } = await deps.repo.addReview(id, req.principal!.userId, b);
      return reply.status(created ? 201 : 200).send({ ...review, by: req.principal!.username, createdAt: review.createdAt.toISOString() });
    },
  );

  api.delete(
    '/api/inspections/:id/reviews/:reviewId',
    {
      onRequest: need('quality'),
      schema: {
        description:
          "Undoes the part's latest review: the part's label goes back to the review before it, or to unreviewed, in the gallery's filters, the statistics, exports and retention. The undo is in the audit log with what the review said. Only the latest review (409 STN_ERR_REVIEW_UNDO otherwise). Answers the part's current review after the undo (null: unreviewed).",
        params: Type.Object({ id: IdParams.properties.id, reviewId: IdParams.properties.id }),
        response: { 200: Type.Object({ current: CurrentReview }), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => ({ current: await deps.repo.undoReview(idOf(req.params), Number(req.params.reviewId), req.principal!.userId) }),
  );

  api.post(
    '/api/reviews/bulk',
    {
      onRequest: need('quality'),
      schema: {
        description: `One review of many parts at once (up to ${BULK_REVIEW_MAX}, e.g. a selection in the gallery): each part is checked as a single review is, and reviewed in its own transaction. A part the review does not fit (or that does not exist) is refused with its code and the others are reviewed; a part whose current label it already is counts as unchanged.`,
        body: Type.Object(
          {
            ids: Type.Array(Type.Integer({ minimum: 1, maximum: 2_147_483_647 }), { minItems: 1, maxItems: BULK_REVIEW_MAX, uniqueItems: true }),
            label: Label,
            class: Type.Optional(ClassName),
            note: Type.Optional(Note),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            created: Type.Integer(),
            unchanged: Type.Integer(),
            refused: Type.Array(Type.Object({ id: Type.Integer(), code: Type.String(), message: Type.String() })),
          }),
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
        },
      },
    },
    async (req) => {
      const { ids, ...b } = req.body;
      if (b.label === 'escape' && !b.class) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', 'an escape needs the class of the defect the station missed');
      const parts = new Map((await deps.repo.reviewTargets(ids)).map((p) => [p.id, p]));
      const out = { created: 0, unchanged: 0, refused: [] as { id: number; code: string; message: string }[] };
      for (const id of ids) {
        const part = parts.get(id);
        try {
          if (!part) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no inspection ${id}`);
          checkReview(part, b, labelsOf);
          const { created } = await deps.repo.addReview(id, req.principal!.userId, b);
          if (created) out.created++;
          else out.unchanged++;
        } catch (err) {
          if (!(err instanceof StationError)) throw err;
          out.refused.push({ id, code: err.code, message: err.message });
        }
      }
      return out;
    },
  );
}
