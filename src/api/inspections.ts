import { Readable, pipeline } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { Type, type Static, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { stringify as csvStringify } from 'csv-stringify';
import { StationError } from '../errors/index.js';
import { LOT_MAX, PART_ID_MAX } from '../plc/tags.js';
import { CURSOR_PATTERN, type InspectionFilter, type Repository } from '../store/index.js';
import { need } from './auth.js';
import { ErrorBody, hidePaths, IdParams, idOf, Verdict } from './schemas.js';

export interface InspectionDeps {
  repo: Pick<Repository, 'listInspections' | 'getInspection' | 'reviewsOf'>;
}

const Box = Type.Union([Type.Tuple([Type.Number(), Type.Number(), Type.Number(), Type.Number()]), Type.Null()]);
const DefectOut = Type.Object({
  class: Type.String(),
  score: Type.Number(),
  rejecting: Type.Boolean(),
  area: Type.Union([Type.Number(), Type.Null()]),
  box: Box,
});
const InspectionOut = Type.Object(
  {
    id: Type.Integer(),
    station: Type.String(),
    partSeq: Type.Integer(),
    source: Type.String(),
    partId: Type.Union([Type.String(), Type.Null()]),
    lot: Type.Union([Type.String(), Type.Null()]),
    /** The code read from the part in its recipe's code region (null: none read, or the recipe reads none). */
    code: Type.Union([Type.String(), Type.Null()]),
    capturedAt: Type.String(),
    decidedAt: Type.String(),
    verdict: Verdict,
    errorCode: Type.Union([Type.String(), Type.Null()]),
    reasons: Type.Unknown(),
    maxScore: Type.Number(),
    defectCount: Type.Integer(),
    latencyMs: Type.Number(),
    timings: Type.Unknown(),
    recipe: Type.String(),
    defects: Type.Array(DefectOut),
    images: Type.Array(Type.String()),
    /** The part's current review in the listing (null: not reviewed); one inspection lists all of them under `reviews`. */
    review: Type.Optional(Type.Union([Type.Object({ label: Type.String(), class: Type.Union([Type.String(), Type.Null()]) }), Type.Null()])),
  },
  { additionalProperties: true },
);

/** The filters of the listing, the same for the JSON pages and the CSV download. */
const Filters = {
  verdict: Type.Optional(Verdict),
  class: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  recipe: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  station: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  line: Type.Optional(Type.String({ maxLength: 128 })),
  from: Type.Optional(Type.String({ format: 'date-time' })),
  to: Type.Optional(Type.String({ format: 'date-time' })),
  reviewed: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
  minScore: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  partId: Type.Optional(Type.String({ minLength: 1, maxLength: PART_ID_MAX, description: "the part's serial from the PLC (exact)" })),
  lot: Type.Optional(Type.String({ minLength: 1, maxLength: LOT_MAX, description: 'the lot or production order from the PLC (exact)' })),
};
const FilterQuery = Type.Object(Filters, { additionalProperties: false });

function filterOf(q: Static<typeof FilterQuery>): Omit<InspectionFilter, 'limit'> {
  return {
    verdict: q.verdict,
    class: q.class,
    recipe: q.recipe,
    station: q.station,
    line: q.line,
    from: q.from ? new Date(q.from) : undefined,
    to: q.to ? new Date(q.to) : undefined,
    reviewed: q.reviewed === undefined ? undefined : q.reviewed === 'true',
    minScore: q.minScore,
    partId: q.partId,
    lot: q.lot,
  };
}

const CSV_COLUMNS = [
  'id',
  'station',
  'partSeq',
  'capturedAt',
  'verdict',
  'errorCode',
  'recipe',
  'maxScore',
  'defectCount',
  'classes',
  'latencyMs',
  'partId',
  'lot',
  'code',
  'review',
];
/** Rows read per database round trip while streaming a CSV download (the includes bind one parameter per row: SQLite allows 999). */
const CSV_PAGE = 500;

/** Inspections: the listing (keyset pages), one inspection with its reviews, and the CSV download. */
export async function inspectionRoutes(app: FastifyInstance, deps: InspectionDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const viewer = need('viewer');

  api.get(
    '/api/inspections',
    {
      onRequest: viewer,
      schema: {
        querystring: Type.Object(
          {
            ...Filters,
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
            cursor: Type.Optional(Type.String({ pattern: CURSOR_PATTERN, description: 'nextCursor of the previous page (opaque)' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(InspectionOut), nextCursor: Type.Union([Type.String(), Type.Null()]) }), 400: ErrorBody },
      },
    },
    async (req) => deps.repo.listInspections({ ...filterOf(req.query), limit: req.query.limit, cursor: req.query.cursor }) as never,
  );

  api.get(
    '/api/inspections/:id',
    {
      onRequest: viewer,
      schema: { params: IdParams, response: { 200: Type.Object({}, { additionalProperties: true }), 404: ErrorBody } },
    },
    async (req) => {
      const row = await deps.repo.getInspection(idOf(req.params));
      if (!row) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no inspection ${idOf(req.params)}`);
      return hidePaths(req.principal, { ...row, reviews: await deps.repo.reviewsOf(idOf(req.params)) });
    },
  );

  api.get(
    '/api/inspections.csv',
    {
      onRequest: viewer,
      schema: {
        description:
          'Every inspection matching the filters (the same as the listing) as CSV, newest first, streamed from the database in keyset pages: no row limit, memory stays flat.',
        querystring: FilterQuery,
      },
    },
    async (req, reply) => {
      const csv = inspectionsCsv(deps.repo, filterOf(req.query), (err) => req.log.error({ err }, 'CSV download ended early'));
      return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="inspections.csv"').send(csv);
    },
  );
}

/**
 * Every inspection `filter` matches as CSV, newest first, read in keyset pages as the stream is
 * consumed: Readable.from waits while the stringifier (and so the socket) is full, so one page is
 * in memory at a time. A cell that starts with = + - @ is escaped, not a formula when a
 * spreadsheet opens it. `onError` hears a read that failed mid-stream (the stream then ends).
 */
export function inspectionsCsv(repo: Pick<Repository, 'listInspections'>, filter: Omit<InspectionFilter, 'limit' | 'cursor'>, onError: (err: Error) => void) {
  async function* rows() {
    let cursor: string | undefined;
    for (;;) {
      const page = await repo.listInspections({ ...filter, limit: CSV_PAGE, cursor });
      for (const i of page.items)
        yield [
          i.id,
          i.station,
          i.partSeq,
          i.capturedAt,
          i.verdict,
          i.errorCode ?? '',
          i.recipe,
          i.maxScore,
          i.defectCount,
          [...new Set(i.defects.map((d) => d.class))].join(' '),
          i.latencyMs,
          i.partId ?? '',
          i.lot ?? '',
          i.code ?? '',
          i.review ? `${i.review.label}${i.review.class ? `:${i.review.class}` : ''}` : '',
        ];
      if (page.nextCursor === null) return;
      cursor = page.nextCursor;
      // A turn of the event loop between pages: a client that reads as fast as the rows come never
      // fills the socket, and without a turn the pages would follow each other in microtasks
      // (SQLite answers on this thread), holding the PLC's writes and every request until the end.
      await nextTurn();
    }
  }
  const csv = csvStringify({ header: true, columns: CSV_COLUMNS, escape_formulas: true });
  pipeline(Readable.from(rows()), csv, (err) => {
    if (err) onError(err);
  });
  return csv;
}
