import type { FastifyInstance, FastifyReply } from 'fastify';
import { Type, type Static, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { StationError } from '../errors/index.js';
import { LOT_MAX } from '../plc/tags.js';
import { lotCsv, lotJson, lotPdf, lotReport } from '../report/index.js';
import type { ImageStore, Lots } from '../store/index.js';
import { need } from './auth.js';
import { ErrorBody } from './schemas.js';

export interface LotDeps {
  lots: Lots;
  images: Pick<ImageStore, 'open'>;
}

/** A lot in the path, as the PLC names it (recorded lots are at most LOT_MAX characters). */
const LotParams = Type.Object({ lot: Type.String({ minLength: 1, maxLength: LOT_MAX, description: 'the lot or production order from the PLC (exact)' }) });
const LotQuery = Type.Object(
  { station: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "only this station's records of the lot" })) },
  { additionalProperties: false },
);
type LotRequest = { params: Static<typeof LotParams>; query: Static<typeof LotQuery> };

/** A file name for the download: the lot with anything but letters, digits and . _ - replaced. */
const fileOf = (lot: string, ext: string) => `lot-${lot.replace(/[^A-Za-z0-9._-]/g, '_')}.${ext}`;

/**
 * Genealogy (issue #19): a lot's summary for the gallery's lot page, and the lot report as PDF,
 * CSV and JSON, each streamed from the database page by page (no lot is ever held in memory).
 */
export async function lotRoutes(app: FastifyInstance, deps: LotDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const viewer = need('viewer');
  const schema = (description: string) => ({ description, params: LotParams, querystring: LotQuery, response: { 400: ErrorBody, 404: ErrorBody } });

  const reportOf = async (req: LotRequest) => {
    const rep = await lotReport(deps.lots, deps.images, { lot: req.params.lot, station: req.query.station });
    if (!rep)
      throw new StationError(
        'STN_ERR_LOT_NOT_FOUND',
        `no record names lot ${JSON.stringify(req.params.lot)}${req.query.station ? ` at station ${req.query.station}` : ''}`,
      );
    return rep;
  };
  const download = (reply: FastifyReply, type: string, file: string) =>
    reply.type(type).header('content-disposition', `attachment; filename="${file}"`).header('cache-control', 'no-store');

  api.get(
    '/api/lots/:lot',
    {
      onRequest: viewer,
      schema: {
        ...schema(
          "The lot's summary: parts, verdicts, yield (and after reviews), rejects by class, uninspected parts by cause, reviews, recipe versions, models, stations, time span and the chain head per station. Its parts: GET /api/inspections?lot=.",
        ),
        response: { 200: Type.Object({}, { additionalProperties: true }), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => (await reportOf(req)).summary,
  );

  api.get(
    '/api/lots/:lot/report.pdf',
    { onRequest: viewer, schema: schema('The lot report as PDF: summary, every part, the rejects’ thumbnails.') },
    async (req, reply) => {
      const rep = await reportOf(req);
      const pdf = lotPdf(rep, (err) => req.log.error({ err }, 'lot report PDF ended early'));
      return download(reply, 'application/pdf', fileOf(rep.summary.lot, 'pdf')).send(pdf);
    },
  );

  api.get('/api/lots/:lot/report.csv', { onRequest: viewer, schema: schema('Every part of the lot as CSV, in capture order.') }, async (req, reply) => {
    const rep = await reportOf(req);
    const csv = lotCsv(rep, (err) => req.log.error({ err }, 'lot report CSV ended early'));
    return download(reply, 'text/csv; charset=utf-8', fileOf(rep.summary.lot, 'csv')).send(csv);
  });

  api.get(
    '/api/lots/:lot/report.json',
    {
      onRequest: viewer,
      schema: schema('The lot report as one JSON document streamed: {report, generatedAt, summary, parts: [...]}, parts in capture order.'),
    },
    async (req, reply) => {
      const rep = await reportOf(req);
      return download(reply, 'application/json; charset=utf-8', fileOf(rep.summary.lot, 'json')).send(lotJson(rep));
    },
  );
}
