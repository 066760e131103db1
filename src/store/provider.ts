/**
 * Which database a client talks to, kept apart from db.ts so that code needing only this (the
 * audit chain, through the accounts a light command imports) never loads the Prisma clients and
 * their drivers.
 */
export const PROVIDERS = new WeakMap<object, 'sqlite' | 'postgresql'>();

/** Which database a client opened by `openDatabase` talks to (for the few statements written as SQL). */
export function providerOf(db: object): 'sqlite' | 'postgresql' {
  const p = PROVIDERS.get(db);
  if (!p) throw new Error('providerOf: a client not opened by openDatabase');
  return p;
}
