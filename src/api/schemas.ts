import { Type } from '@sinclair/typebox';

export const ErrorBody = Type.Object({ code: Type.String(), message: Type.String() });

/**
 * A numeric id in the path, as digits. Not `Type.Integer`: with type coercion, "1e309" becomes
 * Infinity and passes Ajv's integer check (found by the API fuzzer).
 */
export const IdParams = Type.Object({ id: Type.String({ pattern: '^[1-9][0-9]{0,8}$', description: 'a positive integer id' }) });

export const idOf = (p: { id: string }): number => Number(p.id);
