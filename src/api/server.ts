import { createHash, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import { isErrorCode, StationError, type ErrorCode } from '../errors/index.js';
import type { Line } from '../line/index.js';
import { IMAGE_VARIANTS, roleAtLeast, type Accounts, type Exporter, type ImageStore, type ImageVariant, type Repository } from '../store/index.js';
import { stringify as csvStringify } from 'csv-stringify/sync';
import { actorOf, need, registerAuth, SESSION_COOKIE } from './auth.js';
import { registerRecipes } from './recipes.js';
import { ErrorBody, IdParams, idOf } from './schemas.js';
import { registerWhatIf, type WhatIfDeps } from './whatif.js';
import { existsSync } from 'node:fs';
import type { EventEmitter } from 'node:events';
import fastifyStatic from '@fastify/static';

export interface ApiDeps extends WhatIfDeps {
  repo: Repository;
  accounts: Accounts;
  /** Set the session cookie with Secure (when served over TLS). */
  secureCookies: boolean;
  /** Emits `inspection` (id) when a record is written: the gallery's live mode. */
  live: EventEmitter<{ inspection: [number] }>;
  /** The built gallery (Vite output); absent in a source checkout that was not built. */
  webDir: string;
  exporter: Exporter;
  images: ImageStore;
  line: Line;
  /** sha256 (hex) of API keys allowed to push frames. */
  pushKeySha256: readonly string[];
  bodyLimit: number;
  /** Health facts: `status` (ok, degraded, failed), `problems`, self-test, counters. */
  health: () => { status: string; problems: string[] } & Record<string, unknown>;
  /** Readiness: the line decides and the PLC (if any) listens. */
  ready: () => { ready: boolean; problems: string[] } & Record<string, unknown>;
  metrics: { text(): Promise<string>; contentType: string };
  reload: (actor: string) => Promise<unknown>;
  /** HTTPS key and certificate (PEM); null: plain HTTP. */
  tls: { cert: Buffer; key: Buffer } | null;
  rateLimitPerMinute: number;
  version: string;
}

/** HTTP status for each stable error code; anything else is a 500 without details. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  STN_ERR_HTTP_NOT_FOUND: 404,
  STN_ERR_HTTP_UNAUTHORIZED: 401,
  STN_ERR_HTTP_LOGIN: 401,
  STN_ERR_HTTP_FORBIDDEN: 403,
  STN_ERR_HTTP_CSRF: 403,
  STN_ERR_HTTP_CONFLICT: 409,
  STN_ERR_CONFIG_INVALID: 422,
  STN_ERR_CONFIG_PARSE: 422,
  STN_ERR_CONFIG_NOT_FOUND: 422,
  STN_ERR_CONFIG_RELOAD: 409,
  STN_ERR_HTTP_RATE_LIMIT: 429,
  STN_ERR_RECIPE_UNKNOWN: 404,
  STN_ERR_RECIPE_CLASS: 400,
  STN_ERR_RECIPE_RESTART: 409,
  STN_ERR_WHATIF_FLOOR: 400,
  STN_ERR_MODEL_NOT_FOUND: 404,
  STN_ERR_MODEL_INVALID: 422,
  STN_ERR_WHATIF_RECIPE: 400,
  STN_ERR_HTTP_BAD_REQUEST: 400,
  STN_ERR_HTTP_PUSH_DISABLED: 404,
  STN_ERR_IMAGE_EMPTY: 422,
  STN_ERR_IMAGE_CORRUPT: 422,
  STN_ERR_IMAGE_FORMAT: 422,
  STN_ERR_IMAGE_TOO_LARGE: 413,
  STN_ERR_LINE_DROPPED: 503,
  STN_ERR_LINE_STOPPED: 503,
  STN_ERR_LINE_WORKER: 503,
};

const Verdict = Type.Union([Type.Literal('pass'), Type.Literal('fail'), Type.Literal('uninspected')]);
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
  },
  { additionalProperties: true },
);

/**
 * The station's HTTP API (fastify, a TypeBox schema on every route, OpenAPI at /docs/json).
 * Reads are open on the loopback default; every write needs a key (users and roles come with
 * the gallery).
 */
export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: deps.bodyLimit,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true } },
    // Live streams (server-sent events) must not hold a shutdown open.
    forceCloseConnections: true,
    ...(deps.tls ? { https: { cert: deps.tls.cert, key: deps.tls.key } } : {}),
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setErrorHandler((err: FastifyError | StationError, _req, reply) => {
    if (err instanceof StationError || isErrorCode((err as { code?: string }).code)) {
      const code = (err as StationError).code;
      return reply.status(STATUS[code] ?? 500).send({ code, message: err.message });
    }
    const fe = err as FastifyError;
    if (fe.validation) return reply.status(400).send({ code: 'STN_ERR_HTTP_BAD_REQUEST', message: fe.message });
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send({ code: fe.code ?? 'STN_ERR_HTTP_BAD_REQUEST', message: fe.message });
    }
    // Never a stack trace on 5xx.
    return reply.status(500).send({ code: 'STN_ERR_INTERNAL', message: 'internal error' });
  });
  // With type coercion "1e309" becomes Infinity, and JSON.parse turns 1e309 into Infinity too;
  // Ajv's integer and range checks let it through. No handler ever sees a non-finite number.
  app.addHook('preHandler', async (req) => {
    const bad = nonFinite(req.params) ?? nonFinite(req.query) ?? (Buffer.isBuffer(req.body) ? null : nonFinite(req.body));
    if (bad !== null) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', `${bad} is not a finite number`);
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ code: 'STN_ERR_HTTP_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );

  await app.register(swagger, {
    openapi: {
      info: { title: 'Inspection station API', version: deps.version },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(cookie);
  // Every route is limited per client address; login has its own, stricter limit.
  await app.register(rateLimit, {
    global: true,
    max: deps.rateLimitPerMinute,
    timeWindow: '1 minute',
    errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, code: 'STN_ERR_HTTP_RATE_LIMIT', message: `more than ${ctx.max} requests in ${ctx.after}` }),
  });
  registerAuth(app, deps.accounts);
  const viewer = need('viewer');

  // Images are bodies of their own type; any image type is read as bytes.
  app.addContentTypeParser(/^(image\/.*|application\/octet-stream)$/, { parseAs: 'buffer', bodyLimit: deps.bodyLimit }, (_req, body, done) => done(null, body));

  app.get(
    '/api/health',
    {
      schema: {
        description:
          'Status (ok, degraded, failed) with what is wrong, the start-up self-test, line, recorder, disk, PLC link, cameras, models and process memory. Open to all: it says nothing secret.',
        response: { 200: Type.Object({ status: Type.String(), uptimeS: Type.Number() }, { additionalProperties: true }) },
      },
    },
    async () => ({
      ...deps.health(),
      uptimeS: Math.round((Date.now() - deps.line.startedAt) / 1000),
      line: deps.line.summary(),
      cameras: Object.fromEntries(deps.line.cameras),
      models: deps.line.models.map((m) => ({ name: m.name, family: m.family, sha256: m.sha256 })),
    }),
  );

  app.get(
    '/api/ready',
    {
      schema: {
        description: '200 when the station decides parts (line running, database writable, PLC link up if configured); 503 otherwise, with the problems.',
      },
    },
    async (_req, reply) => {
      const r = deps.ready();
      return reply.status(r.ready ? 200 : 503).send(r);
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        description:
          'Prometheus metrics (text format): per-stage latency, parts, verdicts and reasons, drops, late verdicts, queues, PLC link, disk, restarts.',
      },
    },
    async (_req, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.text()),
  );

  app.post(
    '/api/config/reload',
    {
      preHandler: need('admin'),
      schema: {
        description:
          "Re-reads the station file: thresholds, keepGood and a recipe's model or preprocessing (hot swap) apply at once; an invalid file is refused and the running configuration stays; other changes are listed as needing a restart. Audited.",
      },
    },
    async (req) => deps.reload(actorOf(req)),
  );

  app.get(
    '/api/inspections',
    {
      preHandler: viewer,
      schema: {
        querystring: Type.Object(
          {
            verdict: Type.Optional(Verdict),
            class: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            recipe: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            station: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            line: Type.Optional(Type.String({ maxLength: 128 })),
            from: Type.Optional(Type.String({ format: 'date-time' })),
            to: Type.Optional(Type.String({ format: 'date-time' })),
            reviewed: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
            minScore: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
            cursor: Type.Optional(Type.Integer({ minimum: 1 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(InspectionOut), nextCursor: Type.Union([Type.Integer(), Type.Null()]) }), 400: ErrorBody },
      },
    },
    async (req) => {
      const q = req.query;
      return deps.repo.listInspections({
        verdict: q.verdict,
        class: q.class,
        recipe: q.recipe,
        station: q.station,
        line: q.line,
        from: q.from ? new Date(q.from) : undefined,
        to: q.to ? new Date(q.to) : undefined,
        reviewed: q.reviewed === undefined ? undefined : q.reviewed === 'true',
        minScore: q.minScore,
        limit: q.limit,
        cursor: q.cursor,
      }) as never;
    },
  );

  app.get(
    '/api/inspections/:id',
    {
      preHandler: viewer,
      schema: { params: IdParams, response: { 200: Type.Object({}, { additionalProperties: true }), 404: ErrorBody } },
    },
    async (req) => {
      const row = await deps.repo.getInspection(idOf(req.params));
      if (!row) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no inspection ${idOf(req.params)}`);
      return { ...row, reviews: await deps.repo.reviewsOf(idOf(req.params)) };
    },
  );

  app.post(
    '/api/inspections/:id/review',
    {
      preHandler: need('quality'),
      schema: {
        description: "A person's judgement: confirmed, false_reject (a good part was rejected) or escape (a defect the station missed; class required).",
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
      if (b.label === 'escape' && !b.class) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', 'an escape needs the class of the defect the station missed');
      if (!(await deps.repo.getInspection(idOf(req.params)))) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no inspection ${idOf(req.params)}`);
      const review = await deps.repo.addReview(idOf(req.params), req.principal!.userId, b);
      return reply.status(201).send({ ...review, by: req.principal!.username, createdAt: review.createdAt.toISOString() });
    },
  );

  const Range = {
    from: Type.Optional(Type.String({ format: 'date-time' })),
    to: Type.Optional(Type.String({ format: 'date-time' })),
    station: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'only this station (many stations, one database)' })),
    line: Type.Optional(Type.String({ maxLength: 128, description: 'only the stations of this line' })),
  };
  const scope = (q: { station?: string; line?: string }) => ({ station: q.station, line: q.line });
  const range = (q: { from?: string; to?: string }) => ({
    from: q.from ? new Date(q.from) : new Date(Date.now() - 7 * 24 * 3600 * 1000),
    to: q.to ? new Date(q.to) : new Date(Date.now() + 60_000),
  });
  app.get(
    '/api/stats/yield',
    {
      preHandler: viewer,
      schema: {
        description: 'Yield and reject rate per hour, shift (06/14/22 h UTC) or day; reviews correct it (reviewedYield).',
        querystring: Type.Object(
          { bucket: Type.Union([Type.Literal('hour'), Type.Literal('shift'), Type.Literal('day')], { default: 'hour' }), ...Range },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const { from, to } = range(req.query);
      return {
        bucket: req.query.bucket,
        from: from.toISOString(),
        to: to.toISOString(),
        buckets: await deps.repo.yieldStats(req.query.bucket as 'hour', from, to, scope(req.query)),
      };
    },
  );
  app.get(
    '/api/stats/yield.csv',
    {
      preHandler: viewer,
      schema: {
        querystring: Type.Object(
          { bucket: Type.Union([Type.Literal('hour'), Type.Literal('shift'), Type.Literal('day')], { default: 'hour' }), ...Range },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      const { from, to } = range(req.query);
      const rows = await deps.repo.yieldStats(req.query.bucket as 'hour', from, to, scope(req.query));
      const cols = ['start', 'parts', 'pass', 'fail', 'uninspected', 'yield', 'rejectRate', 'falseRejects', 'escapes', 'reviewedYield'] as const;
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="yield-${req.query.bucket}.csv"`)
        .send(
          csvStringify(
            rows.map((r) => cols.map((c) => r[c])),
            { header: true, columns: [...cols] },
          ),
        );
    },
  );
  app.get(
    '/api/stats/scores',
    {
      preHandler: viewer,
      schema: {
        description: 'Score histogram per class over every finding kept, to see what a threshold costs.',
        querystring: Type.Object({ bins: Type.Integer({ minimum: 2, maximum: 100, default: 20 }), ...Range }, { additionalProperties: false }),
      },
    },
    async (req) => {
      const { from, to } = range(req.query);
      return deps.repo.scoreHistograms(from, to, req.query.bins, scope(req.query));
    },
  );
  app.get(
    '/api/stats/pareto',
    {
      preHandler: viewer,
      schema: { querystring: Type.Object(Range, { additionalProperties: false }) },
    },
    async (req) => {
      const { from, to } = range(req.query);
      return { from: from.toISOString(), to: to.toISOString(), classes: await deps.repo.pareto(from, to, scope(req.query)) };
    },
  );
  app.get(
    '/api/stats/stations',
    {
      preHandler: viewer,
      schema: {
        description: 'Parts, verdicts and reject rate per station (many stations, one database): stations and lines side by side.',
        querystring: Type.Object(Range, { additionalProperties: false }),
      },
    },
    async (req) => {
      const { from, to } = range(req.query);
      return { from: from.toISOString(), to: to.toISOString(), stations: await deps.repo.stationStats(from, to, scope(req.query)) };
    },
  );
  app.get(
    '/api/stations',
    { preHandler: viewer, schema: { description: 'Every station that records into this database, with its site, area and line.' } },
    async () => ({ items: await deps.repo.stations() }),
  );

  app.post(
    '/api/auth/login',
    {
      config: { rateLimit: { max: 10, timeWindow: '1 minute' } },
      schema: {
        body: Type.Object(
          { username: Type.String({ minLength: 1, maxLength: 64 }), password: Type.String({ minLength: 1, maxLength: 256 }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ token: Type.String(), csrfToken: Type.String(), username: Type.String(), role: Type.String() }), 401: ErrorBody },
      },
    },
    async (req, reply) => {
      const r = await deps.accounts.login(req.body.username, req.body.password);
      if (!r) throw new StationError('STN_ERR_HTTP_LOGIN');
      reply.setCookie(SESSION_COOKIE, r.token, { httpOnly: true, sameSite: 'strict', path: '/', secure: deps.secureCookies, maxAge: 12 * 3600 });
      return { token: r.token, csrfToken: r.csrfToken, username: r.principal.username, role: r.principal.role };
    },
  );
  app.post('/api/auth/logout', { preHandler: viewer }, async (req, reply) => {
    if (req.principal?.sessionTokenHash) await deps.accounts.logout(req.principal.sessionTokenHash);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { ok: true };
  });
  app.get('/api/auth/me', { preHandler: viewer }, async (req) => ({
    username: req.principal!.username,
    role: req.principal!.role,
    kind: req.principal!.kind,
    csrfToken: req.viaCookie ? req.principal!.csrfToken : undefined,
  }));

  const admin = need('admin');
  const RoleT = Type.Union([Type.Literal('viewer'), Type.Literal('quality'), Type.Literal('integrator'), Type.Literal('admin')]);
  app.get('/api/users', { preHandler: admin }, async () => ({ items: await deps.accounts.listUsers() }));
  app.post(
    '/api/users',
    {
      preHandler: admin,
      schema: {
        body: Type.Object(
          {
            username: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.@-]+$' }),
            role: RoleT,
            password: Type.String({ minLength: 8, maxLength: 256 }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      if (await deps.accounts.findUser(req.body.username)) throw new StationError('STN_ERR_HTTP_CONFLICT', `user ${req.body.username} exists`);
      const u = await deps.accounts.createUser(req.body.username, req.body.role, req.body.password);
      await deps.accounts.audit(actorOf(req), 'user.create', req.body.username, { role: req.body.role });
      return reply.status(201).send({ id: u.id, username: req.body.username, role: req.body.role });
    },
  );
  app.post(
    '/api/keys',
    {
      preHandler: admin,
      schema: {
        description: 'A new API key for a machine. The key is in this response only; the station keeps its hash.',
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }), role: RoleT }, { additionalProperties: false }),
      },
    },
    async (req, reply) => {
      const k = await deps.accounts.createApiKey(req.principal!.userId, req.body.name, req.body.role);
      await deps.accounts.audit(actorOf(req), 'key.create', req.body.name, { role: req.body.role, id: k.id });
      return reply.status(201).send({ id: k.id, name: req.body.name, role: req.body.role, key: k.key });
    },
  );
  app.delete('/api/keys/:id', { preHandler: admin, schema: { params: IdParams } }, async (req) => {
    if (!(await deps.accounts.revokeApiKey(idOf(req.params)))) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no active key ${idOf(req.params)}`);
    await deps.accounts.audit(actorOf(req), 'key.revoke', String(idOf(req.params)), {});
    return { revoked: idOf(req.params) };
  });
  app.get(
    '/api/audit',
    {
      preHandler: need('integrator'),
      schema: { querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) }, { additionalProperties: false }) },
    },
    async (req) => ({ items: await deps.accounts.auditLog(req.query.limit) }),
  );

  registerRecipes(app, deps);
  registerWhatIf(app, deps);

  app.get(
    '/api/inspections.csv',
    {
      preHandler: viewer,
      schema: {
        description: 'Every inspection matching the filters as CSV (newest first, at most 100 000 rows).',
        querystring: Type.Object(
          {
            verdict: Type.Optional(Verdict),
            class: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            recipe: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            ...Range,
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      const q = req.query;
      const cols = ['id', 'station', 'partSeq', 'capturedAt', 'verdict', 'errorCode', 'recipe', 'maxScore', 'defectCount', 'classes', 'latencyMs'];
      const out: unknown[][] = [];
      let cursor: number | undefined;
      for (let page = 0; page < 200; page++) {
        const r = await deps.repo.listInspections({
          verdict: q.verdict,
          class: q.class,
          recipe: q.recipe,
          from: q.from ? new Date(q.from) : undefined,
          to: q.to ? new Date(q.to) : undefined,
          limit: 500,
          cursor,
        });
        for (const i of r.items)
          out.push([
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
          ]);
        if (r.nextCursor === null) break;
        cursor = r.nextCursor;
      }
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="inspections.csv"')
        .send(csvStringify(out, { header: true, columns: cols }));
    },
  );

  const ExportId = Type.Object({ id: Type.String({ format: 'uuid' }) });
  app.post(
    '/api/exports',
    {
      preHandler: need('quality'),
      schema: {
        description:
          'A dataset of reviewed images with labels, as a .tar.gz built in the background: ultralytics (images/, labels/, data.yaml) or folders (good/, defect/<class>/).',
        body: Type.Object({ layout: Type.Union([Type.Literal('ultralytics'), Type.Literal('folders')]), ...Range }, { additionalProperties: false }),
      },
    },
    async (req, reply) => {
      const job = deps.exporter.start(req.body.layout, range(req.body), actorOf(req));
      return reply.status(202).send(job);
    },
  );
  app.get('/api/exports/:id', { preHandler: need('quality'), schema: { params: ExportId } }, async (req) => {
    const job = deps.exporter.get(req.params.id);
    if (!job) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no export ${req.params.id}`);
    return job;
  });
  app.get('/api/exports/:id/archive', { preHandler: need('quality'), schema: { params: ExportId } }, async (req, reply) => {
    const job = deps.exporter.get(req.params.id);
    const file = job ? deps.exporter.archivePath(job) : null;
    if (!job || !file) throw new StationError('STN_ERR_HTTP_NOT_FOUND', job ? `export ${job.id} is ${job.state}` : `no export ${req.params.id}`);
    return reply
      .type('application/gzip')
      .header('content-disposition', `attachment; filename="dataset-${job.layout}-${job.id.slice(0, 8)}.tar.gz"`)
      .send(createReadStream(file));
  });

  // Live mode: each recorded inspection and the line's counters, as server-sent events.
  app.get(
    '/api/live',
    { preHandler: viewer, schema: { description: 'Server-sent events: `inspection` (as in the listing) and `counters` every second.' } },
    (req, reply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      const onInspection = async (id: number) => {
        const row = (await deps.repo.listInspections({ limit: 1, cursor: id + 1 })).items[0];
        if (row && row.id === id) send('inspection', row);
      };
      deps.live.on('inspection', onInspection);
      const timer = setInterval(() => send('counters', deps.line.counters), 1000);
      send('counters', deps.line.counters);
      req.raw.on('close', () => {
        clearInterval(timer);
        deps.live.off('inspection', onInspection);
      });
    },
  );

  // The gallery: the built single-page app; unknown non-API paths get its index.
  if (existsSync(deps.webDir)) {
    await app.register(fastifyStatic, { root: deps.webDir, prefix: '/', index: ['index.html'], wildcard: false });
  } else {
    app.get('/', (_req, reply) => reply.type('text/plain').send('The gallery is not built: run `npm run build`.'));
  }

  app.get(
    '/api/inspections/:id/image',
    {
      preHandler: viewer,
      schema: {
        params: IdParams,
        querystring: Type.Object(
          {
            variant: Type.Union(
              IMAGE_VARIANTS.map((v) => Type.Literal(v)),
              { default: 'overlay' },
            ),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      const img = await deps.repo.getImage(idOf(req.params), req.query.variant as ImageVariant);
      if (!img) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `inspection ${idOf(req.params)} has no ${req.query.variant} image`);
      // Stored images never change: an ETag from the row is enough, and caches may keep them.
      const etag = `"${img.id}-${img.bytes}"`;
      reply.header('ETag', etag).header('Cache-Control', 'private, max-age=86400, immutable');
      if (req.headers['if-none-match'] === etag) return reply.status(304).send();
      const found = await deps.images.open(img.path);
      if (!found) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `the ${req.query.variant} image of inspection ${idOf(req.params)} is no longer stored`);
      return reply.type(img.mime).header('Content-Length', found.size).send(found.stream);
    },
  );

  app.post(
    '/api/frames',
    {
      schema: {
        description: 'Push one image (JPEG, PNG, …) through the line; returns its verdict. Needs an API key.',
        security: [{ bearer: [] }],
        querystring: Type.Object({ source: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
        response: { 200: Type.Object({ seq: Type.Integer(), verdict: Verdict }, { additionalProperties: true }), 401: ErrorBody, 422: ErrorBody },
      },
    },
    async (req) => {
      // A configured push key, or an integrator's key or session (machines push frames).
      const byRole = req.principal !== null && roleAtLeast(req.principal.role, 'integrator');
      if (!byRole && !authorized(req.headers.authorization, deps.pushKeySha256)) {
        throw new StationError('STN_ERR_HTTP_UNAUTHORIZED', 'POST /api/frames needs Authorization: Bearer <push key or integrator API key>');
      }
      const body = req.body;
      if (!Buffer.isBuffer(body)) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', 'send the image as the body with an image/* content type');
      const r = await deps.line.inspect({ kind: 'encoded', data: new Uint8Array(body) }, req.query.source);
      return {
        seq: r.seq,
        source: r.source,
        verdict: r.verdict,
        errorCode: r.errorCode ?? null,
        reasons: r.reasons,
        defects: r.defects.map((d) => ({ class: d.class, score: d.score, box: d.box ?? null, area: d.area ?? null, rejecting: d.rejecting })),
        latencyMs: r.timings.total,
        recipe: r.recipe,
      };
    },
  );

  return app;
}

/** Constant-time comparison of the key's sha256 with the configured ones. */
function authorized(header: string | undefined, keys: readonly string[]): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (!m || keys.length === 0) return false;
  const digest = createHash('sha256').update(m[1]).digest();
  return keys.some((k) => timingSafeEqual(Buffer.from(k, 'hex'), digest));
}

/** The path of the first non-finite number in a parsed request part, or null. */
function nonFinite(v: unknown, at = ''): string | null {
  if (typeof v === 'number') return Number.isFinite(v) ? null : at || 'value';
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const found = nonFinite(x, at ? `${at}.${k}` : k);
      if (found !== null) return found;
    }
  }
  return null;
}
