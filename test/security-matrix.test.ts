/**
 * Every route of the OpenAPI document (`/docs/json`, as `buildApi` serves it) × every role, and
 * the status class each gets, against the documented table below (issue #15, finding 9 and
 * "done when"). A route added without a row here fails the test; so does a row whose route is
 * gone. "allowed" means neither 401 nor 403: the request reached the handler, which may still say
 * 400 or 404 for the made-up ids and bodies sent here. docs/errors.md carries the same table.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Station } from '../src/main.js';
import { login, startTestStation } from './helpers/station.js';

type Who = 'anonymous' | 'viewer' | 'quality' | 'integrator' | 'admin';
const WHO: Who[] = ['anonymous', 'viewer', 'quality', 'integrator', 'admin'];

/** The least a caller needs for each route; every role above it is allowed too. */
const ACCESS: Record<string, Who> = {
  'GET /api/health': 'anonymous',
  'GET /api/ready': 'anonymous',
  'POST /api/auth/login': 'anonymous',
  'GET /': 'anonymous',
  'GET /docs': 'viewer',
  'GET /docs/json': 'viewer',
  'GET /metrics': 'viewer',
  'POST /api/auth/logout': 'viewer',
  'GET /api/auth/me': 'viewer',
  'PUT /api/auth/me/preferences': 'viewer',
  'GET /api/inspections': 'viewer',
  'GET /api/inspections/{id}': 'viewer',
  'GET /api/inspections.csv': 'viewer',
  'GET /api/inspections/{id}/image': 'viewer',
  'GET /api/lots/{lot}': 'viewer',
  'GET /api/lots/{lot}/report.pdf': 'viewer',
  'GET /api/lots/{lot}/report.csv': 'viewer',
  'GET /api/lots/{lot}/report.json': 'viewer',
  'GET /api/live': 'viewer',
  'GET /api/stats/yield': 'viewer',
  'GET /api/stats/yield.csv': 'viewer',
  'GET /api/plant': 'viewer',
  'GET /api/reports/shift': 'viewer',
  'GET /api/reports/shift.pdf': 'viewer',
  'GET /api/stats/scores': 'viewer',
  'GET /api/stats/pareto': 'viewer',
  'GET /api/stats/stations': 'viewer',
  'GET /api/stations': 'viewer',
  'GET /api/recipes': 'viewer',
  'GET /api/recipes/{name}': 'viewer',
  'GET /api/recipes/{name}/model': 'viewer',
  'GET /api/recipes/{name}/versions': 'viewer',
  'POST /api/whatif': 'viewer',
  'POST /api/whatif/suggest': 'viewer',
  'POST /api/whatif/jobs': 'viewer',
  'GET /api/whatif/jobs/{id}': 'viewer',
  'POST /api/whatif/jobs/{id}/cancel': 'viewer',
  'GET /api/models': 'viewer',
  'GET /api/reinference': 'viewer',
  'GET /api/reinference/{id}': 'viewer',
  'GET /api/reinference/{id}/parts': 'viewer',
  'POST /api/inspections/{id}/review': 'quality',
  'DELETE /api/inspections/{id}/reviews/{reviewId}': 'quality',
  'POST /api/reviews/bulk': 'quality',
  'POST /api/exports': 'quality',
  'GET /api/exports/{id}': 'quality',
  'GET /api/exports/{id}/archive': 'quality',
  'PUT /api/recipes/{name}/thresholds': 'integrator',
  'POST /api/recipes/{name}/rollback': 'integrator',
  'POST /api/reinference': 'integrator',
  'POST /api/reinference/{id}/cancel': 'integrator',
  'POST /api/frames': 'integrator',
  'GET /api/audit': 'integrator',
  'POST /api/config/reload': 'admin',
  'GET /api/users': 'admin',
  'POST /api/users': 'admin',
  'POST /api/users/{name}/disable': 'admin',
  'POST /api/users/{name}/enable': 'admin',
  'PUT /api/users/{name}/role': 'admin',
  'POST /api/users/{name}/password': 'admin',
  'GET /api/keys': 'admin',
  'POST /api/keys': 'admin',
  'DELETE /api/keys/{id}': 'admin',
};

/** Routes served outside the OpenAPI document (the UI itself and the gallery's files). */
const NOT_IN_DOCUMENT = ['GET /', 'GET /docs', 'GET /docs/json'];

let s: Station;
const auth: Record<Who, Record<string, string>> = { anonymous: {}, viewer: {}, quality: {}, integrator: {}, admin: {} };
/** Routes that manage people: a logged-in admin only — an API key, even an admin's, gets 403 (review: a key could make itself an admin login). */
const PERSON_ONLY = [
  'POST /api/users',
  'POST /api/users/{name}/disable',
  'POST /api/users/{name}/enable',
  'PUT /api/users/{name}/role',
  'POST /api/users/{name}/password',
];
let adminSession: Record<string, string> = {};
let routes: string[] = [];

beforeAll(async () => {
  s = await startTestStation({
    sources: [{ name: 'push', uri: 'http:' }],
    adminPassword: 'matrix-admin-password',
    http: { rateLimitPerMinute: 100_000 },
  });
  const session = { authorization: `Bearer ${(await login(s, 'admin', 'matrix-admin-password')).body.token}` };
  adminSession = session;
  // API keys, not sessions: a logout in the matrix must not end the caller's credentials.
  for (const role of ['viewer', 'quality', 'integrator', 'admin'] as const) {
    const r = await s.api!.inject({ method: 'POST', url: '/api/keys', headers: session, payload: { name: `matrix-${role}`, role } });
    expect(r.statusCode).toBe(201);
    auth[role] = { authorization: `Bearer ${r.json().key}` };
  }
  const doc = await s.api!.inject({ method: 'GET', url: '/docs/json', headers: auth.viewer });
  expect(doc.statusCode).toBe(200);
  const paths = doc.json().paths as Record<string, Record<string, unknown>>;
  routes = Object.entries(paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
}, 120_000);
afterAll(async () => s?.stop());

/** One request as `who`; made-up parameters that reach a handler without changing anything. */
async function call(route: string, who: Who, headers: Record<string, string> = auth[who]): Promise<number> {
  const [method, template] = route.split(' ');
  const url = template
    .replace('{id}', '999999')
    .replace('{reviewId}', '999999')
    .replace('{name}', 'nobody-here')
    .replace('{lot}', 'LOT-NOBODY')
    .replace(/\/api\/exports\/999999/, '/api/exports/00000000-0000-4000-8000-000000000000');
  if (url === '/api/live') {
    // Server-sent events never end: read the status, then hang up.
    return new Promise((resolve, reject) => {
      const req = http.get(`${s.url}${url}`, { headers: auth[who] }, (res) => {
        resolve(res.statusCode!);
        req.destroy();
      });
      req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
    });
  }
  const r = await s.api!.inject({
    method: method as 'GET',
    url,
    headers: { ...headers, ...(method === 'GET' || method === 'DELETE' ? {} : { 'content-type': 'application/json' }) },
    // An unknown property: routes with a body schema refuse it (400) after the role check.
    payload: method === 'GET' || method === 'DELETE' ? undefined : JSON.stringify({ matrixProbe: true }),
  });
  return r.statusCode;
}

const classOf = (status: number) => (status === 401 ? '401' : status === 403 ? '403' : status >= 500 ? `${status}` : 'allowed');

describe('route × role matrix', () => {
  it('the documented table covers exactly the routes of the OpenAPI document', () => {
    expect(routes.length).toBeGreaterThan(40);
    expect(
      routes.filter((r) => !(r in ACCESS)),
      'routes without a documented role',
    ).toEqual([]);
    expect(
      Object.keys(ACCESS).filter((r) => !routes.includes(r) && !NOT_IN_DOCUMENT.includes(r)),
      'documented routes that no longer exist',
    ).toEqual([]);
  });

  it('docs/errors.md shows the same table', () => {
    const page = readFileSync(path.join(import.meta.dirname, '..', 'docs', 'errors.md'), 'utf8');
    const documented: Record<string, string> = {};
    for (const m of page.matchAll(/^\| (anonymous|viewer|quality|integrator|admin) \| (.+) \|$/gm)) {
      for (const r of m[2].matchAll(/`([^`]+)`/g)) documented[r[1]] = m[1];
    }
    expect(documented).toEqual(ACCESS);
  });

  it('every route answers every role as documented: 401 without credentials, 403 below the role, allowed from it on', async () => {
    const got: string[] = [];
    const want: string[] = [];
    for (const route of [...routes, ...NOT_IN_DOCUMENT]) {
      const least = ACCESS[route];
      for (const who of WHO) {
        const expected = WHO.indexOf(who) >= WHO.indexOf(least) ? 'allowed' : who === 'anonymous' ? '401' : '403';
        const person = PERSON_ONLY.includes(route) && who === 'admin';
        const status = await call(route, who, person ? adminSession : auth[who]);
        got.push(`${route} as ${who}: ${classOf(status)}`);
        want.push(`${route} as ${who}: ${expected}`);
        if (person) {
          got.push(`${route} as an admin API key: ${classOf(await call(route, who))}`);
          want.push(`${route} as an admin API key: 403`);
        }
      }
    }
    expect(got).toEqual(want);
  }, 120_000);
});
