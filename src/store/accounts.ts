import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { StationError } from '../errors/index.js';
import type { Db } from './db.js';
import { appendAudit } from './audit.js';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

export const ROLES = ['viewer', 'quality', 'integrator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Roles are ordered: each can do what the ones before it can. */
export function roleAtLeast(have: string, need: Role): boolean {
  return ROLES.indexOf(have as Role) >= ROLES.indexOf(need);
}

/** User names, one rule for the API and the `station user` command. */
export const USERNAME_PATTERN = '^[A-Za-z0-9_.@-]{1,64}$';
const USERNAME_RE = new RegExp(USERNAME_PATTERN);

/** Password policy for every new password (API and CLI): 12 to 256 characters, not the user name. */
export const PASSWORD_POLICY = 'at least 12 and at most 256 characters, and not the user name';
export const PASSWORD_MIN = 12;

/** Throws STN_ERR_ACCOUNT_NAME unless `username` matches USERNAME_PATTERN. */
export function checkUsername(username: string): void {
  if (!USERNAME_RE.test(username)) throw new StationError('STN_ERR_ACCOUNT_NAME', `user names match ${USERNAME_PATTERN}`);
}

/** Throws STN_ERR_ACCOUNT_PASSWORD when a new password breaks the policy. */
export function checkNewPassword(username: string, password: string): void {
  if (password.length < PASSWORD_MIN || password.length > 256 || password.toLowerCase() === username.toLowerCase()) {
    throw new StationError('STN_ERR_ACCOUNT_PASSWORD', `a password needs ${PASSWORD_POLICY}`);
  }
}

/** API keys expire: this many days unless the creator says otherwise, never more than KEY_MAX_DAYS. */
export const KEY_DEFAULT_DAYS = 90;
export const KEY_MAX_DAYS = 365;

const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

/** scrypt (memory-hard), a random 16-byte salt, parameters kept with the hash. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const got = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return got.length === expected.length && timingSafeEqual(got, expected);
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const token = (bytes = 32) => randomBytes(bytes).toString('base64url');

export interface Principal {
  kind: 'session' | 'key';
  userId: number;
  username: string;
  role: Role;
  /** Browser sessions: the token every unsafe request must echo in `x-csrf-token`. */
  csrfToken?: string;
  sessionTokenHash?: string;
  /** API keys: the key's id. */
  keyId?: number;
}

/** An API key as listed: never the key or its hash. */
export interface ApiKeyInfo {
  id: number;
  name: string;
  prefix: string;
  role: Role;
  owner: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

/** What `byApiKey` found: a principal, or why the key is refused. */
export type KeyLookup = { principal: Principal } | { refused: 'unknown' | 'expired' };

export interface UserPreferences {
  locale: string | null;
  theme: 'light' | 'dark' | null;
}

/** Users, login sessions, API keys and the audit log. Secrets are stored hashed, never logged. */
export class Accounts {
  constructor(
    readonly db: Db,
    readonly sessionTtlMs = 12 * 3600 * 1000,
  ) {}

  /** The gallery's preferences of a user (language and theme; null: the browser's and the system's). */
  async preferences(userId: number): Promise<UserPreferences> {
    const u = await this.db.user.findUnique({ where: { id: userId }, select: { locale: true, theme: true } });
    return { locale: u?.locale ?? null, theme: (u?.theme as UserPreferences['theme']) ?? null };
  }

  /** Sets the preferences given (undefined keeps one, null clears it); the caller checks the values. */
  async setPreferences(userId: number, p: Partial<UserPreferences>): Promise<UserPreferences> {
    const u = await this.db.user.update({ where: { id: userId }, data: p, select: { locale: true, theme: true } });
    return { locale: u.locale, theme: u.theme as UserPreferences['theme'] };
  }

  /** A new user; the name must match USERNAME_PATTERN (the password policy is the caller's, see checkNewPassword). */
  async createUser(username: string, role: Role, password: string): Promise<{ id: number }> {
    checkUsername(username);
    return this.db.user.create({ data: { username, role, passwordHash: await hashPassword(password) }, select: { id: true } });
  }

  /** A new password; every session of the user ends (API keys stay). False: no such user. */
  async setPassword(username: string, password: string): Promise<boolean> {
    const passwordHash = await hashPassword(password);
    return this.db.$transaction(async (tx) => {
      const u = await tx.user.findUnique({ where: { username }, select: { id: true } });
      if (!u) return false;
      await tx.user.update({ where: { id: u.id }, data: { passwordHash } });
      await tx.session.deleteMany({ where: { userId: u.id } });
      return true;
    }, BUSY_LINE);
  }

  /**
   * Disables (or enables) a user. Disabling ends every session and revokes every API key of the
   * user in the same transaction: nothing it held works from the next request on. Enabling does
   * not bring keys back. False: no such user.
   */
  async setDisabled(username: string, disabled: boolean): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      const u = await tx.user.findUnique({ where: { username }, select: { id: true } });
      if (!u) return false;
      const now = new Date();
      await tx.user.update({ where: { id: u.id }, data: { disabledAt: disabled ? now : null } });
      if (disabled) await endAccess(tx, u.id, now);
      return true;
    }, BUSY_LINE);
  }

  /** A new role; like disabling, it ends the user's sessions and revokes its keys at once. False: no such user. */
  async setRole(username: string, role: Role): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      const u = await tx.user.findUnique({ where: { username }, select: { id: true } });
      if (!u) return false;
      await tx.user.update({ where: { id: u.id }, data: { role } });
      await endAccess(tx, u.id, new Date());
      return true;
    }, BUSY_LINE);
  }

  async countUsers(): Promise<number> {
    return this.db.user.count();
  }

  async findUser(username: string) {
    return this.db.user.findUnique({ where: { username } });
  }

  async listUsers() {
    return this.db.user.findMany({ select: { id: true, username: true, role: true, createdAt: true, disabledAt: true }, orderBy: { id: 'asc' } });
  }

  /** Every API key (active, expired and revoked), oldest first. */
  async listApiKeys(): Promise<ApiKeyInfo[]> {
    const rows = await this.db.apiKey.findMany({ orderBy: { id: 'asc' }, include: { user: { select: { username: true } } } });
    return rows.map((k) => ({
      id: k.id,
      name: k.name,
      prefix: k.prefix,
      role: k.role as Role,
      owner: k.user.username,
      createdAt: k.createdAt,
      lastUsedAt: k.lastUsedAt,
      expiresAt: k.expiresAt,
      revokedAt: k.revokedAt,
    }));
  }

  /** Checks a password; a missing user costs the same hash as a wrong password. */
  async login(username: string, password: string): Promise<{ token: string; csrfToken: string; principal: Principal } | null> {
    const user = await this.findUser(username);
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !ok || user.disabledAt) return null;
    const t = token();
    const csrfToken = token(24);
    await this.db.session.create({ data: { tokenHash: sha256(t), csrfToken, userId: user.id, expiresAt: new Date(Date.now() + this.sessionTtlMs) } });
    return {
      token: t,
      csrfToken,
      principal: { kind: 'session', userId: user.id, username: user.username, role: user.role as Role, csrfToken, sessionTokenHash: sha256(t) },
    };
  }

  async logout(tokenHash: string): Promise<void> {
    await this.db.session.deleteMany({ where: { tokenHash } });
  }

  async bySessionToken(t: string): Promise<Principal | null> {
    const s = await this.db.session.findUnique({ where: { tokenHash: sha256(t) }, include: { user: true } });
    if (!s || s.expiresAt.getTime() < Date.now() || s.user.disabledAt) return null;
    return { kind: 'session', userId: s.userId, username: s.user.username, role: s.user.role as Role, csrfToken: s.csrfToken, sessionTokenHash: s.tokenHash };
  }

  /**
   * A new API key that expires after `expiresInDays` (default KEY_DEFAULT_DAYS, at most
   * KEY_MAX_DAYS); the key itself is returned once and only its sha256 is kept.
   */
  async createApiKey(userId: number, name: string, role: Role, expiresInDays = KEY_DEFAULT_DAYS): Promise<{ id: number; key: string; expiresAt: Date }> {
    const days = Math.min(Math.max(expiresInDays, 1 / 24 / 3600), KEY_MAX_DAYS);
    const expiresAt = new Date(Date.now() + days * 24 * 3600 * 1000);
    const key = `stn_${token(24)}`;
    const row = await this.db.apiKey.create({
      data: { name, role, userId, prefix: key.slice(0, 10), keyHash: sha256(key), expiresAt },
      select: { id: true },
    });
    return { id: row.id, key, expiresAt };
  }

  /** The principal of an API key, or why it is refused (unknown, revoked or disabled owner: `unknown`). */
  async lookupApiKey(key: string): Promise<KeyLookup> {
    const k = await this.db.apiKey.findUnique({ where: { keyHash: sha256(key) }, include: { user: true } });
    if (!k || k.revokedAt || k.user.disabledAt) return { refused: 'unknown' };
    if (k.expiresAt && k.expiresAt.getTime() <= Date.now()) return { refused: 'expired' };
    // Best effort: a key still reads health and metrics while the database takes no writes (disk full).
    await this.db.apiKey.update({ where: { id: k.id }, data: { lastUsedAt: new Date() } }).catch(() => {});
    // A key never has more rights than its owner.
    const role = ROLES.indexOf(k.role as Role) <= ROLES.indexOf(k.user.role as Role) ? k.role : k.user.role;
    return { principal: { kind: 'key', userId: k.userId, username: `${k.user.username}/${k.name}`, role: role as Role, keyId: k.id } };
  }

  async byApiKey(key: string): Promise<Principal | null> {
    const r = await this.lookupApiKey(key);
    return 'principal' in r ? r.principal : null;
  }

  async revokeApiKey(id: number): Promise<boolean> {
    const r = await this.db.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
    return r.count === 1;
  }

  async audit(actor: string, action: string, target: string, details: object): Promise<void> {
    await appendAudit(this.db, { actor, action, target, details });
  }

  async auditLog(limit: number) {
    return this.db.auditLog.findMany({ orderBy: { id: 'desc' }, take: limit });
  }
}

type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

/**
 * A station line writes all the time: an account change from the command line waits its turn
 * (SQLite takes one writer at a time) instead of Prisma's default 2 s, then fails with its code.
 */
const BUSY_LINE = { maxWait: 15_000, timeout: 20_000 };

/** Ends every session and revokes every active key of a user (inside the caller's transaction). */
async function endAccess(tx: Tx, userId: number, now: Date): Promise<void> {
  await tx.session.deleteMany({ where: { userId } });
  await tx.apiKey.updateMany({ where: { userId, revokedAt: null }, data: { revokedAt: now } });
}

/** Verified against when the user does not exist, so timing does not tell who does. */
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
