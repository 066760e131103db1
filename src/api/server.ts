import type { PlantClock } from '../config/index.js';
import type { EventEmitter } from 'node:events';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import { isErrorCode, StationError, statusOf } from '../errors/index.js';
import type { Line } from '../line/index.js';
import { type Accounts, type Exporter, type ImageStore, Lots, type Repository } from '../store/index.js';
import { need, registerAuth } from './auth.js';
import { exportRoutes } from './exports.js';
import { frameRoutes } from './frames.js';
import { galleryRoutes } from './gallery.js';
import { healthRoutes } from './health.js';
import { imageRoutes } from './images.js';
import { inspectionRoutes } from './inspections.js';
import { liveRoutes } from './live.js';
import { lotRoutes } from './lots.js';
import { LoginThrottle, type ThrottleOptions } from './login-throttle.js';
import { recipeRoutes, type RecipeDeps } from './recipes.js';
import { reinferenceRoutes, type ReinferenceDeps } from './reinference.js';
import { reviewRoutes } from './reviews.js';
import { sessionRoutes } from './session.js';
import { statisticsRoutes } from './statistics.js';
import { userRoutes } from './users.js';
import { whatIfRoutes } from './whatif.js';
import type { WhatIfJobs } from '../whatif/index.js';

/** What the composition root hands the API; each plugin takes only its part of it. */
export interface ApiDeps extends Omit<RecipeDeps, 'repo' | 'accounts' | 'line'>, Omit<ReinferenceDeps, 'repo' | 'accounts'> {
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
  /** What-if over windows too large for one request. */
  whatIfJobs: WhatIfJobs;
  line: Line;
  /** The plant's zone and shifts (the running configuration's `plant`). */
  plant: () => PlantClock;
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
  /** `POST /api/whatif` answers windows up to this many parts; larger ones run as jobs. */
  whatIfSyncMaxParts: number;
  version: string;
  /** sha256 (hex) of Prometheus scrape tokens for `GET /metrics` (default: none, a login is needed). */
  metricsTokenSha256?: readonly string[];
  /** Open `/api/live` streams per user (default 4). */
  liveStreamsPerUser?: number;
  /** How failed logins slow down (defaults in LoginThrottle). */
  loginThrottle?: ThrottleOptions;
  /** Where unexpected errors (500) are logged with their stack; the response never carries it. */
  log?: { error(obj: object, msg: string): void };
}

/**
 * The gallery's Content-Security-Policy: everything from the station itself, no inline script,
 * no framing (issue #15, finding 3: a page on another port framed the logged-in gallery).
 * Preact sets `style` through the CSSOM, which a CSP does not restrict.
 */
const CSP = {
  'default-src': ["'self'"],
  'base-uri': ["'self'"],
  'connect-src': ["'self'"],
  'font-src': ["'self'", 'data:'],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'img-src': ["'self'", 'data:', 'blob:'],
  'object-src': ["'none'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'"],
};

/**
 * The OpenAPI UI's own policy: Swagger UI sets inline styles in markup, so it gets
 * `'unsafe-inline'` for styles (not for scripts); framing is refused as everywhere.
 */
const DOCS_CSP = {
  ...CSP,
  'style-src': ["'self'", "'unsafe-inline'"],
};

const cspHeader = (d: Record<string, string[]>) =>
  Object.entries(d)
    .map(([k, v]) => `${k} ${v.join(' ')}`)
    .join('; ');

/**
 * The station's HTTP API (fastify, a TypeBox schema on every route, OpenAPI at /docs/json): one
 * plugin per resource, each given only the dependencies it uses. Open without a login: health
 * (status and problems), readiness, login, the gallery's static files; everything else needs a
 * role (see test/security-matrix.test.ts for the table).
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

  // Every status comes from the error registry; anything unregistered is a 500 without details.
  app.setErrorHandler((err: FastifyError | StationError, req, reply) => {
    // A route may have chosen another type (text/csv) before it failed; errors are always JSON.
    reply.type('application/json; charset=utf-8');
    const code = (err as { code?: string }).code;
    if (err instanceof StationError || isErrorCode(code)) {
      return reply.status(statusOf(code!)).send({ code, message: err.message });
    }
    const fe = err as FastifyError;
    if (fe.validation) return reply.status(400).send({ code: 'STN_ERR_HTTP_BAD_REQUEST', message: fe.message });
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send({ code: fe.code ?? 'STN_ERR_HTTP_BAD_REQUEST', message: fe.message });
    }
    // Never a stack trace on 5xx: it goes to the station log.
    deps.log?.error({ err, method: req.method, url: req.url.split('?')[0] }, 'internal error in an API route');
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

  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: { useDefaults: false, directives: CSP },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    // HSTS only where there is TLS; on plain loopback HTTP it would only confuse a browser.
    strictTransportSecurity: deps.tls !== null,
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Inspection station API', version: deps.version },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  // The API's description is for the station's users: a login (any role) to read it.
  await app.register(swaggerUi, { routePrefix: '/docs', uiHooks: { onRequest: need('viewer') }, staticCSP: cspHeader(DOCS_CSP) });
  await app.register(cookie);
  // Every route is limited per client address; login has its own, stricter limit and throttle.
  await app.register(rateLimit, {
    global: true,
    max: deps.rateLimitPerMinute,
    timeWindow: '1 minute',
    errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, code: 'STN_ERR_HTTP_RATE_LIMIT', message: `more than ${ctx.max} requests in ${ctx.after}` }),
  });
  registerAuth(app, deps.accounts);

  // Images are bodies of their own type; any image type is read as bytes.
  app.addContentTypeParser(/^(image\/.*|application\/octet-stream)$/, { parseAs: 'buffer', bodyLimit: deps.bodyLimit }, (_req, body, done) => done(null, body));

  const { repo, accounts, line } = deps;
  await app.register(healthRoutes, {
    line,
    health: deps.health,
    ready: deps.ready,
    metrics: deps.metrics,
    metricsTokenSha256: deps.metricsTokenSha256 ?? [],
    reload: deps.reload,
  });
  await app.register(sessionRoutes, { accounts, secureCookies: deps.secureCookies, throttle: new LoginThrottle(deps.loginThrottle) });
  await app.register(userRoutes, { accounts });
  await app.register(inspectionRoutes, { repo });
  await app.register(imageRoutes, { repo, images: deps.images });
  await app.register(lotRoutes, { lots: new Lots(repo.db), images: deps.images });
  await app.register(reviewRoutes, { repo, recipeLabels: deps.recipeLabels, recipeNames: deps.recipeNames });
  await app.register(statisticsRoutes, { repo, plant: deps.plant });
  await app.register(recipeRoutes, {
    repo,
    accounts,
    line,
    recipeNames: deps.recipeNames,
    recipeLabels: deps.recipeLabels,
    recipeModelDocs: deps.recipeModelDocs,
    recipeVersionIds: deps.recipeVersionIds,
  });
  await app.register(whatIfRoutes, {
    repo,
    recipeNames: deps.recipeNames,
    recipeLabels: deps.recipeLabels,
    jobs: deps.whatIfJobs,
    syncMaxParts: deps.whatIfSyncMaxParts,
  });
  await app.register(reinferenceRoutes, {
    repo,
    accounts,
    recipeNames: deps.recipeNames,
    reinferrer: deps.reinferrer,
    candidateModels: deps.candidateModels,
    recipeModel: deps.recipeModel,
  });
  await app.register(exportRoutes, { exporter: deps.exporter });
  await app.register(liveRoutes, { repo, line, live: deps.live, streamsPerUser: deps.liveStreamsPerUser ?? 4 });
  await app.register(frameRoutes, { line, pushKeySha256: deps.pushKeySha256 });
  await app.register(galleryRoutes, { webDir: deps.webDir });
  return app;
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
