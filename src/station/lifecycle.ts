/**
 * The station as an ordered list of components (Frigate's start/stop sequence is the model):
 * each starts after the ones before it and stops before them.
 *
 *   start:  database → accounts → recipes → line worker → images → recorder → … → HTTP → capture
 *   stop:   capture → HTTP → … → recorder (flushed) → images → line worker → database
 *
 * When one fails to start, the ones already started are stopped in reverse order and the error
 * goes on with a stable code: nothing of a half-started station is left running.
 */
import type { Logger } from 'pino';
import { type ErrorCode, isErrorCode, StationError } from '../errors/index.js';
import { errorFields } from './log.js';

export interface Component {
  readonly name: string;
  /** The code a failure to start carries when the error has none of its own. */
  readonly failCode?: ErrorCode;
  start(): Promise<void> | void;
  /** Undoes start; called once, only after start resolved. */
  stop?(): Promise<void> | void;
}

/**
 * Starts `components` in order. Resolves with the function that stops them all in reverse
 * order (idempotent); rejects, after stopping what had started, with a StationError.
 */
export async function startInOrder(components: readonly Component[], log: Logger): Promise<() => Promise<void>> {
  const started: Component[] = [];
  let stopping: Promise<void> | null = null;
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const c of started.splice(0).reverse()) {
        try {
          await c.stop?.();
        } catch (err) {
          // One component failing to stop must not keep the others running.
          log.error({ component: c.name, ...errorFields(err) }, 'component failed to stop');
        }
      }
    })());
  for (const c of components) {
    try {
      await c.start();
      started.push(c);
    } catch (err) {
      const e = withCode(err, c.failCode ?? 'STN_ERR_INTERNAL');
      log.error({ component: c.name, code: e.code, message: e.message }, 'station failed to start; stopping what had started');
      await stopAll();
      throw e;
    }
  }
  return stopAll;
}

/** The error itself when it carries a registered code, else a StationError with `code` wrapping it. */
function withCode(err: unknown, code: ErrorCode): StationError {
  if (err instanceof StationError) return err;
  const c = (err as { code?: unknown })?.code;
  const message = (err as Error)?.message ?? String(err);
  if (typeof c === 'string' && isErrorCode(c)) return new StationError(c, message, { cause: err });
  return new StationError(code, message, { cause: err });
}
