import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { StationError } from '../errors/index.js';
import type { Accounts } from '../store/index.js';
import { need, SESSION_COOKIE } from './auth.js';
import type { LoginThrottle } from './login-throttle.js';
import { ErrorBody } from './schemas.js';

/** The languages the gallery is translated into (src/web/locales). */
export const GALLERY_LOCALES = ['en', 'de'] as const;

export interface SessionDeps {
  accounts: Pick<Accounts, 'login' | 'logout' | 'preferences' | 'setPreferences'>;
  /** Set the session cookie with Secure (when served over TLS). */
  secureCookies: boolean;
  throttle: LoginThrottle;
}

/**
 * Login, logout and who am I. A browser gets the session as an httpOnly cookie and the CSRF token
 * to echo on writes; page JavaScript never sees the session token. A script that wants the token
 * to send as `Authorization: Bearer` asks with `tokenInBody: true` (machines should use API keys).
 */
export async function sessionRoutes(app: FastifyInstance, deps: SessionDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const viewer = need('viewer');

  api.post(
    '/api/auth/login',
    {
      // A flood guard per address; guessing is slowed per name and per address by the throttle.
      config: { rateLimit: { max: 60, timeWindow: '1 minute' } },
      schema: {
        description:
          'Logs in: the session cookie (httpOnly, SameSite=Strict) and the CSRF token every browser write must send as x-csrf-token. `tokenInBody: true` also returns the session token (for scripts; the gallery never asks). Failed logins slow down per user name (after 3) and per address (after 20) with a wait that doubles each time: 429 STN_ERR_HTTP_LOGIN_THROTTLED with Retry-After.',
        body: Type.Object(
          {
            username: Type.String({ minLength: 1, maxLength: 64 }),
            password: Type.String({ minLength: 1, maxLength: 256 }),
            tokenInBody: Type.Optional(Type.Boolean({ description: 'return the session token in the body too' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ token: Type.Optional(Type.String()), csrfToken: Type.String(), username: Type.String(), role: Type.String() }),
          401: ErrorBody,
          429: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const { username, password, tokenInBody } = req.body;
      const wait = deps.throttle.waitMs(username, req.ip);
      if (wait > 0) {
        reply.header('retry-after', String(Math.ceil(wait / 1000)));
        throw new StationError('STN_ERR_HTTP_LOGIN_THROTTLED', `too many failed logins; try again in ${Math.ceil(wait / 1000)} s`);
      }
      // Counted before the password is checked: guesses sent in parallel all count (a right password clears it).
      deps.throttle.failed(username, req.ip);
      const r = await deps.accounts.login(username, password);
      if (!r) throw new StationError('STN_ERR_HTTP_LOGIN');
      deps.throttle.succeeded(username, req.ip);
      reply.setCookie(SESSION_COOKIE, r.token, { httpOnly: true, sameSite: 'strict', path: '/', secure: deps.secureCookies, maxAge: 12 * 3600 });
      return { ...(tokenInBody ? { token: r.token } : {}), csrfToken: r.csrfToken, username: r.principal.username, role: r.principal.role };
    },
  );
  api.post('/api/auth/logout', { onRequest: viewer }, async (req, reply) => {
    if (req.principal?.sessionTokenHash) await deps.accounts.logout(req.principal.sessionTokenHash);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { ok: true };
  });
  api.get('/api/auth/me', { onRequest: viewer }, async (req) => ({
    username: req.principal!.username,
    role: req.principal!.role,
    kind: req.principal!.kind,
    csrfToken: req.viaCookie ? req.principal!.csrfToken : undefined,
    ...(await deps.accounts.preferences(req.principal!.userId)),
  }));

  const Preferences = Type.Object({
    locale: Type.Union([Type.Union(GALLERY_LOCALES.map((l) => Type.Literal(l))), Type.Null()]),
    theme: Type.Union([Type.Literal('light'), Type.Literal('dark'), Type.Null()]),
  });
  api.put(
    '/api/auth/me/preferences',
    {
      onRequest: viewer,
      schema: {
        description: `The gallery's language (${GALLERY_LOCALES.join(', ')}) and theme (light, dark) of the user who asks; null goes back to the browser's language and the system's theme. Any role may set its own.`,
        body: Type.Partial(Preferences, { additionalProperties: false }),
        response: {
          200: Type.Object({ locale: Type.Union([Type.String(), Type.Null()]), theme: Preferences.properties.theme }),
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
        },
      },
    },
    async (req) => deps.accounts.setPreferences(req.principal!.userId, req.body),
  );
}
