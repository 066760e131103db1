/**
 * PostgreSQL for tests: the machine's server (127.0.0.1:5432, trust auth; `.ci/run` starts it).
 * Each caller gets a fresh database, dropped when its file's tests end. Where no server answers,
 * `pgAvailable` is false and suites skip with a message.
 */
import pg from 'pg';
import { afterAll } from 'vitest';

export const PG_ADMIN_URL = process.env.PG_TEST_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export const pgAvailable: boolean = await admin(async (c) => (await c.query('select 1')).rowCount === 1).catch(() => false);
if (!pgAvailable) console.warn(`PostgreSQL tests skipped: no server at ${PG_ADMIN_URL} (set PG_TEST_URL, or start PostgreSQL; .ci/run does)`);

const created: string[] = [];
afterAll(async () => {
  for (const name of created.splice(0)) await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => undefined);
});

/** A new, empty database; its URL. Dropped after the file's last test. */
export async function freshPostgres(prefix = 'station_test'): Promise<string> {
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  created.push(name);
  return PG_ADMIN_URL.replace(/\/[^/?]+(\?|$)/, `/${name}$1`);
}
