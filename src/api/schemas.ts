import path from 'node:path';
import { Type } from '@sinclair/typebox';
import { roleAtLeast, type Principal } from '../store/index.js';

export const ErrorBody = Type.Object({ code: Type.String(), message: Type.String() });

/** The largest value of an `Int` column (ids, versions, counts): PostgreSQL's int4. */
export const INT32_MAX = 2_147_483_647;

/**
 * A numeric id in the path, as digits. Not `Type.Integer`: with type coercion, "1e309" becomes
 * Infinity and passes Ajv's integer check (found by the API fuzzer). Nine digits stay below INT32_MAX.
 */
export const IdParams = Type.Object({ id: Type.String({ pattern: '^[1-9][0-9]{0,8}$', description: 'a positive integer id' }) });

export const idOf = (p: { id: string }): number => Number(p.id);

/** An integer parameter bounded by its database column (issue #15, finding 8: no 500 on huge numbers). */
export const DbInt = (o: { minimum?: number; default?: number; description?: string } = {}) => Type.Integer({ minimum: 1, ...o, maximum: INT32_MAX });

export const Verdict = Type.Union([Type.Literal('pass'), Type.Literal('fail'), Type.Literal('uninspected')]);

/** The time range and scope every statistic takes. */
export const Range = {
  from: Type.Optional(Type.String({ format: 'date-time' })),
  to: Type.Optional(Type.String({ format: 'date-time' })),
  station: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'only this station (many stations, one database)' })),
  line: Type.Optional(Type.String({ maxLength: 128, description: 'only the stations of this line' })),
};

export const scopeOf = (q: { station?: string; line?: string }) => ({ station: q.station, line: q.line });

/** A statistics range: the last 7 days unless given. */
export const rangeOf = (q: { from?: string; to?: string }) => ({
  from: q.from ? new Date(q.from) : new Date(Date.now() - 7 * 24 * 3600 * 1000),
  to: q.to ? new Date(q.to) : new Date(Date.now() + 60_000),
});

const PATH_KEYS = new Set(['model', 'path', 'file', 'modelPath']);

/**
 * Absolute file paths (a model's, a report's) as their base name for callers below the integrator
 * role (issue #15, finding 9: viewers saw where the station keeps its models).
 */
export function hidePaths<T>(p: Principal | null, v: T): T {
  if (p && roleAtLeast(p.role, 'integrator')) return v;
  const walk = (x: unknown, key?: string): unknown => {
    if (typeof x === 'string') return key && PATH_KEYS.has(key) && path.isAbsolute(x) ? path.basename(x) : x;
    if (Array.isArray(x)) return x.map((e) => walk(e));
    if (x && typeof x === 'object' && !(x instanceof Date)) return Object.fromEntries(Object.entries(x).map(([k, e]) => [k, walk(e, k)]));
    return x;
  };
  return walk(v) as T;
}
