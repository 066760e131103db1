import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { StationError } from '../errors/index.js';
import { monotonicMs } from '../line/stats.js';
import type { Line } from '../line/index.js';
import { roleAtLeast } from '../store/index.js';
import { actorOf, need } from './auth.js';

export interface HealthDeps {
  line: Pick<Line, 'startedMono' | 'summary' | 'cameras' | 'models'>;
  health: () => { status: string; problems: string[] } & Record<string, unknown>;
  ready: () => { ready: boolean; problems: string[] } & Record<string, unknown>;
  metrics: { text(): Promise<string>; contentType: string };
  /** sha256 (hex) of the tokens a Prometheus scraper may send instead of a viewer's credentials. */
  metricsTokenSha256: readonly string[];
  reload: (actor: string) => Promise<unknown>;
}

/** Constant-time comparison of a bearer token's sha256 with the configured ones. */
export function bearerMatches(header: string | undefined, keys: readonly string[]): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (!m || keys.length === 0) return false;
  const digest = createHash('sha256').update(m[1]).digest();
  return keys.some((k) => k.length === 64 && timingSafeEqual(Buffer.from(k, 'hex'), digest));
}

/**
 * Health, readiness, metrics and configuration reload. Health is the one open route with facts:
 * anonymous callers get the status and its problems, a logged-in viewer everything (disk, memory,
 * PLC counters, models).
 */
export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.get(
    '/api/health',
    {
      schema: {
        description:
          'Status (ok, degraded, failed) and what is wrong: open to all. With a login (viewer or above) also the start-up self-test, line, recorder, disk, PLC link, cameras, models and process memory.',
        response: {
          200: Type.Object(
            { status: Type.String(), problems: Type.Array(Type.String()), uptimeS: Type.Optional(Type.Number()) },
            { additionalProperties: true },
          ),
        },
      },
    },
    async (req) => {
      const h = deps.health();
      if (!req.principal) return { status: h.status, problems: h.problems };
      return {
        ...h,
        uptimeS: Math.round((monotonicMs() - deps.line.startedMono) / 1000),
        line: deps.line.summary(),
        cameras: Object.fromEntries(deps.line.cameras),
        models: deps.line.models.map((m) => ({ name: m.name, family: m.family, sha256: m.sha256 })),
      };
    },
  );

  api.get(
    '/api/ready',
    {
      schema: {
        description:
          '200 when the station decides parts (line running, database writable, PLC link up if configured); 503 otherwise, with the problems. Open to all (load balancers and orchestrators ask it).',
      },
    },
    async (req, reply) => {
      const r = deps.ready();
      return reply.status(r.ready ? 200 : 503).send(req.principal ? r : { ready: r.ready, problems: r.problems });
    },
  );

  api.get(
    '/metrics',
    {
      schema: {
        description:
          'Prometheus metrics (text format): per-stage latency, parts, verdicts and reasons, drops, late verdicts, queues, PLC link, disk, restarts. Needs a viewer (or above) or `Authorization: Bearer <scrape token>` whose sha256 is in `http.metricsTokenSha256`.',
        security: [{ bearer: [] }],
      },
    },
    async (req, reply) => {
      const allowed = (req.principal && roleAtLeast(req.principal.role, 'viewer')) || bearerMatches(req.headers.authorization, deps.metricsTokenSha256);
      if (!allowed) throw new StationError('STN_ERR_HTTP_UNAUTHORIZED', 'GET /metrics needs a login or Authorization: Bearer <scrape token>');
      return reply.type(deps.metrics.contentType).send(await deps.metrics.text());
    },
  );

  api.post(
    '/api/config/reload',
    {
      onRequest: need('admin'),
      schema: {
        description:
          "Re-reads the station file: thresholds, keepGood and a recipe's model or preprocessing (hot swap) apply at once; an invalid file is refused and the running configuration stays; other changes are listed as needing a restart. Audited.",
      },
    },
    async (req) => deps.reload(actorOf(req)),
  );
}
