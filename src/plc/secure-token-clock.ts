import { TokenStack } from 'node-opcua';
import { monotonicMs } from '../capture/index.js';

/**
 * OPC UA secure channels renew their symmetric keys before each token's lifetime ends (a
 * duration the server grants, e.g. 10 minutes). node-opcua renews on a timer, which is
 * monotonic, but decides whether a token's keys are still usable from its creation date and the
 * wall clock (`age > lifetime × 1.25`). A wall clock stepped forward by more than a fraction of
 * the lifetime (NTP correcting a wrong RTC, an hour's step) then throws the live keys away: every
 * message in either direction fails to decrypt and the link to the PLC drops, with the parts of
 * that moment left to the PLC's fail-safe reject.
 *
 * Installed once per process, this keeps node-opcua's token stacks on the monotonic clock: each
 * token's keys are noted when the channel installs them and stay usable for exactly 1.25 × its
 * granted lifetime of monotonic time, as the protocol intends (the lifetime is a duration) and as
 * node-opcua's server side already counts with its timers. Keys are never kept longer than that.
 * Should a node-opcua release change these methods, nothing is patched and `false` is returned
 * (test/clock-step.test.ts notices the difference).
 */
export function keepSecureTokensOnMonotonicClock(): boolean {
  const proto = TokenStack?.prototype as unknown as Partial<Stack> & { [PATCHED]?: true };
  if (!proto || typeof proto.pushNewToken !== 'function' || typeof proto.getTokenDerivedKeys !== 'function') return false;
  if (proto[PATCHED]) return true;
  const push = proto.pushNewToken;
  const keysOf = proto.getTokenDerivedKeys;
  proto.pushNewToken = function (this: Stack, token: Token, derivedKeys: unknown): void {
    push.call(this, token, derivedKeys);
    let kept = tokens.get(this);
    if (!kept) tokens.set(this, (kept = new Map()));
    const now = monotonicMs();
    for (const [id, k] of kept) if (expired(k, now)) kept.delete(id);
    kept.set(token.tokenId, { installedMono: now, lifetimeMs: token.revisedLifetime, derivedKeys });
  };
  proto.getTokenDerivedKeys = function (this: Stack, tokenId: number): unknown {
    const k = tokens.get(this)?.get(tokenId);
    if (!k) return keysOf.call(this, tokenId);
    return expired(k, monotonicMs()) ? null : k.derivedKeys;
  };
  proto[PATCHED] = true;
  return true;
}

const PATCHED = Symbol.for('inspection-station.secure-token-clock');

interface Token {
  tokenId: number;
  revisedLifetime: number;
}

interface Stack {
  pushNewToken(token: Token, derivedKeys: unknown): void;
  getTokenDerivedKeys(tokenId: number): unknown;
}

interface Kept {
  installedMono: number;
  lifetimeMs: number;
  derivedKeys: unknown;
}

/** Per token stack (one per secure channel), the keys of its tokens and when they were installed. */
const tokens = new WeakMap<Stack, Map<number, Kept>>();

function expired(k: Kept, now: number): boolean {
  return now - k.installedMono > k.lifetimeMs * 1.25;
}
