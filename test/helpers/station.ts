import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { expect } from 'vitest';
import { plateRecipe, validateConfig } from '../../src/config/index.js';
import type { InspectionResult } from '../../src/line/index.js';
import { startStation, type Station } from '../../src/main.js';
import { SHIPPED_MODEL } from '../../src/paths.js';
import { tmpDir } from './tmp.js';

export interface TestStationOptions {
  sources: { name: string; uri: string }[];
  line?: Record<string, number>;
  http?: Record<string, unknown>;
  /** Extra top-level configuration (plc, opcua, …). */
  extra?: Record<string, unknown>;
  recipe?: Record<string, unknown>;
  adminPassword?: string;
  env?: Record<string, string>;
  onResult?: (r: InspectionResult) => void;
  databaseUrl?: string;
}

/** A real station (SQLite file, worker, shipped model, HTTP on a free loopback port) in a fresh folder. */
export async function startTestStation(o: TestStationOptions): Promise<Station> {
  // Kept until the file ends: callers stop the station themselves, possibly in afterAll.
  const dir = tmpDir('station-test-', true);
  const config = validateConfig(
    {
      station: { id: 'test-1' },
      http: { port: 0, ...o.http },
      storage: { dataDir: dir },
      line: { deadlineMs: 10_000, ...o.line },
      sources: o.sources.map((s) => ({ ...s, recipe: 'plate' })),
      recipes: { plate: { ...plateRecipe(SHIPPED_MODEL), keepGood: 0, ...o.recipe } },
      ...o.extra,
    },
    dir,
  );
  return startStation({ config, log: pino({ level: 'silent' }), adminPassword: o.adminPassword, env: o.env, onResult: o.onResult, databaseUrl: o.databaseUrl });
}

export async function login(s: Station, username: string, password: string) {
  const r = await s.api!.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password, tokenInBody: true } });
  return { status: r.statusCode, body: r.json(), cookie: r.cookies.find((c) => c.name === 'station_session') };
}

/** A new user with this role, logged in: its Authorization header. */
export async function userWithRole(s: Station, role: 'viewer' | 'quality' | 'integrator') {
  await s.accounts.createUser(role, role, `${role}-password`);
  const l = await login(s, role, `${role}-password`);
  return { authorization: `Bearer ${l.body.token}` };
}

/** Pushes one PNG through `POST /api/frames`; its verdict and findings. */
export async function push(s: Station, headers: Record<string, string>, png: Buffer) {
  const r = await s.api!.inject({ method: 'POST', url: '/api/frames', headers: { ...headers, 'content-type': 'image/png' }, payload: png });
  expect(r.statusCode).toBe(200);
  return r.json() as { seq: number; verdict: string; defects: { class: string; score: number }[] };
}

const observers = new WeakMap<Station, Promise<{ authorization: string }>>();

/** A viewer's API key: health details and /metrics need a login (issue #15, finding 9). */
export function observer(s: Station): Promise<{ authorization: string }> {
  let found = observers.get(s);
  if (!found) {
    found = (async () => {
      const user =
        (await s.accounts.findUser('test-observer')) ?? (await s.accounts.createUser('test-observer', 'viewer', randomBytes(18).toString('base64url')));
      const { key } = await s.accounts.createApiKey(user.id, 'test-observer', 'viewer');
      return { authorization: `Bearer ${key}` };
    })();
    observers.set(s, found);
  }
  return found;
}
