import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Station } from '../src/main.js';
import { startTestStation } from './helpers/station.js';

let s: Station;
let auth: Record<string, string>;
beforeAll(async () => {
  s = await startTestStation({ sources: [{ name: 'push', uri: 'http:' }], http: { bodyLimit: 64 * 1024 }, adminPassword: 'bad-input-admin' });
  const l = await s.api!.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'admin', password: 'bad-input-admin', tokenInBody: true } });
  auth = { authorization: `Bearer ${l.json().token}` };
});
afterAll(async () => s?.stop());

const cases: [string, string, unknown?, Record<string, string>?][] = [
  ['GET', '/api/inspections/99999999999999999999'],
  ['GET', '/api/inspections/1e3'],
  ['GET', '/api/inspections/%00'],
  ['GET', '/api/inspections?verdict=maybe'],
  ['GET', '/api/inspections?limit=-5'],
  ['GET', '/api/inspections?limit=100000'],
  ['GET', '/api/inspections?from=yesterday'],
  ['GET', '/api/inspections?unknown=1'],
  ['GET', '/api/inspections?cursor=abc'],
  ['GET', '/api/inspections/1/image?variant=..%2F..%2Fetc%2Fpasswd'],
  ['GET', '/api/inspections/1/image?variant=original'],
  ['GET', '/../../etc/passwd'],
  ['GET', '/api/stats/yield?bucket=week'],
  ['GET', '/api/recipes/%2e%2e%2f%2e%2e'],
  ['POST', '/api/inspections/1/review', { label: 'perfect' }],
  ['POST', '/api/inspections/1/review', '{"label": "confirmed"', { 'content-type': 'application/json' }],
  ['POST', '/api/inspections/1/review', { label: 'confirmed', note: 'x'.repeat(100_000) }],
  ['PUT', '/api/recipes/plate/thresholds', { thresholds: { default: { minScore: 'high' } }, reason: 'why not' }],
  ['PUT', '/api/recipes/plate/thresholds', { thresholds: [], reason: 'array' }],
  ['POST', '/api/recipes/plate/rollback', { version: 0 }],
  ['POST', '/api/recipes/plate/rollback', { version: 999 }],
  ['POST', '/api/users', { username: '../admin', role: 'root', password: 'x' }],
  ['DELETE', '/api/keys/0'],
  ['POST', '/api/frames', Buffer.alloc(200 * 1024, 1), { 'content-type': 'image/jpeg' }],
  ['POST', '/api/frames', Buffer.from('GIF89a garbage'), { 'content-type': 'image/gif' }],
  ['POST', '/api/frames', 'plain text', { 'content-type': 'text/plain' }],
  ['POST', '/api/auth/login', { username: '', password: '' }],
  ['POST', '/api/auth/login', 'username=admin', { 'content-type': 'application/x-www-form-urlencoded' }],
];

describe('malformed requests', () => {
  it.each(cases)('%s %s gets a clear 4xx (or a verdict), never a 5xx', async (method, url, payload, headers) => {
    const r = await s.api!.inject({ method: method as 'GET', url, payload: payload as string, headers: { ...auth, ...headers } });
    expect(r.statusCode, r.body).toBeLessThan(500);
    if (r.statusCode >= 400) expect(r.json()).toMatchObject({ code: expect.stringMatching(/^(STN_ERR_|FST_)/), message: expect.any(String) });
  });

  it('the line still answers after all of them', async () => {
    const health = await s.api!.inject({ method: 'GET', url: '/api/health' });
    expect(health.statusCode).toBe(200);
    expect(health.json().status).toBe('ok');
  });
});
