/**
 * Issue #15: the holes a tester found, each reproduced as it was reported, and the account
 * management a plant needs. Real station (SQLite file, worker, shipped model), fastify inject or
 * a real loopback socket where a stream must stay open.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { extract } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { PartGenerator } from '../src/capture/index.js';
import type { Station } from '../src/main.js';
import { DiskImageStore, Exporter } from '../src/store/index.js';
import { login, startTestStation } from './helpers/station.js';
import { tmpDir } from './helpers/tmp.js';

const ADMIN_PW = 'security-admin-password';
const SCRAPE_TOKEN = 'prometheus-scrape-token-1';
let s: Station;
let admin: { authorization: string };
let integrator: { authorization: string };
let quality: { authorization: string };
let viewer: { authorization: string };
/** Inspection ids with stored originals: a defective part and a good one. */
let failId: number;
let passId: number;
let passAt: Date;

const inject = (method: string, url: string, headers: Record<string, string> = {}, payload?: unknown) =>
  s.api!.inject({ method: method as 'GET', url, headers, payload: payload as string });

async function user(name: string, role: 'viewer' | 'quality' | 'integrator' | 'admin') {
  await s.accounts.createUser(name, role, `${name}-password-long`);
  const l = await login(s, name, `${name}-password-long`);
  return { authorization: `Bearer ${l.body.token}` };
}

async function png(defective: boolean, index: number) {
  const p = new PartGenerator({ seed: 3, defectRate: defective ? 1 : 0 }).part(index);
  return sharp(p.image.data, { raw: { width: 512, height: 384, channels: 1 } })
    .png()
    .toBuffer();
}

async function exportJob(layout: 'ultralytics' | 'folders') {
  const started = await inject('POST', '/api/exports', quality, { layout });
  expect(started.statusCode).toBe(202);
  let job = started.json();
  for (let i = 0; i < 200 && job.state === 'running'; i++) {
    await new Promise((r) => setTimeout(r, 50));
    job = (await inject('GET', `/api/exports/${job.id}`, quality)).json();
  }
  return job as { id: string; state: string; error?: string; errorCode?: string };
}

/** Every file under `dir`, relative. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

beforeAll(async () => {
  s = await startTestStation({
    sources: [{ name: 'push', uri: 'http:' }],
    recipe: { keepGood: 1 },
    adminPassword: ADMIN_PW,
    http: { rateLimitPerMinute: 100_000, metricsTokenSha256: [createHash('sha256').update(SCRAPE_TOKEN).digest('hex')] },
  });
  admin = { authorization: `Bearer ${(await login(s, 'admin', ADMIN_PW)).body.token}` };
  integrator = await user('integrator', 'integrator');
  quality = await user('quality', 'quality');
  viewer = await user('viewer', 'viewer');
  for (const body of [await png(true, 12), await png(false, 5)]) {
    const r = await inject('POST', '/api/frames', { ...integrator, 'content-type': 'image/png' }, body);
    expect(r.statusCode).toBe(200);
  }
  await s.recorder.flush();
  const items = (await inject('GET', '/api/inspections', viewer)).json().items as { id: number; verdict: string; capturedAt: string }[];
  failId = items.find((i) => i.verdict === 'fail')!.id;
  const pass = items.find((i) => i.verdict === 'pass')!;
  passId = pass.id;
  passAt = new Date(pass.capturedAt);
}, 120_000);
afterAll(async () => s?.stop());

describe('finding 1: files written anywhere through the review class', () => {
  it('refuses a review class that is a path with 400 STN_ERR_REVIEW_CLASS', async () => {
    for (const cls of ['../../../../x', '../../../../../../../tmp/owned', '..', '.', 'a/b', 'a\\b']) {
      const r = await inject('POST', `/api/inspections/${passId}/review`, quality, { label: 'escape', class: cls });
      expect(r.statusCode, cls).toBe(400);
      expect(r.json().code, cls).toBe('STN_ERR_REVIEW_CLASS');
    }
    expect(await s.db.review.count({ where: { class: { contains: '/' } } })).toBe(0);
  });

  it('an export with a path-like class stored before the check fails with STN_ERR_EXPORT_PATH and writes nothing outside its folder', async () => {
    const outside = tmpDir('outside-');
    const exportsDir = path.join(s.dataDir, 'exports');
    // Exactly the tester's row: a class that climbs from <exports>/<job>.work/defect/ to `outside`.
    const climb = path.relative(path.join(exportsDir, 'job.work', 'defect'), outside);
    const review = await s.db.review.create({ data: { inspectionId: passId, capturedAt: passAt, userId: 1, label: 'escape', class: climb } });
    try {
      const job = await exportJob('folders');
      expect(job).toMatchObject({ state: 'failed', errorCode: 'STN_ERR_EXPORT_PATH' });
      expect(filesUnder(outside)).toEqual([]);
      expect(readdirSync(exportsDir).filter((f) => f.endsWith('.work'))).toEqual([]);
    } finally {
      await s.db.review.delete({ where: { id: review.id } });
    }
  });
});

describe('finding 2: injection into the Ultralytics data.yaml', () => {
  it('refuses a class with a newline (400), and data.yaml parses to exactly the model classes', async () => {
    const bad = await inject('POST', `/api/inspections/${passId}/review`, quality, { label: 'escape', class: 'x\n  99: injected\nval: /etc' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('STN_ERR_REVIEW_CLASS');

    expect((await inject('POST', `/api/inspections/${failId}/review`, quality, { label: 'confirmed' })).statusCode).toBe(201);
    expect((await inject('POST', `/api/inspections/${passId}/review`, quality, { label: 'escape', class: 'scratch', box: [10, 20, 60, 40] })).statusCode).toBe(
      201,
    );
    const job = await exportJob('ultralytics');
    expect(job.state).toBe('done');
    const archive = await inject('GET', `/api/exports/${job.id}/archive`, quality);
    const dir = tmpDir();
    writeFileSync(path.join(dir, 'd.tar.gz'), archive.rawPayload);
    await extract({ file: path.join(dir, 'd.tar.gz'), cwd: dir });
    const data = parseYaml(readFileSync(path.join(dir, 'data.yaml'), 'utf8'));
    const labels = s.line.models[0].labels;
    expect(data).toEqual({ path: '.', train: 'images', val: 'images', names: Object.fromEntries(labels.map((l, i) => [i, l])) });
  });

  it('a class with a newline stored before the check stops the export instead of reaching the YAML', async () => {
    const review = await s.db.review.create({
      data: { inspectionId: passId, capturedAt: passAt, userId: 1, label: 'escape', class: 'x\n  99: injected\nval: /etc' },
    });
    try {
      expect(await exportJob('ultralytics')).toMatchObject({ state: 'failed', errorCode: 'STN_ERR_EXPORT_PATH' });
    } finally {
      await s.db.review.delete({ where: { id: review.id } });
    }
  });
});

describe('finding 3: security headers', () => {
  it('sends CSP with frame-ancestors none, X-Frame-Options DENY, nosniff and no-referrer on the gallery, the API and images', async () => {
    for (const [url, h] of [
      ['/', {}],
      ['/api/health', {}],
      ['/api/inspections', viewer],
      [`/api/inspections/${failId}/image?variant=thumb`, viewer],
      ['/api/nope', {}],
    ] as const) {
      const r = await inject('GET', url, h);
      expect(r.headers['content-security-policy'], url).toMatch(/frame-ancestors 'none'/);
      expect(r.headers['content-security-policy'], url).toMatch(/script-src 'self'(;|$)/);
      expect(r.headers['x-frame-options'], url).toBe('DENY');
      expect(r.headers['x-content-type-options'], url).toBe('nosniff');
      expect(r.headers['referrer-policy'], url).toBe('no-referrer');
    }
  });

  it('serves the OpenAPI UI with its own policy, framing refused there too', async () => {
    const r = await inject('GET', '/docs', viewer);
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(r.headers['content-security-policy']).toMatch(/style-src 'self' 'unsafe-inline'/);
    expect(r.headers['content-security-policy']).not.toMatch(/script-src[^;]*unsafe/);
  });
});

describe('finding 5: POST /api/frames and CSRF', () => {
  it('a cookie session must send the CSRF token to push a frame; a key needs none', async () => {
    const l = await login(s, 'integrator', 'integrator-password-long');
    const cookie = `station_session=${l.cookie!.value}`;
    const body = await png(false, 6);
    const without = await inject('POST', '/api/frames', { cookie, 'content-type': 'image/png' }, body);
    expect(without.statusCode).toBe(403);
    expect(without.json().code).toBe('STN_ERR_HTTP_CSRF');
    const withToken = await inject('POST', '/api/frames', { cookie, 'x-csrf-token': l.body.csrfToken, 'content-type': 'image/png' }, body);
    expect(withToken.statusCode).toBe(200);
    expect((await inject('POST', '/api/frames', { ...integrator, 'content-type': 'image/png' }, body)).statusCode).toBe(200);
  });
});

describe('finding 8: crafted names and numbers', () => {
  const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
  it('answers 404, not 500, for prototype names as recipes', async () => {
    for (const n of names) {
      for (const url of [`/api/recipes/${n}`, `/api/recipes/${n}/model`, `/api/recipes/${n}/versions`]) {
        const r = await inject('GET', url, viewer);
        expect(r.statusCode, url).toBe(404);
        expect(r.json().code, url).toBe('STN_ERR_RECIPE_UNKNOWN');
      }
      const put = await inject('PUT', `/api/recipes/${n}/thresholds`, integrator, { thresholds: {}, reason: 'prototype' });
      expect(put.statusCode, n).toBe(404);
      const w = await inject('POST', '/api/whatif', viewer, { thresholds: {}, recipe: n });
      expect(w.statusCode, n).toBe(404);
    }
  });

  it('answers 400 for integers beyond their column', async () => {
    for (const url of ['/api/inspections?cursor=999999999999999999999', '/api/inspections?cursor=2147483648', '/api/inspections/99999999999']) {
      const r = await inject('GET', url, viewer);
      expect(r.statusCode, url).toBe(400);
    }
    const rb = await inject('POST', '/api/recipes/plate/rollback', { ...integrator, 'content-type': 'application/json' }, '{"version": 99999999999999999999}');
    expect(rb.statusCode).toBe(400);
    const off = await inject('GET', '/api/reinference/1/parts?offset=99999999999999', viewer);
    expect(off.statusCode).toBe(400);
  });
});

describe('finding 9: what answers without a login', () => {
  it('health tells anonymous callers the status and problems only; a viewer sees the details', async () => {
    const anon = (await inject('GET', '/api/health')).json();
    expect(Object.keys(anon).sort()).toEqual(['problems', 'status']);
    const full = (await inject('GET', '/api/health', viewer)).json();
    expect(full).toMatchObject({ status: expect.any(String), lineState: 'running', disk: expect.anything(), process: expect.anything() });
    expect(Object.keys((await inject('GET', '/api/ready')).json()).sort()).toEqual(['problems', 'ready']);
  });

  it('metrics and the API description need a login', async () => {
    for (const url of ['/metrics', '/docs', '/docs/json']) {
      const anon = await inject('GET', url);
      expect(anon.statusCode, url).toBe(401);
      expect(anon.json().code, url).toBe('STN_ERR_HTTP_UNAUTHORIZED');
      expect((await inject('GET', url, viewer)).statusCode, url).toBe(200);
    }
    // A Prometheus scraper sends a token whose sha256 is configured (http.metricsTokenSha256).
    const scraped = await inject('GET', '/metrics', { authorization: `Bearer ${SCRAPE_TOKEN}` });
    expect(scraped.statusCode).toBe(200);
    expect(scraped.body).toMatch(/^# HELP/m);
    expect((await inject('GET', '/metrics', { authorization: 'Bearer not-the-token' })).statusCode).toBe(401);
    expect((await inject('GET', '/api/inspections', { authorization: `Bearer ${SCRAPE_TOKEN}` })).statusCode).toBe(401);
  });

  it('viewers see model file names, not where the station keeps them; integrators see the path', async () => {
    const forViewer = JSON.stringify([(await inject('GET', '/api/recipes/plate', viewer)).json(), (await inject('GET', '/api/models', viewer)).json()]);
    expect(forViewer).not.toContain(path.dirname(s.line.models[0].file));
    expect(forViewer).toContain(path.basename(s.line.models[0].file));
    const forIntegrator = JSON.stringify((await inject('GET', '/api/recipes/plate', integrator)).json());
    expect(forIntegrator).toContain(s.line.models[0].file);
  });
});

describe('finding 10: unbounded resources and shared limits', () => {
  /** Opens `/api/live` on the real socket; resolves with the status once the headers arrive. */
  const openLive = (headers: Record<string, string>) =>
    new Promise<{ status: number; close: () => void }>((resolve, reject) => {
      const req = http.get(`${s.url}/api/live`, { headers }, (res) => resolve({ status: res.statusCode!, close: () => req.destroy() }));
      req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
    });

  it('caps live streams per user: the fifth gets 429 STN_ERR_HTTP_LIVE_LIMIT, closing one frees its place, other users are not counted', async () => {
    const streams = [];
    for (let i = 0; i < 4; i++) streams.push(await openLive(viewer));
    expect(streams.map((x) => x.status)).toEqual([200, 200, 200, 200]);
    const fifth = await inject('GET', '/api/live', viewer);
    expect(fifth.statusCode).toBe(429);
    expect(fifth.json().code).toBe('STN_ERR_HTTP_LIVE_LIMIT');
    const other = await openLive(quality);
    expect(other.status).toBe(200);
    other.close();
    streams.pop()!.close();
    await new Promise((r) => setTimeout(r, 200));
    const again = await openLive(viewer);
    expect(again.status).toBe(200);
    for (const x of [...streams, again]) x.close();
  });

  it('export archives expire: deleted after their time and, at start-up, leftovers of an earlier run', async () => {
    const dir = tmpDir('exports-');
    const old = path.join(dir, 'old.tar.gz');
    const fresh = path.join(dir, 'fresh.tar.gz');
    writeFileSync(old, 'x');
    writeFileSync(fresh, 'x');
    mkdirSync(path.join(dir, 'crashed.work'));
    const twoDaysAgo = new Date(Date.now() - 48 * 3600 * 1000);
    utimesSync(old, twoDaysAgo, twoDaysAgo);
    const exporter = new Exporter(s.db, new DiskImageStore(path.join(s.dataDir, 'images')), dir, () => [], { ttlMs: 24 * 3600 * 1000 });
    try {
      expect(readdirSync(dir).sort()).toEqual(['fresh.tar.gz']);
      utimesSync(fresh, twoDaysAgo, twoDaysAgo);
      expect(exporter.sweep()).toBe(1);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      exporter.close();
    }
  });

  it('ten wrong logins for one name from a shared address slow that name down but do not keep another user of the address out', async () => {
    const hmi = '10.0.0.5';
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await s.api!.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: hmi, payload: { username: 'admin', password: `guess-${i}` } });
      statuses.push(r.statusCode);
      if (r.statusCode === 429) expect(r.json().code).toBe('STN_ERR_HTTP_LOGIN_THROTTLED');
    }
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses.slice(3).every((x) => x === 429)).toBe(true);
    // The name is slowed wherever the guesses come from…
    const elsewhere = await s.api!.inject({
      method: 'POST',
      url: '/api/auth/login',
      remoteAddress: '10.0.0.9',
      payload: { username: 'admin', password: ADMIN_PW },
    });
    expect(elsewhere.statusCode).toBe(429);
    expect(Number(elsewhere.headers['retry-after'])).toBeGreaterThan(0);
    // …but the real quality engineer at the same HMI logs in.
    const other = await s.api!.inject({
      method: 'POST',
      url: '/api/auth/login',
      remoteAddress: hmi,
      payload: { username: 'quality', password: 'quality-password-long' },
    });
    expect(other.statusCode).toBe(200);
  });

  it('guessing many names from one address slows that address, not others', async () => {
    const sprayer = '10.0.1.1';
    const statuses: number[] = [];
    for (let i = 0; i < 22; i++) {
      const r = await s.api!.inject({
        method: 'POST',
        url: '/api/auth/login',
        remoteAddress: sprayer,
        payload: { username: `user${i}`, password: 'wrong-password' },
      });
      statuses.push(r.statusCode);
    }
    expect(statuses.slice(0, 20).every((x) => x === 401)).toBe(true);
    expect(statuses.slice(20)).toEqual([429, 429]);
    const fromElsewhere = await s.api!.inject({
      method: 'POST',
      url: '/api/auth/login',
      remoteAddress: '10.0.1.2',
      payload: { username: 'viewer', password: 'viewer-password-long' },
    });
    expect(fromElsewhere.statusCode).toBe(200);
  });
});

describe('finding 11: tokens and names', () => {
  it('a cookie login gives page JavaScript the CSRF token only; the session token only when asked for', async () => {
    const browser = await inject('POST', '/api/auth/login', {}, { username: 'viewer', password: 'viewer-password-long' });
    expect(browser.statusCode).toBe(200);
    expect(browser.json()).toEqual({ csrfToken: expect.any(String), username: 'viewer', role: 'viewer' });
    expect(browser.cookies.find((c) => c.name === 'station_session')).toMatchObject({ httpOnly: true });
    const script = await inject('POST', '/api/auth/login', {}, { username: 'viewer', password: 'viewer-password-long', tokenInBody: true });
    expect(script.json().token).toEqual(expect.any(String));
    // The gallery never asks for it.
    const gallery = readFileSync(path.join(import.meta.dirname, '../src/web/api.ts'), 'utf8');
    expect(gallery).not.toMatch(/tokenInBody|\.token\b/);
  });

  it('user names follow one pattern in the API and the store the command line uses', async () => {
    const r = await inject('POST', '/api/users', admin, { username: '<img src=x onerror=alert(7)>', role: 'viewer', password: 'a-long-enough-password' });
    expect(r.statusCode).toBe(400);
    await expect(s.accounts.createUser('<img src=x onerror=alert(7)>', 'viewer', 'a-long-enough-password')).rejects.toMatchObject({
      code: 'STN_ERR_ACCOUNT_NAME',
    });
  });
});

describe('finding 4: accounts an admin can manage', () => {
  it('disabling a user ends its sessions and its API keys at once; enabling lets it log in again', async () => {
    const boss = await user('boss', 'admin');
    const key = (await inject('POST', '/api/keys', boss, { name: 'boss-script', role: 'integrator' })).json().key as string;
    const keyAuth = { authorization: `Bearer ${key}` };
    expect((await inject('GET', '/api/inspections', boss)).statusCode).toBe(200);
    expect((await inject('GET', '/api/inspections', keyAuth)).statusCode).toBe(200);

    const off = await inject('POST', '/api/users/boss/disable', admin);
    expect(off.statusCode).toBe(200);
    expect((await inject('GET', '/api/inspections', boss)).statusCode).toBe(401);
    expect((await inject('GET', '/api/inspections', keyAuth)).statusCode).toBe(401);
    expect((await login(s, 'boss', 'boss-password-long')).status).toBe(401);

    expect((await inject('POST', '/api/users/boss/enable', admin)).statusCode).toBe(200);
    expect((await login(s, 'boss', 'boss-password-long')).status).toBe(200);
    // Revoked keys stay revoked.
    expect((await inject('GET', '/api/inspections', keyAuth)).statusCode).toBe(401);
    const audit = (await inject('GET', '/api/audit', admin)).json().items.map((a: { action: string; target: string }) => `${a.action} ${a.target}`);
    expect(audit).toEqual(expect.arrayContaining(['user.disable boss', 'user.enable boss']));
  });

  it("changing a user's role ends its sessions and keys; the last admin cannot be disabled or demoted", async () => {
    const op = await user('operator1', 'quality');
    expect((await inject('PUT', '/api/users/operator1/role', admin, { role: 'viewer' })).statusCode).toBe(200);
    expect((await inject('GET', '/api/inspections', op)).statusCode).toBe(401);
    const again = await login(s, 'operator1', 'operator1-password-long');
    expect(again.body.role).toBe('viewer');
    await s.accounts.setDisabled('boss', true);
    expect((await inject('POST', '/api/users/admin/disable', admin)).json().code).toBe('STN_ERR_HTTP_CONFLICT');
    expect((await inject('PUT', '/api/users/admin/role', admin, { role: 'viewer' })).json().code).toBe('STN_ERR_HTTP_CONFLICT');
    expect((await inject('POST', '/api/users/nobody/disable', admin)).statusCode).toBe(404);
  });

  it('resets a password: the old sessions end, the policy holds (at least 12 characters, not the name)', async () => {
    const op = await user('operator2', 'quality');
    for (const password of ['short', 'operator2', 'OPERATOR2']) {
      const r = await inject('POST', '/api/users/operator2/password', admin, { password });
      expect(r.json().code, password).toBe('STN_ERR_ACCOUNT_PASSWORD');
    }
    expect((await inject('POST', '/api/users/operator2/password', admin, { password: 'a-new-long-password' })).statusCode).toBe(200);
    expect((await inject('GET', '/api/inspections', op)).statusCode).toBe(401);
    expect((await login(s, 'operator2', 'a-new-long-password')).status).toBe(200);
    const created = await inject('POST', '/api/users', admin, { username: 'newbie', role: 'viewer', password: 'eleven-char' });
    expect(created.json().code).toBe('STN_ERR_ACCOUNT_PASSWORD');
  });

  it('lists API keys without the key or its hash, with expiry; an expired key is refused with 401 STN_ERR_HTTP_KEY_EXPIRED', async () => {
    const made = await inject('POST', '/api/keys', admin, { name: 'mes-reader', role: 'viewer' });
    expect(made.statusCode).toBe(201);
    const { id, key, expiresAt } = made.json();
    // 90 days unless said otherwise; at most 365.
    expect(Math.round((Date.parse(expiresAt) - Date.now()) / 86_400_000)).toBe(90);
    expect((await inject('POST', '/api/keys', admin, { name: 'too-long', role: 'viewer', expiresInDays: 366 })).statusCode).toBe(400);
    const listed = await inject('GET', '/api/keys', admin);
    const row = listed.json().items.find((k: { id: number }) => k.id === id);
    expect(Object.keys(row).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'owner', 'prefix', 'revokedAt', 'role']);
    expect(row).toMatchObject({ name: 'mes-reader', role: 'viewer', owner: 'admin', prefix: key.slice(0, 10), revokedAt: null });
    expect(listed.body).not.toContain(key);

    const auth = { authorization: `Bearer ${key}` };
    expect((await inject('GET', '/api/inspections', auth)).statusCode).toBe(200);
    await s.db.apiKey.update({ where: { id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const expired = await inject('GET', '/api/inspections', auth);
    expect(expired.statusCode).toBe(401);
    expect(expired.json().code).toBe('STN_ERR_HTTP_KEY_EXPIRED');
    expect((await inject('DELETE', `/api/keys/${id}`, admin)).statusCode).toBe(200);
    expect((await inject('GET', '/api/keys', admin)).json().items.find((k: { id: number }) => k.id === id).revokedAt).not.toBeNull();
  });

  it('a key never mints a key of a higher role, and no API key mints an admin key', async () => {
    const adminKey = (await inject('POST', '/api/keys', admin, { name: 'admin-script', role: 'admin' })).json().key as string;
    const byKey = { authorization: `Bearer ${adminKey}` };
    const refused = await inject('POST', '/api/keys', byKey, { name: 'escalate', role: 'admin' });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('STN_ERR_HTTP_FORBIDDEN');
    expect((await inject('POST', '/api/keys', byKey, { name: 'line-reader', role: 'integrator' })).statusCode).toBe(201);
    // Below admin, a key issues no keys at all.
    const integratorKey = (await inject('POST', '/api/keys', byKey, { name: 'int', role: 'integrator' })).json().key;
    expect((await inject('POST', '/api/keys', { authorization: `Bearer ${integratorKey}` }, { name: 'x', role: 'viewer' })).statusCode).toBe(403);
  });
});
