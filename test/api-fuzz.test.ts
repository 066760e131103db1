/**
 * Property-based fuzzing of every route the API documents (fast-check): malformed ids, queries,
 * bodies and content types, with and without credentials. The station must answer every one
 * with a status below 500 and a stable error body, and keep running.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Station } from '../src/main.js';
import { startTestStation, userWithRole } from './helpers/station.js';
import sharp from 'sharp';
import { PartGenerator } from '../src/capture/index.js';

let s: Station;
let adminKey: string;
let routes: { method: string; path: string; query: string[] }[] = [];

beforeAll(async () => {
  s = await startTestStation({
    sources: [{ name: 'push', uri: 'http:' }],
    recipe: { keepGood: 1 },
    adminPassword: 'fuzz-admin-password',
    http: { rateLimitPerMinute: 1_000_000 },
  });
  const integrator = await userWithRole(s, 'integrator');
  const gen = new PartGenerator({ seed: 4, defectRate: 0.5 });
  for (let i = 0; i < 4; i++) {
    const png = await sharp(gen.part(i).image.data, { raw: { width: 512, height: 384, channels: 1 } })
      .png()
      .toBuffer();
    await s.api!.inject({ method: 'POST', url: '/api/frames', headers: { ...integrator, 'content-type': 'image/png' }, payload: png });
  }
  await s.recorder.flush();
  const login = (
    await s.api!.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'admin', password: 'fuzz-admin-password', tokenInBody: true } })
  ).json();
  // An API key, not the session: a fuzzed logout must not end the fuzzer's own session.
  adminKey = (
    await s.api!.inject({ method: 'POST', url: '/api/keys', headers: { authorization: `Bearer ${login.token}` }, payload: { name: 'fuzz', role: 'admin' } })
  ).json().key;
  const spec = (s.api as unknown as { swagger(): { paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>> } }).swagger();
  routes = Object.entries(spec.paths)
    .flatMap(([p, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        method: method.toUpperCase(),
        path: p,
        query: (op.parameters ?? []).filter((x) => x.in === 'query').map((x) => x.name),
      })),
    )
    // Server-sent events never end by themselves; the docs UI serves static files.
    .filter((r) => r.path !== '/api/live' && !r.path.startsWith('/docs'));
}, 120_000);
afterAll(async () => {
  await s?.stop();
});

const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', '__defineGetter__'];
const HUGE_INTEGERS = ['999999999999999999999', '99999999999999999999', '2147483648', '4294967296', '9007199254740992', '-2147483649'];
const weird = fc.constantFrom(
  '',
  '0',
  '-1',
  '1e309',
  'NaN',
  '9007199254740993',
  '../../etc/passwd',
  '%00',
  '%2e%2e%2f',
  'null',
  '[]',
  '{}',
  'true',
  'ßö∑',
  'a'.repeat(5000),
  // Issue #15, finding 8: names that are properties of every object, and numbers past every column.
  ...PROTOTYPE_NAMES,
  ...HUGE_INTEGERS,
);
const value = fc.oneof(weird, fc.string({ maxLength: 40 }), fc.integer().map(String), fc.double().map(String));
const body = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => ({ type: 'application/json', payload: JSON.stringify(v) })),
  fc
    .record({
      thresholds: fc.jsonValue({ maxDepth: 3 }),
      reason: value,
      label: fc.constantFrom('confirmed', 'false_reject', 'escape', 'x'),
      version: fc.oneof(fc.integer(), value, fc.constantFrom(1e20, 2 ** 31, Number.MAX_SAFE_INTEGER + 2)),
      recipe: fc.constantFrom(...PROTOTYPE_NAMES, 'plate'),
      name: fc.constantFrom(...PROTOTYPE_NAMES),
      username: fc.constantFrom(...PROTOTYPE_NAMES),
    })
    .map((v) => ({ type: 'application/json', payload: JSON.stringify(v) })),
  fc.string({ maxLength: 200 }).map((v) => ({ type: 'application/json', payload: v })),
  fc
    .uint8Array({ maxLength: 2000 })
    .map((v) => ({ type: fc.sample(fc.constantFrom('image/png', 'image/jpeg', 'application/octet-stream', 'text/plain'), 1)[0], payload: Buffer.from(v) })),
  fc.constant({ type: undefined, payload: undefined }),
);

describe('API fuzzing (fast-check)', () => {
  it('every documented route answers malformed ids, queries and bodies, with or without credentials, below 500 with a stable error body', async () => {
    expect(routes.length).toBeGreaterThan(30);
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.array(value, { minLength: 3, maxLength: 3 }),
        fc.dictionary(
          fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('verdict', 'limit', 'cursor', 'from', 'to', 'variant', 'bucket', 'only', 'minScore')),
          value,
          { maxKeys: 4 },
        ),
        body,
        fc.constantFrom('admin', 'none', 'garbage'),
        async (route, params, query, b, auth) => {
          let i = 0;
          const url =
            route.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(params[i++] ?? '1')) +
            (Object.keys(query).length ? `?${new URLSearchParams(query)}` : '');
          const headers: Record<string, string> = {};
          if (b.type) headers['content-type'] = b.type;
          if (auth === 'admin') headers.authorization = `Bearer ${adminKey}`;
          if (auth === 'garbage') headers.authorization = 'Bearer stn_not-a-key';
          const r = await s.api!.inject({ method: route.method as 'GET', url, headers, payload: route.method === 'GET' ? undefined : b.payload });
          seen.set(r.statusCode, (seen.get(r.statusCode) ?? 0) + 1);
          if (r.statusCode >= 500) throw new Error(`${route.method} ${url} → ${r.statusCode} ${r.body.slice(0, 300)}`);
          if (r.statusCode >= 400) {
            const e = r.json();
            if (!/^(STN_ERR_|FST_)/.test(e.code) || typeof e.message !== 'string')
              throw new Error(`${route.method} ${url} → ${r.statusCode} without a stable error body: ${r.body.slice(0, 200)}`);
            if (/at .*\.(ts|js):\d+/.test(r.body)) throw new Error('a stack trace leaked');
          }
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 1500), seed: Number(process.env.FUZZ_SEED ?? 20261126) },
    );
    // The runs reached the handlers, not only the authentication gate.
    expect([...seen.keys()].some((c) => c >= 200 && c < 300)).toBe(true);
    expect(seen.get(400) ?? 0).toBeGreaterThan(50);
    // And the station still works.
    const h = (await s.api!.inject({ method: 'GET', url: '/api/health', headers: { authorization: `Bearer ${adminKey}` } })).json();
    expect(h.lineState).toBe('running');
    expect((await s.api!.inject({ method: 'GET', url: '/api/inspections', headers: { authorization: `Bearer ${adminKey}` } })).statusCode).toBe(200);
  }, 240_000);

  it('prototype names and huge integers in every path and query parameter answer below 500 (issue #15, finding 8)', async () => {
    const auth = { authorization: `Bearer ${adminKey}` };
    const failures: string[] = [];
    for (const route of routes) {
      for (const v of [...PROTOTYPE_NAMES, ...HUGE_INTEGERS]) {
        const url =
          route.path.replace(/\{[^}]+\}/g, encodeURIComponent(v)) +
          (route.query.length ? `?${route.query.map((q) => `${q}=${encodeURIComponent(v)}`).join('&')}` : '');
        const r = await s.api!.inject({
          method: route.method as 'GET',
          url,
          headers: { ...auth, ...(route.method === 'GET' ? {} : { 'content-type': 'application/json' }) },
          payload: route.method === 'GET' ? undefined : JSON.stringify({ version: Number(v) || v, recipe: v, name: v, thresholds: {} }),
        });
        if (r.statusCode >= 500) failures.push(`${route.method} ${url} → ${r.statusCode} ${r.body.slice(0, 120)}`);
      }
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('numbers that coerce to Infinity or NaN are refused, not passed on to the database', async () => {
    const auth = { authorization: `Bearer ${adminKey}` };
    for (const url of [
      '/api/inspections?cursor=1e309',
      '/api/inspections?limit=1e309',
      '/api/inspections?minScore=NaN',
      '/api/inspections/1e309',
      '/api/inspections?from=not-a-date',
      '/api/stats/scores?bins=1e309',
      '/api/audit?limit=-1e309',
      '/api/reinference/1e309/parts?offset=1e309',
    ]) {
      const r = await s.api!.inject({ method: 'GET', url, headers: auth });
      expect(r.statusCode, url).toBeLessThan(500);
      expect(r.statusCode, url).toBeGreaterThanOrEqual(400);
    }
  });
});
