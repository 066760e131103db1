import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

/**
 * Tamper evidence. Each station's records form a hash chain in the order they were written (by
 * id): a record's hash is SHA-256 of its canonical form (RFC 8785 JSON, so PostgreSQL's jsonb,
 * which reorders keys, reads back to the same bytes), which includes the hash of the station's
 * previous record and the SHA-256 of each of its image files. The audit log is one chain the same
 * way. Editing, deleting or inserting a row behind the station's back breaks a link that
 * `station db verify` names; retention's deletions are entries of the audit chain that say where
 * each station's chain now starts.
 */

/** The version of the canonical forms below: a change to them is a new version, and verify reads both. */
export const CHAIN_VERSION = 1;

/**
 * RFC 8785 canonical JSON. Total: a string with a lone surrogate (which RFC 8785 refuses, and JSON
 * writes as an escape) is taken with U+FFFD in its place, so no value can make a record unwritable.
 */
export function canonicalJson(v: unknown): string {
  try {
    return canonicalize(v) ?? 'null';
  } catch {
    const whole = JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'string' ? (x as string & { toWellFormed(): string }).toWellFormed() : x)) ?? 'null');
    return canonicalize(whole) ?? 'null';
  }
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** SHA-256 of the canonical JSON: the identity of a recipe or a configuration. */
export function canonicalSha256(v: unknown): string {
  return sha256Hex(canonicalJson(v));
}

/** A finding as the record stores it (Defect row columns). */
export interface ChainDefect {
  class: string;
  score: number;
  rejecting: boolean;
  area: number | null;
  x1: number | null;
  y1: number | null;
  x2: number | null;
  y2: number | null;
}

/** The columns of an inspection that its hash covers: everything the station decided and saw. */
export interface ChainRecord {
  stationId: string;
  partSeq: bigint;
  source: string;
  partId: string | null;
  lot: string | null;
  capturedAt: Date;
  decidedAt: Date;
  verdict: string;
  errorCode: string | null;
  reasons: unknown;
  outputs: unknown;
  maxScore: number;
  defectCount: number;
  timings: unknown;
  latencyMs: number;
  recipeName: string;
  recipeVersionId: number | null;
  modelId: number | null;
  truth: unknown;
  code: string | null;
  imageSha256: unknown;
  prevHash: string | null;
  defects: ChainDefect[];
}

/**
 * SHA-256 of a record's canonical form, times to the millisecond. JSON columns hash as the
 * database gives them back: RFC 8785 drops and nulls what JSON does (undefined), and a value JSON
 * cannot hold (NaN) takes canonicalJson's JSON round trip, as it took on the way in.
 */
export function recordHash(r: ChainRecord): string {
  return sha256Hex(
    canonicalJson({
      v: CHAIN_VERSION,
      stationId: r.stationId,
      partSeq: r.partSeq.toString(),
      source: r.source,
      partId: r.partId,
      lot: r.lot,
      capturedAt: r.capturedAt.toISOString(),
      decidedAt: r.decidedAt.toISOString(),
      verdict: r.verdict,
      errorCode: r.errorCode,
      reasons: r.reasons ?? null,
      outputs: r.outputs ?? null,
      maxScore: r.maxScore,
      defectCount: r.defectCount,
      timings: r.timings ?? null,
      latencyMs: r.latencyMs,
      recipeName: r.recipeName,
      recipeVersionId: r.recipeVersionId,
      modelId: r.modelId,
      truth: r.truth ?? null,
      code: r.code,
      imageSha256: r.imageSha256 ?? null,
      defects: r.defects.map((d) => [d.class, d.score, d.rejecting, d.area, d.x1, d.y1, d.x2, d.y2]),
      prevHash: r.prevHash,
    }),
  );
}

/** An audit entry's columns that its hash covers. */
export interface ChainAudit {
  at: Date;
  actor: string;
  action: string;
  target: string;
  details: unknown;
  prevHash: string | null;
}

export function auditHash(a: ChainAudit): string {
  return sha256Hex(
    canonicalJson({
      v: CHAIN_VERSION,
      at: a.at.toISOString(),
      actor: a.actor,
      action: a.action,
      target: a.target,
      details: a.details ?? null,
      prevHash: a.prevHash,
    }),
  );
}

/** A JSON column's value as it reads back: what JSON keeps of it (null for nothing). */
export function asStored(v: unknown): unknown {
  return v === undefined || v === null ? null : JSON.parse(JSON.stringify(v));
}

/**
 * The audit actions of retention's deletions. Their details carry `chainCuts`: for each run of
 * records deleted one after the other in a station's chain, the hash the run followed (`after`:
 * the record before it, null at the chain's start) and the hash of its last record (`to`), which
 * the first record left after the run links to. Verify follows a link to a missing record only
 * through a cut that starts where the station's chain stood: a record deleted by hand beside a
 * run retention deleted is still a break.
 */
export const CHAIN_CUT_ACTIONS = ['records.delete', 'records.month.drop'] as const;

export interface ChainCut {
  station: string;
  after: string | null;
  to: string;
}

/** Builds the cuts of a deletion from its records, fed per station in id order (streamed: a month can be millions). */
export class ChainCutter {
  readonly cuts: ChainCut[] = [];
  private run: { station: string; after: string | null; to: string } | null = null;

  add(r: { stationId: string; hash: string | null; prevHash: string | null }): void {
    if (r.hash === null) return; // from before the chain: nothing links to it
    if (this.run && this.run.station === r.stationId && r.prevHash === this.run.to) {
      this.run.to = r.hash;
      return;
    }
    this.end();
    this.run = { station: r.stationId, after: r.prevHash, to: r.hash };
  }

  /** The cuts, with the last run closed. */
  finish(): ChainCut[] {
    this.end();
    return this.cuts;
  }

  private end(): void {
    if (this.run) this.cuts.push(this.run);
    this.run = null;
  }
}

/** The chain cuts of deleting these records (in id order). */
export function chainCuts(deleted: readonly { stationId: string; hash: string | null; prevHash: string | null }[]): ChainCut[] {
  const c = new ChainCutter();
  for (const d of deleted) c.add(d);
  return c.finish();
}

/** An inspection row as a verifier reads it back (any database), with its findings in id order. */
export interface StoredRecord extends Omit<ChainRecord, 'partSeq'> {
  id: number;
  partSeq: bigint | number | string;
  hash: string | null;
}

/** An audit entry as a verifier reads it back. */
export interface StoredAudit extends ChainAudit {
  id: number;
  hash: string | null;
}

/** Pages of rows in id order, after an id: what verify walks (SQLite or PostgreSQL). */
export interface ChainSource {
  records(afterId: number, limit: number): Promise<StoredRecord[]>;
  audit(afterId: number, limit: number): Promise<StoredAudit[]>;
}

export interface ChainReport {
  /** Per station: its records, how many are chained, and its chain head (the newest record's id and hash). */
  stations: Record<string, { records: number; chained: number; head: { id: number; hash: string } | null }>;
  audit: { entries: number; chained: number; head: { id: number; hash: string } | null };
  /** Heads given to check (`--head`) found with the hash given: the chain up to each is as it was. */
  headsChecked?: number[];
  /** Heads given to check (`--head`) whose record is not there any more (a broken link too). */
  headsGone?: number[];
  /** Links found broken (0 when intact); `first` names the first one. */
  broken: number;
  first?: string;
}

const PAGE = 1000;

/**
 * Walks the audit chain, then every station's record chain, in id order with bounded memory (a
 * page at a time, one head per station, and retention's cuts). Records and entries written before
 * the chain existed (no hash) are counted, and allowed only before a station's first chained one.
 */
export async function verifyChains(src: ChainSource, heads: readonly ChainHead[] = []): Promise<ChainReport> {
  const report: ChainReport = { stations: {}, audit: { entries: 0, chained: 0, head: null }, broken: 0 };
  const expected = new Map(heads.map((h) => [h.id, h.hash.toLowerCase()]));
  const broken = (what: string) => {
    report.broken++;
    report.first ??= what;
  };
  // Retention's cuts by where they start: station and the hash the deleted run followed.
  const cuts = new Map<string, string>();
  const cutKey = (station: string, after: string | null) => `${station}\u0000${after ?? ''}`;
  let last: string | null = null;
  let chainedAudit = false;
  for (let after = 0; ; ) {
    const page = await src.audit(after, PAGE);
    if (page.length === 0) break;
    for (const a of page) {
      after = a.id;
      report.audit.entries++;
      if (a.hash === null) {
        if (chainedAudit) broken(`audit entry #${a.id} (${a.action}) has no hash: written or changed outside the station`);
        continue;
      }
      if (a.prevHash !== last) {
        broken(
          last === null
            ? `audit entry #${a.id} (${a.action}) links to an entry that is not there (an entry before it was deleted)`
            : `audit entry #${a.id} (${a.action}) does not link to the entry before it (that one was deleted or its hash rewritten)`,
        );
      } else if (auditHash(a) !== a.hash) {
        broken(`audit entry #${a.id} (${a.action}) was changed after it was written: its content does not match its hash`);
      } else if ((CHAIN_CUT_ACTIONS as readonly string[]).includes(a.action)) {
        // Only a deletion the audit chain vouches for excuses a gap in the records.
        for (const c of ((a.details as { chainCuts?: unknown })?.chainCuts as ChainCut[] | undefined) ?? []) {
          if (c && typeof c.to === 'string' && typeof c.station === 'string') cuts.set(cutKey(c.station, c.after ?? null), c.to);
        }
      }
      chainedAudit = true;
      last = a.hash;
      report.audit.chained++;
      report.audit.head = { id: a.id, hash: a.hash };
    }
    await new Promise((r) => setImmediate(r));
  }
  const tips = new Map<string, string | null>();
  for (let after = 0; ; ) {
    const page = await src.records(after, PAGE);
    if (page.length === 0) break;
    for (const r of page) {
      after = r.id;
      const st = (report.stations[r.stationId] ??= { records: 0, chained: 0, head: null });
      st.records++;
      const seen = tips.has(r.stationId);
      if (r.hash === null) {
        if (seen) broken(`record #${r.id} (station ${r.stationId}) has no hash: written or changed outside the station`);
        continue;
      }
      const prev = tips.get(r.stationId) ?? null;
      // A link to a record that is gone is sound only through retention's cuts from where the chain stood.
      let reached = prev;
      for (let hops = 0; reached !== r.prevHash && hops < 10_000_000; hops++) {
        const next = cuts.get(cutKey(r.stationId, reached));
        if (next === undefined) break;
        reached = next;
      }
      const linked = reached === r.prevHash;
      if (!linked) {
        broken(
          !seen
            ? `record #${r.id} (station ${r.stationId}) links to a record that is not there (deleted outside retention)`
            : `record #${r.id} (station ${r.stationId}) does not link to the station's record before it, #${st.head?.id} (that one or one between was deleted, or its hash rewritten)`,
        );
      } else if (recordHash({ ...r, partSeq: BigInt(r.partSeq) }) !== r.hash) {
        broken(`record #${r.id} (station ${r.stationId}) was changed after it was written: its content does not match its hash`);
      }
      const known = expected.get(r.id);
      if (known !== undefined) {
        expected.delete(r.id);
        if (known !== r.hash) broken(`record #${r.id} (station ${r.stationId}) is not the chain head a report took: its hash is ${r.hash}, not ${known}`);
        else report.headsChecked = [...(report.headsChecked ?? []), r.id];
      }
      tips.set(r.stationId, r.hash);
      st.chained++;
      st.head = { id: r.id, hash: r.hash };
    }
    await new Promise((r) => setImmediate(r));
  }
  // A head a report printed names a record the chain must still hold: the records after it may be rewritten whole, not it.
  for (const [id] of expected) {
    report.headsGone = [...(report.headsGone ?? []), id];
    broken(`record #${id}, a chain head a report printed, is not in the database (deleted since: by retention, or by hand)`);
  }
  return report;
}

/** A chain head as a lot report prints it: a record's id and hash, checked again by `station db verify --head ID:HASH`. */
export interface ChainHead {
  id: number;
  hash: string;
}
