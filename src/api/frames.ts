import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { StationError } from '../errors/index.js';
import type { Line } from '../line/index.js';
import { roleAtLeast } from '../store/index.js';
import { checkCsrf } from './auth.js';
import { bearerMatches } from './health.js';
import { ErrorBody, Verdict } from './schemas.js';

export interface FrameDeps {
  line: Pick<Line, 'inspect'>;
  /** sha256 (hex) of API keys allowed to push frames. */
  pushKeySha256: readonly string[];
}

/** The push source: an image body through the line, its verdict back. */
export async function frameRoutes(app: FastifyInstance, deps: FrameDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  api.post(
    '/api/frames',
    {
      schema: {
        description:
          'Push one image (JPEG, PNG, …) through the line; returns its verdict. Needs a push key, or an integrator API key or session (a browser session also sends x-csrf-token).',
        security: [{ bearer: [] }],
        querystring: Type.Object({ source: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
        response: { 200: Type.Object({ seq: Type.Integer(), verdict: Verdict }, { additionalProperties: true }), 401: ErrorBody, 422: ErrorBody },
      },
    },
    async (req) => {
      // A configured push key, or an integrator's key or session (machines push frames).
      const byRole = req.principal !== null && roleAtLeast(req.principal.role, 'integrator');
      if (!byRole && !bearerMatches(req.headers.authorization, deps.pushKeySha256)) {
        if (req.principal)
          throw new StationError('STN_ERR_HTTP_FORBIDDEN', `pushing frames needs the integrator role; ${req.principal.username} is ${req.principal.role}`);
        throw new StationError('STN_ERR_HTTP_UNAUTHORIZED', 'POST /api/frames needs Authorization: Bearer <push key or integrator API key>');
      }
      // Issue #15, finding 5: a cookie session is a browser, and a browser write needs the CSRF token.
      checkCsrf(req);
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
}
