import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { stringify as csvStringify } from 'csv-stringify/sync';
import { dayStart, type PlantClock, shiftAt } from '../config/index.js';
import { shiftPdf, shiftReport } from '../report/index.js';
import { ALLOWED_BINS, type Repository } from '../store/index.js';
import { StationError } from '../errors/index.js';
import { need } from './auth.js';
import { Range, rangeOf, scopeOf } from './schemas.js';

export interface StatisticsDeps {
  repo: Pick<Repository, 'yieldStats' | 'scoreHistograms' | 'pareto' | 'stationStats' | 'stations' | 'db'>;
  /** The plant's zone and shifts, as the running configuration says. */
  plant: () => PlantClock;
}

const Bucket = Type.Union([Type.Literal('hour'), Type.Literal('shift'), Type.Literal('day')], { default: 'hour' });

/** Yield, score histograms, Pareto of defect classes, per-station figures; all for viewers. */
export async function statisticsRoutes(app: FastifyInstance, deps: StatisticsDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const viewer = need('viewer');

  api.get(
    '/api/plant',
    {
      onRequest: viewer,
      schema: {
        description: "The plant's time zone and shifts (configuration `plant`), and the current shift and day: the gallery shows every time in this zone.",
      },
    },
    async () => {
      const clock = deps.plant();
      const now = Date.now();
      const shift = shiftAt(clock, now);
      return {
        timeZone: clock.timeZone,
        shifts: clock.shifts,
        now: { shift: shift.name, shiftStart: new Date(shift.start).toISOString(), dayStart: new Date(dayStart(clock, now)).toISOString() },
      };
    },
  );

  const ShiftQuery = Type.Object(
    {
      date: Type.Optional(
        Type.String({
          pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$',
          description: 'the plant day the shift starts on (default: the latest shift of that name, or the one running)',
        }),
      ),
      shift: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 32,
          description: "a shift's name from GET /api/plant (default: the first of the day with `date`, else the one running)",
        }),
      ),
      station: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    },
    { additionalProperties: false },
  );
  const report = async (q: { date?: string; shift?: string; station?: string }) => {
    const clock = deps.plant();
    const rep = await shiftReport(deps.repo, clock, { date: q.date, name: q.shift, station: q.station });
    if (!rep)
      throw new StationError(
        'STN_ERR_SHIFT_UNKNOWN',
        `no shift ${JSON.stringify(q.shift)}: the plant's shifts are ${clock.shifts.map((s) => s.name).join(', ')}`,
      );
    return rep;
  };
  api.get(
    '/api/reports/shift',
    {
      onRequest: viewer,
      schema: {
        description:
          "A shift's report (the hand-over): parts, yield before and after reviews, per hour, rejects by class, the highest-scoring rejects, fail-safe rejects by cause and the audited changes, in the plant's zone. `.pdf` for the printable one.",
        querystring: ShiftQuery,
      },
    },
    async (req) => report(req.query),
  );
  api.get('/api/reports/shift.pdf', { onRequest: viewer, schema: { querystring: ShiftQuery } }, async (req, reply) => {
    const rep = await report(req.query);
    return reply
      .type('application/pdf')
      .header('content-disposition', `attachment; filename="shift-${rep.shift.date}-${rep.shift.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.pdf"`)
      .send(shiftPdf(rep));
  });

  api.get(
    '/api/stats/yield',
    {
      onRequest: viewer,
      schema: {
        description:
          "Yield and reject rate per hour, shift or day (the plant's shifts and days, in its zone: configuration `plant`; shift buckets carry the shift's name); reviews correct it (reviewedYield).",
        querystring: Type.Object({ bucket: Bucket, ...Range }, { additionalProperties: false }),
      },
    },
    async (req) => {
      const { from, to } = rangeOf(req.query);
      return {
        bucket: req.query.bucket,
        from: from.toISOString(),
        to: to.toISOString(),
        buckets: await deps.repo.yieldStats(req.query.bucket as 'hour', from, to, scopeOf(req.query), deps.plant()),
      };
    },
  );
  api.get(
    '/api/stats/yield.csv',
    { onRequest: viewer, schema: { querystring: Type.Object({ bucket: Bucket, ...Range }, { additionalProperties: false }) } },
    async (req, reply) => {
      const { from, to } = rangeOf(req.query);
      // One row per bucket: small whatever the range, so built at once.
      const rows = await deps.repo.yieldStats(req.query.bucket as 'hour', from, to, scopeOf(req.query), deps.plant());
      const cols = ['start', 'shift', 'parts', 'pass', 'fail', 'uninspected', 'yield', 'rejectRate', 'falseRejects', 'escapes', 'reviewedYield'] as const;
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="yield-${req.query.bucket}.csv"`)
        .send(
          csvStringify(
            rows.map((r) => cols.map((c) => r[c])),
            { header: true, columns: [...cols], escape_formulas: true },
          ),
        );
    },
  );
  api.get(
    '/api/stats/scores',
    {
      onRequest: viewer,
      schema: {
        description: `Score histogram per class over every finding kept, to see what a threshold costs. \`bins\` divides the 100 fine bins the hourly aggregates keep: one of ${ALLOWED_BINS.join(', ')}.`,
        querystring: Type.Object(
          { bins: Type.Integer({ enum: [...ALLOWED_BINS], default: 20, description: `one of ${ALLOWED_BINS.join(', ')}` }), ...Range },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const { from, to } = rangeOf(req.query);
      return deps.repo.scoreHistograms(from, to, req.query.bins, scopeOf(req.query));
    },
  );
  api.get('/api/stats/pareto', { onRequest: viewer, schema: { querystring: Type.Object(Range, { additionalProperties: false }) } }, async (req) => {
    const { from, to } = rangeOf(req.query);
    return { from: from.toISOString(), to: to.toISOString(), classes: await deps.repo.pareto(from, to, scopeOf(req.query)) };
  });
  api.get(
    '/api/stats/stations',
    {
      onRequest: viewer,
      schema: {
        description: 'Parts, verdicts and reject rate per station (many stations, one database): stations and lines side by side.',
        querystring: Type.Object(Range, { additionalProperties: false }),
      },
    },
    async (req) => {
      const { from, to } = rangeOf(req.query);
      return { from: from.toISOString(), to: to.toISOString(), stations: await deps.repo.stationStats(from, to, scopeOf(req.query)) };
    },
  );
  api.get(
    '/api/stations',
    { onRequest: viewer, schema: { description: 'Every station that records into this database, with its site, area and line.' } },
    async () => ({ items: await deps.repo.stations() }),
  );
}
