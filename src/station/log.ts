import { isErrorCode } from '../errors/index.js';

/**
 * Log fields for an error. An expected error — a registered `STN_ERR_…` code, or a system error
 * code such as ENOSPC — is one line `{code, message}` without a stack; anything else is logged
 * whole (`err`, with its stack) because nobody expected it.
 */
export function errorFields(err: unknown): { code: string; message: string } | { err: unknown } {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (isErrorCode(code) || (typeof code === 'string' && /^E[A-Z]+$/.test(code))) return { code, message };
  return { err };
}

/** A handler that logs each kind of error (by code, else message) once: a failing sink is a status, not a flood. */
export function onceEach(fn: (err: unknown) => void): (err: unknown) => void {
  const seen = new Set<string>();
  return (err) => {
    const key = (err as { code?: string })?.code ?? (err as Error)?.message ?? String(err);
    if (seen.has(key)) return;
    seen.add(key);
    fn(err);
  };
}
