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
 * token and its keys are noted when the channel installs them and stay usable — for decrypting,
 * for signing, as the server's newest-token fallback — for exactly 1.25 × its granted lifetime
 * of monotonic time, as the protocol intends (the lifetime is a duration) and as
 * node-opcua's server side already counts with its timers. Keys are never kept longer than that.
 * Should a node-opcua release change these methods, nothing is patched and `false` is returned
 * (test/clock-step.test.ts notices the difference).
 */
export function keepSecureTokensOnMonotonicClock(): boolean {
  const proto = TokenStack?.prototype as unknown as Partial<Stack> & { [PATCHED]?: true };
  const methods = ['pushNewToken', 'getTokenDerivedKeys', 'getToken', 'getLatestTokenDerivedKeys', 'removeOldTokens'] as const;
  if (!proto || methods.some((m) => typeof proto[m] !== 'function')) return false;
  if (proto[PATCHED]) return true;
  const { pushNewToken: push, getTokenDerivedKeys: keysOf, getToken: tokenOf, getLatestTokenDerivedKeys: latestOf } = proto as Stack;
  proto.pushNewToken = function (this: Stack, token: Token, derivedKeys: unknown): void {
    push.call(this, token, derivedKeys);
    let kept = tokens.get(this);
    if (!kept) tokens.set(this, (kept = new Map()));
    const now = monotonicMs();
    for (const [id, k] of kept) if (expired(k, now)) kept.delete(id);
    kept.set(token.tokenId, { token, installedMono: now, lifetimeMs: token.revisedLifetime, derivedKeys });
  };
  // Every lookup node-opcua makes (the client's keys, the server's keys and tokens, the server's
  // fallback to its newest token) answers from the monotonic record; its own array, still pruned
  // on the wall clock by removeOldTokens, is then no longer consulted for these tokens.
  proto.getTokenDerivedKeys = function (this: Stack, tokenId: number): unknown {
    const k = tokens.get(this)?.get(tokenId);
    if (!k) return keysOf.call(this, tokenId);
    return expired(k, monotonicMs()) ? null : k.derivedKeys;
  };
  proto.getToken = function (this: Stack, tokenId: number): unknown {
    const k = tokens.get(this)?.get(tokenId);
    if (!k) return tokenOf.call(this, tokenId);
    return expired(k, monotonicMs()) ? null : k.token;
  };
  proto.getLatestTokenDerivedKeys = function (this: Stack): unknown {
    const kept = tokens.get(this);
    if (!kept) return latestOf.call(this);
    const now = monotonicMs();
    const live = [...kept.values()].filter((k) => !expired(k, now) && k.derivedKeys);
    const newest = live.sort((a, b) => b.installedMono - a.installedMono)[0];
    return newest ? { tokenId: newest.token.tokenId, derivedKeys: newest.derivedKeys } : null;
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
  getToken(tokenId: number): unknown;
  getLatestTokenDerivedKeys(): unknown;
  removeOldTokens(): void;
}

interface Kept {
  token: Token;
  installedMono: number;
  lifetimeMs: number;
  derivedKeys: unknown;
}

/** Per token stack (one per secure channel), the keys of its tokens and when they were installed. */
const tokens = new WeakMap<Stack, Map<number, Kept>>();

function expired(k: Kept, now: number): boolean {
  return now - k.installedMono > k.lifetimeMs * 1.25;
}
