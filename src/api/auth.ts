import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StationError } from '../errors/index.js';
import { roleAtLeast, type Accounts, type Principal, type Role } from '../store/index.js';

export const SESSION_COOKIE = 'station_session';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
    /** The principal came from the session cookie (a browser): unsafe methods need the CSRF token. */
    viaCookie: boolean;
  }
}

/**
 * Who is calling: `Authorization: Bearer <API key | session token>` for machines and scripts,
 * or the session cookie for the browser. Resolved once per request; routes then state the role
 * they need with `need(role)`. An expired API key is refused on every route (401,
 * STN_ERR_HTTP_KEY_EXPIRED), so a script learns why rather than seeing anonymous answers.
 */
export function registerAuth(app: FastifyInstance, accounts: Accounts): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('viaCookie', false);
  app.addHook('onRequest', async (req) => {
    const h = req.headers.authorization;
    const bearer = /^Bearer\s+(\S+)$/i.exec(h ?? '')?.[1];
    if (bearer) {
      if (bearer.startsWith('stn_')) {
        const found = await accounts.lookupApiKey(bearer);
        if ('refused' in found && found.refused === 'expired') throw new StationError('STN_ERR_HTTP_KEY_EXPIRED');
        req.principal = 'principal' in found ? found.principal : null;
      } else {
        req.principal = await accounts.bySessionToken(bearer);
      }
      return;
    }
    const cookie = req.cookies?.[SESSION_COOKIE];
    if (cookie) {
      req.principal = await accounts.bySessionToken(cookie);
      req.viaCookie = req.principal !== null;
    }
  });
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A browser (cookie) write must echo the session's CSRF token in `x-csrf-token`; 403 otherwise. */
export function checkCsrf(req: FastifyRequest): void {
  const p = req.principal;
  if (!p || !req.viaCookie || !UNSAFE.has(req.method)) return;
  // Compared as bytes: a token with characters beyond ASCII has another byte length than its string length.
  const sent = Buffer.from(String(req.headers['x-csrf-token'] ?? ''));
  const want = Buffer.from(p.csrfToken ?? '');
  if (!sent.length || sent.length !== want.length || !timingSafeEqual(sent, want)) {
    throw new StationError('STN_ERR_HTTP_CSRF');
  }
}

/** An onRequest hook (before the body is parsed or validated): 401 without a principal, 403 below `role`, 403 for a cookie write without CSRF token. */
export function need(role: Role) {
  return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const p = req.principal;
    if (!p) throw new StationError('STN_ERR_HTTP_UNAUTHORIZED', 'log in (POST /api/auth/login) or send Authorization: Bearer <key>');
    if (!roleAtLeast(p.role, role)) throw new StationError('STN_ERR_HTTP_FORBIDDEN', `this needs the ${role} role; ${p.username} is ${p.role}`);
    checkCsrf(req);
  };
}

export function actorOf(req: FastifyRequest): string {
  return req.principal ? `${req.principal.username} (${req.principal.kind})` : 'anonymous';
}
