import { createHash, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { isErrorCode, StationError, type ErrorCode } from '../errors/index.js';
import type { Line } from '../line/index.js';
import { IMAGE_VARIANTS, type ImageStore, type ImageVariant, type Repository } from '../store/index.js';

export interface ApiDeps {
  repo: Repository;
  images: ImageStore;
  line: Line;
  /** sha256 (hex) of API keys allowed to push frames. */
  pushKeySha256: readonly string[];
  bodyLimit: number;
  /** Extra health facts (recorder counters, …). */
  health: () => Record<string, unknown>;
  version: string;
}

/** HTTP status for each stable error code; anything else is a 500 without details. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  STN_ERR_HTTP_NOT_FOUND: 404,
  STN_ERR_HTTP_UNAUTHORIZED: 401,
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

const ErrorBody = Type.Object({ code: Type.String(), message: Type.String() });
const Id = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 }) });
const Verdict = Type.Union([Type.Literal('pass'), Type.Literal('fail'), Type.Literal('uninspected')]);
const Box = Type.Union([Type.Tuple([Type.Number(), Type.Number(), Type.Number(), Type.Number()]), Type.Null()]);
const DefectOut = Type.Object({ class: Type.String(), score: Type.Number(), rejecting: Type.Boolean(), area: Type.Union([Type.Number(), Type.Null()]), box: Box });
const InspectionOut = Type.Object(
  {
    id: Type.Integer(), station: Type.String(), partSeq: Type.Integer(), source: Type.String(),
    capturedAt: Type.String(), decidedAt: Type.String(), verdict: Verdict, errorCode: Type.Union([Type.String(), Type.Null()]),
    reasons: Type.Unknown(), maxScore: Type.Number(), defectCount: Type.Integer(), latencyMs: Type.Number(), timings: Type.Unknown(),
    recipe: Type.String(), defects: Type.Array(DefectOut), images: Type.Array(Type.String()),
  },
  { additionalProperties: true },
);

/**
 * The station's HTTP API (fastify, a TypeBox schema on every route, OpenAPI at /docs/json).
 * Reads are open on the loopback default; every write needs a key (users and roles come with
 * the gallery).
 */
export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: deps.bodyLimit, ajv: { customOptions: { removeAdditional: false, coerceTypes: true } } })
    .withTypeProvider<TypeBoxTypeProvider>();

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
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ code: 'STN_ERR_HTTP_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` }));

  await app.register(swagger, {
    openapi: {
      info: { title: 'Inspection station API', version: deps.version },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // Images are bodies of their own type; any image type is read as bytes.
  app.addContentTypeParser(/^(image\/.*|application\/octet-stream)$/, { parseAs: 'buffer', bodyLimit: deps.bodyLimit }, (_req, body, done) => done(null, body));

  app.get('/api/health', {
    schema: { response: { 200: Type.Object({ status: Type.String(), uptimeS: Type.Number() }, { additionalProperties: true }) } },
  }, async () => ({
    status: 'ok',
    uptimeS: Math.round((Date.now() - deps.line.startedAt) / 1000),
    line: deps.line.summary(),
    models: deps.line.models.map((m) => ({ name: m.name, family: m.family, sha256: m.sha256 })),
    ...deps.health(),
  }));

  app.get('/api/inspections', {
    schema: {
      querystring: Type.Object({
        verdict: Type.Optional(Verdict),
        class: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        recipe: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        station: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        from: Type.Optional(Type.String({ format: 'date-time' })),
        to: Type.Optional(Type.String({ format: 'date-time' })),
        limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
        cursor: Type.Optional(Type.Integer({ minimum: 1 })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(InspectionOut), nextCursor: Type.Union([Type.Integer(), Type.Null()]) }), 400: ErrorBody },
    },
  }, async (req) => {
    const q = req.query;
    return deps.repo.listInspections({
      verdict: q.verdict, class: q.class, recipe: q.recipe, station: q.station,
      from: q.from ? new Date(q.from) : undefined, to: q.to ? new Date(q.to) : undefined,
      limit: q.limit, cursor: q.cursor,
    }) as never;
  });

  app.get('/api/inspections/:id', {
    schema: { params: Id, response: { 200: Type.Object({}, { additionalProperties: true }), 404: ErrorBody } },
  }, async (req) => {
    const row = await deps.repo.getInspection(req.params.id);
    if (!row) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no inspection ${req.params.id}`);
    return row;
  });

  app.get('/api/inspections/:id/image', {
    schema: {
      params: Id,
      querystring: Type.Object({ variant: Type.Union(IMAGE_VARIANTS.map((v) => Type.Literal(v)), { default: 'overlay' }) }, { additionalProperties: false }),
    },
  }, async (req, reply) => {
    const img = await deps.repo.getImage(req.params.id, req.query.variant as ImageVariant);
    if (!img) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `inspection ${req.params.id} has no ${req.query.variant} image`);
    const file = deps.images.resolve(img.path);
    const st = await stat(file).catch(() => null);
    if (!st) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `the ${req.query.variant} image of inspection ${req.params.id} is no longer on disk`);
    // Stored images never change: an ETag from the row is enough, and caches may keep them.
    const etag = `"${img.id}-${img.bytes}"`;
    reply.header('ETag', etag).header('Cache-Control', 'private, max-age=86400, immutable');
    if (req.headers['if-none-match'] === etag) return reply.status(304).send();
    return reply.type(img.mime).header('Content-Length', st.size).send(createReadStream(file));
  });

  app.post('/api/frames', {
    schema: {
      description: 'Push one image (JPEG, PNG, …) through the line; returns its verdict. Needs an API key.',
      security: [{ bearer: [] }],
      querystring: Type.Object({ source: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
      response: { 200: Type.Object({ seq: Type.Integer(), verdict: Verdict }, { additionalProperties: true }), 401: ErrorBody, 422: ErrorBody },
    },
  }, async (req) => {
    if (!authorized(req.headers.authorization, deps.pushKeySha256)) {
      throw new StationError('STN_ERR_HTTP_UNAUTHORIZED', 'POST /api/frames needs Authorization: Bearer <push key>');
    }
    const body = req.body;
    if (!Buffer.isBuffer(body)) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', 'send the image as the body with an image/* content type');
    const r = await deps.line.inspect({ kind: 'encoded', data: new Uint8Array(body) }, req.query.source);
    return {
      seq: r.seq, source: r.source, verdict: r.verdict, errorCode: r.errorCode ?? null, reasons: r.reasons,
      defects: r.defects.map((d) => ({ class: d.class, score: d.score, box: d.box ?? null, area: d.area ?? null, rejecting: d.rejecting })),
      latencyMs: r.timings.total, recipe: r.recipe,
    };
  });

  return app;
}

/** Constant-time comparison of the key's sha256 with the configured ones. */
function authorized(header: string | undefined, keys: readonly string[]): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (!m || keys.length === 0) return false;
  const digest = createHash('sha256').update(m[1]).digest();
  return keys.some((k) => timingSafeEqual(Buffer.from(k, 'hex'), digest));
}
