/**
 * The gallery's static files (issue #20): brotli/gzip by Accept-Encoding, hashed bundles cached for a
 * year, index.html revalidated, the CSP kept; the live SSE stream is not compressed or buffered.
 */
import { readdirSync } from 'node:fs';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Station } from '../src/main.js';
import { startTestStation, userWithRole } from './helpers/station.js';

let s: Station;
const js = readdirSync(new URL('../dist/web/assets', import.meta.url)).find((f) => f.endsWith('.js'));

beforeAll(async () => {
  s = await startTestStation({ sources: [{ name: 'push', uri: 'http:' }] });
}, 60_000);
afterAll(async () => {
  await s?.stop();
});

describe('static files', () => {
  it('sends a JS bundle brotli- or gzip-compressed as the client asks, cached as immutable', async () => {
    expect(js).toBeDefined();
    const plain = await s.api!.inject({ method: 'GET', url: `/assets/${js}` });
    expect(plain.statusCode).toBe(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');

    const br = await s.api!.inject({ method: 'GET', url: `/assets/${js}`, headers: { 'accept-encoding': 'br, gzip' } });
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(brotliDecompressSync(br.rawPayload).equals(plain.rawPayload)).toBe(true);
    expect(br.rawPayload.length).toBeLessThan(plain.rawPayload.length / 2);

    const gz = await s.api!.inject({ method: 'GET', url: `/assets/${js}`, headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).equals(plain.rawPayload)).toBe(true);
  });

  it('revalidates index.html on every load and keeps the CSP', async () => {
    for (const url of ['/', '/index.html']) {
      const r = await s.api!.inject({ method: 'GET', url, headers: { 'accept-encoding': 'gzip' } });
      expect(r.statusCode).toBe(200);
      expect(r.headers['cache-control']).toBe('no-cache');
      expect(String(r.headers['content-security-policy'])).toContain("default-src 'self'");
    }
  });

  it('does not compress the API or the live event stream', async () => {
    const viewer = await userWithRole(s, 'viewer');
    const api = await s.api!.inject({ method: 'GET', url: '/api/inspections?limit=50', headers: { ...viewer, 'accept-encoding': 'br, gzip' } });
    expect(api.statusCode).toBe(200);
    expect(api.headers['content-encoding']).toBeUndefined();

    const abort = new AbortController();
    const live = await fetch(new URL('/api/live', s.url!), {
      headers: { ...viewer, 'accept-encoding': 'br, gzip' },
      signal: abort.signal,
    });
    expect(live.status).toBe(200);
    expect(live.headers.get('content-type')).toContain('text/event-stream');
    expect(live.headers.get('content-encoding')).toBeNull();
    // The stream delivers its first event while still open: nothing holds it back to compress.
    const reader = live.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    abort.abort();
  });
});
