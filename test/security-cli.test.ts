/**
 * `station user list|disable|enable|role|reset-password` (issue #15, finding 4: revoking anyone
 * needed an edit of the database), run as a user would run them, against a real SQLite file.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Accounts, openDatabase, type Db } from '../src/store/index.js';
import { station } from './helpers/cli.js';
import { tmpDir } from './helpers/tmp.js';

let dir: string;
let db: Db;
let accounts: Accounts;
const file = () => path.join(dir, 'station.db');
const user = (args: string[], password?: string) =>
  station(['user', ...args, '--data', dir], { env: { DATABASE_URL: '', ...(password ? { STATION_PASSWORD: password } : {}) } });

beforeAll(async () => {
  dir = tmpDir('user-cli-', true);
  for (const [name, role] of [
    ['alice', 'admin'],
    ['bob', 'quality'],
  ]) {
    const r = await user(['add', name, '--role', role], `${name}-password-long`);
    expect(r.code, r.stderr).toBe(0);
  }
  db = await openDatabase(`file:${file()}`);
  accounts = new Accounts(db);
}, 60_000);
afterAll(async () => db?.$disconnect());

describe('station user', () => {
  it('disable ends the sessions and revokes the API keys of the user at once, and says which database it wrote', async () => {
    const session = await accounts.login('bob', 'bob-password-long');
    const bob = await accounts.findUser('bob');
    const { key } = await accounts.createApiKey(bob!.id, 'bob-script', 'quality');
    expect(await accounts.byApiKey(key)).not.toBeNull();

    const r = await user(['disable', 'bob']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.lines.at(-1)!)).toEqual({ user: 'bob', disabled: true, database: `file:${file()}` });
    expect(r.stderr).toContain(`in file:${file()}`);
    expect(await accounts.bySessionToken(session!.token)).toBeNull();
    expect(await accounts.byApiKey(key)).toBeNull();
    expect(await accounts.login('bob', 'bob-password-long')).toBeNull();

    const on = await user(['enable', 'bob']);
    expect(on.code, on.stderr).toBe(0);
    expect(await accounts.login('bob', 'bob-password-long')).not.toBeNull();
    // Revoked keys stay revoked; the audit log names the command line.
    expect(await accounts.byApiKey(key)).toBeNull();
    const audit = (await accounts.auditLog(10)).map((a) => `${a.action} ${a.target} by ${a.actor}`);
    expect(audit).toEqual(
      expect.arrayContaining(['user.disable bob by station user disable (command line)', 'user.enable bob by station user enable (command line)']),
    );
  }, 60_000);

  it('role changes the role and ends the sessions; reset-password holds to the policy and ends the sessions', async () => {
    const session = await accounts.login('bob', 'bob-password-long');
    const r = await user(['role', 'bob', 'viewer']);
    expect(r.code, r.stderr).toBe(0);
    expect((await accounts.findUser('bob'))!.role).toBe('viewer');
    expect(await accounts.bySessionToken(session!.token)).toBeNull();

    const short = await user(['reset-password', 'bob'], 'too-short');
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('STN_ERR_ACCOUNT_PASSWORD');
    const again = await accounts.login('bob', 'bob-password-long');
    const ok = await user(['reset-password', 'bob'], 'a-brand-new-passphrase');
    expect(ok.code, ok.stderr).toBe(0);
    expect(await accounts.bySessionToken(again!.token)).toBeNull();
    expect(await accounts.login('bob', 'a-brand-new-passphrase')).not.toBeNull();
  }, 60_000);

  it('list shows users and keys (never a key or its hash); unknown users and names the API refuses exit 2', async () => {
    const r = await user(['list']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.lines.at(-1)!);
    expect(out.database).toBe(`file:${file()}`);
    expect(out.users.map((u: { username: string; role: string }) => `${u.username}:${u.role}`)).toEqual(['alice:admin', 'bob:viewer']);
    expect(out.keys).toEqual([expect.objectContaining({ name: 'bob-script', owner: 'bob', revokedAt: expect.any(String) })]);
    expect(r.lines.at(-1)).not.toMatch(/keyHash|passwordHash/);

    const nobody = await user(['disable', 'nobody']);
    expect(nobody.code).toBe(2);
    expect(nobody.stderr).toContain('STN_ERR_HTTP_NOT_FOUND');
    const bad = await user(['add', '<img src=x onerror=alert(7)>', '--role', 'viewer'], 'a-long-enough-password');
    expect(bad.code).toBe(2);
    expect((await accounts.listUsers()).map((u) => u.username)).toEqual(['alice', 'bob']);
  }, 60_000);
});
