import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Db } from './db.js';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

export const ROLES = ['viewer', 'quality', 'integrator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Roles are ordered: each can do what the ones before it can. */
export function roleAtLeast(have: string, need: Role): boolean {
  return ROLES.indexOf(have as Role) >= ROLES.indexOf(need);
}

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
}

/** Users, login sessions, API keys and the audit log. Secrets are stored hashed, never logged. */
export class Accounts {
  constructor(
    readonly db: Db,
    readonly sessionTtlMs = 12 * 3600 * 1000,
  ) {}

  async createUser(username: string, role: Role, password: string): Promise<{ id: number }> {
    return this.db.user.create({ data: { username, role, passwordHash: await hashPassword(password) }, select: { id: true } });
  }

  async setPassword(username: string, password: string): Promise<void> {
    await this.db.user.update({ where: { username }, data: { passwordHash: await hashPassword(password) } });
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

  /** A new API key; the key itself is returned once and only its sha256 is kept. */
  async createApiKey(userId: number, name: string, role: Role): Promise<{ id: number; key: string }> {
    const key = `stn_${token(24)}`;
    const row = await this.db.apiKey.create({ data: { name, role, userId, prefix: key.slice(0, 10), keyHash: sha256(key) }, select: { id: true } });
    return { id: row.id, key };
  }

  async byApiKey(key: string): Promise<Principal | null> {
    const k = await this.db.apiKey.findUnique({ where: { keyHash: sha256(key) }, include: { user: true } });
    if (!k || k.revokedAt || k.user.disabledAt) return null;
    await this.db.apiKey.update({ where: { id: k.id }, data: { lastUsedAt: new Date() } });
    // A key never has more rights than its owner.
    const role = ROLES.indexOf(k.role as Role) <= ROLES.indexOf(k.user.role as Role) ? k.role : k.user.role;
    return { kind: 'key', userId: k.userId, username: `${k.user.username}/${k.name}`, role: role as Role };
  }

  async revokeApiKey(id: number): Promise<boolean> {
    const r = await this.db.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
    return r.count === 1;
  }

  async audit(actor: string, action: string, target: string, details: object): Promise<void> {
    await this.db.auditLog.create({ data: { actor, action, target, details: JSON.parse(JSON.stringify(details)) } });
  }

  async auditLog(limit: number) {
    return this.db.auditLog.findMany({ orderBy: { id: 'desc' }, take: limit });
  }
}

/** Verified against when the user does not exist, so timing does not tell who does. */
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
