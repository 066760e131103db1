import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { StationError } from '../errors/index.js';
import {
  checkNewPassword,
  KEY_DEFAULT_DAYS,
  KEY_MAX_DAYS,
  PASSWORD_POLICY,
  roleAtLeast,
  SAFE_NAME_PATTERN,
  USERNAME_PATTERN,
  type Accounts,
  type Role,
} from '../store/index.js';
import { actorOf, need } from './auth.js';
import { IdParams, idOf } from './schemas.js';

export interface UserDeps {
  accounts: Pick<
    Accounts,
    'listUsers' | 'findUser' | 'createUser' | 'setDisabled' | 'setRole' | 'setPassword' | 'listApiKeys' | 'createApiKey' | 'revokeApiKey' | 'audit' | 'auditLog'
  >;
}

const RoleT = Type.Union([Type.Literal('viewer'), Type.Literal('quality'), Type.Literal('integrator'), Type.Literal('admin')]);
const UserName = Type.Object({ name: Type.String({ pattern: USERNAME_PATTERN }) });
const Policy = `Passwords: ${PASSWORD_POLICY} (400 STN_ERR_ACCOUNT_PASSWORD).`;

/**
 * Users, API keys and the audit log; admin only (the audit log: integrators too), every change
 * audited. Disabling a user or changing its role ends its sessions and revokes its API keys in
 * the same transaction.
 */
export async function userRoutes(app: FastifyInstance, deps: UserDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const admin = need('admin');
  /**
   * People are managed by a person: an API key (even an admin's) cannot create users, change a
   * role, enable, disable or reset a password — else a leaked key could make itself an admin login.
   */
  const person = async (req: FastifyRequest) => {
    if (req.principal?.kind === 'key') throw new StationError('STN_ERR_HTTP_FORBIDDEN', 'managing users needs a logged-in admin, not an API key');
  };
  const a = deps.accounts;

  /** The last enabled admin cannot be disabled or demoted: someone must be able to undo it. */
  const keepAnAdmin = async (name: string) => {
    const admins = (await a.listUsers()).filter((u) => u.role === 'admin' && !u.disabledAt);
    if (admins.length === 1 && admins[0].username === name) throw new StationError('STN_ERR_HTTP_CONFLICT', `${name} is the last enabled admin`);
  };
  const mustExist = (found: boolean, name: string) => {
    if (!found) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no user ${name}`);
  };

  api.get('/api/users', { onRequest: admin, schema: { description: 'Every user with role, creation and disabling time.' } }, async () => ({
    items: await a.listUsers(),
  }));
  api.post(
    '/api/users',
    {
      onRequest: [admin, person],
      schema: {
        description: `A new user. Names match ${USERNAME_PATTERN} (the \`station user\` command checks the same). ${Policy}`,
        body: Type.Object(
          {
            username: Type.String({ minLength: 1, maxLength: 64, pattern: USERNAME_PATTERN }),
            role: RoleT,
            password: Type.String({ minLength: 1, maxLength: 256 }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      const { username, role, password } = req.body;
      checkNewPassword(username, password);
      if (await a.findUser(username)) throw new StationError('STN_ERR_HTTP_CONFLICT', `user ${username} exists`);
      const u = await a.createUser(username, role, password);
      await a.audit(actorOf(req), 'user.create', username, { role });
      return reply.status(201).send({ id: u.id, username, role });
    },
  );
  for (const [action, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    api.post(
      `/api/users/:name/${action}`,
      {
        onRequest: [admin, person],
        schema: {
          description: disabled
            ? 'Disables a user: its sessions end and its API keys are revoked at once. Audited.'
            : 'Lets a disabled user log in again (its revoked keys stay revoked). Audited.',
          params: UserName,
        },
      },
      async (req) => {
        const name = req.params.name;
        if (disabled) await keepAnAdmin(name);
        mustExist(await a.setDisabled(name, disabled), name);
        await a.audit(actorOf(req), `user.${action}`, name, {});
        return { username: name, disabled };
      },
    );
  }
  api.put(
    '/api/users/:name/role',
    {
      onRequest: [admin, person],
      schema: {
        description: "A user's new role: its sessions end and its API keys are revoked at once (they were issued for the old role). Audited.",
        params: UserName,
        body: Type.Object({ role: RoleT }, { additionalProperties: false }),
      },
    },
    async (req) => {
      const name = req.params.name;
      if (req.body.role !== 'admin') await keepAnAdmin(name);
      mustExist(await a.setRole(name, req.body.role), name);
      await a.audit(actorOf(req), 'user.role', name, { role: req.body.role });
      return { username: name, role: req.body.role };
    },
  );
  api.post(
    '/api/users/:name/password',
    {
      onRequest: [admin, person],
      schema: {
        description: `Resets a user's password; its sessions end (API keys stay). ${Policy} Audited (never the password).`,
        params: UserName,
        body: Type.Object({ password: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
      },
    },
    async (req) => {
      const name = req.params.name;
      checkNewPassword(name, req.body.password);
      mustExist(await a.setPassword(name, req.body.password), name);
      await a.audit(actorOf(req), 'user.password', name, {});
      return { username: name };
    },
  );

  api.get(
    '/api/keys',
    {
      onRequest: admin,
      schema: { description: 'Every API key: id, name, prefix, role, owner, created, last used, expiry, revocation. Never the key or its hash.' },
    },
    async () => ({ items: await a.listApiKeys() }),
  );
  api.post(
    '/api/keys',
    {
      onRequest: admin,
      schema: {
        description: `A new API key for a machine, expiring after expiresInDays (default ${KEY_DEFAULT_DAYS}, at most ${KEY_MAX_DAYS}); an expired key gets 401 STN_ERR_HTTP_KEY_EXPIRED. A key is never of a higher role than its creator, and only a logged-in admin (not an API key) creates admin keys. The key is in this response only; the station keeps its hash.`,
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 64, pattern: SAFE_NAME_PATTERN }),
            role: RoleT,
            expiresInDays: Type.Integer({ minimum: 1, maximum: KEY_MAX_DAYS, default: KEY_DEFAULT_DAYS }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      const p = req.principal!;
      const role = req.body.role as Role;
      if (!roleAtLeast(p.role, role)) throw new StationError('STN_ERR_HTTP_FORBIDDEN', `${p.username} (${p.role}) cannot issue a ${role} key`);
      if (p.kind === 'key' && role === 'admin') throw new StationError('STN_ERR_HTTP_FORBIDDEN', 'an API key cannot issue admin keys; log in as an admin');
      const k = await a.createApiKey(p.userId, req.body.name, role, req.body.expiresInDays);
      await a.audit(actorOf(req), 'key.create', req.body.name, { role, id: k.id, expiresAt: k.expiresAt.toISOString() });
      return reply.status(201).send({ id: k.id, name: req.body.name, role, key: k.key, expiresAt: k.expiresAt.toISOString() });
    },
  );
  api.delete('/api/keys/:id', { onRequest: admin, schema: { description: 'Revokes a key at once. Audited.', params: IdParams } }, async (req) => {
    if (!(await a.revokeApiKey(idOf(req.params)))) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no active key ${idOf(req.params)}`);
    await a.audit(actorOf(req), 'key.revoke', String(idOf(req.params)), {});
    return { revoked: idOf(req.params) };
  });
  api.get(
    '/api/audit',
    {
      onRequest: need('integrator'),
      schema: { querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) }, { additionalProperties: false }) },
    },
    async (req) => ({ items: await a.auditLog(req.query.limit) }),
  );
}
