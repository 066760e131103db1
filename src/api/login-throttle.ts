/**
 * Failed logins slow down, per user name and per client address, each on its own count:
 *
 *   failures:  1 … free   free+1   free+2   free+3  …
 *   wait:      0          base     2·base   4·base  …  (at most maxMs)
 *
 * A name is slowed wherever the guesses come from; an address only after many more failures
 * (it may be a shared HMI), so guessing one name from a shared address never keeps another user
 * of that address out. Nothing is locked for good: the wait ends by itself, a success clears the
 * name's count. Entries are forgotten after `forgetMs` without a failure; the map is bounded.
 */
export interface ThrottleOptions {
  /** Failures of one name before it is slowed (default 3). */
  freePerName?: number;
  /** Failures from one address, over all names, before it is slowed (default 20). */
  freePerAddress?: number;
  /** The first wait (default 1 s); it doubles with every further failure. */
  baseMs?: number;
  /** The longest wait (default 15 min). */
  maxMs?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  last: number;
}

const MAX_ENTRIES = 10_000;

export class LoginThrottle {
  private readonly names = new Map<string, Entry>();
  private readonly addresses = new Map<string, Entry>();
  private readonly o: Required<ThrottleOptions>;

  constructor(o: ThrottleOptions = {}) {
    this.o = { freePerName: 3, freePerAddress: 20, baseMs: 1000, maxMs: 15 * 60 * 1000, now: Date.now, ...o };
  }

  /** Milliseconds until this name from this address may try again; 0: now. */
  waitMs(name: string, address: string): number {
    const now = this.o.now();
    return Math.max(this.wait(this.names.get(name.toLowerCase()), this.o.freePerName, now), this.wait(this.addresses.get(address), this.o.freePerAddress, now));
  }

  failed(name: string, address: string): void {
    this.bump(this.names, name.toLowerCase());
    this.bump(this.addresses, address);
  }

  /** A right password: the name starts afresh; the attempt counted in advance from `address` is taken back. */
  succeeded(name: string, address?: string): void {
    this.names.delete(name.toLowerCase());
    const e = address === undefined ? undefined : this.addresses.get(address);
    if (e && --e.failures <= 0) this.addresses.delete(address!);
  }

  private wait(e: Entry | undefined, free: number, now: number): number {
    if (!e || e.failures < free) return 0;
    const delay = Math.min(this.o.maxMs, this.o.baseMs * 2 ** Math.min(30, e.failures - free));
    return Math.max(0, e.last + delay - now);
  }

  private bump(map: Map<string, Entry>, key: string): void {
    const now = this.o.now();
    const e = map.get(key) ?? { failures: 0, last: now };
    e.failures++;
    e.last = now;
    // Re-inserted so the map's order is oldest failure first: the bound drops the oldest.
    map.delete(key);
    map.set(key, e);
    for (const [k, v] of map) {
      if (map.size <= MAX_ENTRIES && now - v.last < 2 * this.o.maxMs) break;
      map.delete(k);
    }
  }
}
