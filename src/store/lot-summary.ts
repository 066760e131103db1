/**
 * A lot's summary as the store computes it and the API sends it: one definition for the station
 * and the gallery (which imports this file's types only: it has no imports of its own).
 */

/** What a lot report says about the lot as a whole. */
export interface LotSummary {
  lot: string;
  /** Only this station's records (the `station=` filter), or null for every station. */
  station: string | null;
  /** The stations that inspected parts of the lot. */
  stations: string[];
  /** The lot's records with ids up to this one are in the report (its snapshot). */
  asOfId: number;
  /** Capture time of the lot's first and last record (ISO). */
  first: string;
  last: string;
  parts: number;
  pass: number;
  fail: number;
  uninspected: number;
  /** pass / parts, four decimals. */
  yield: number;
  /** Failed parts per rejecting class (a part with two classes counts in both), most first. */
  rejectsByClass: { class: string; parts: number; findings: number }[];
  /** Uninspected parts per error code, most first. */
  uninspectedByCode: { code: string; parts: number }[];
  /** Failed parts by the code read from them: no code could be read, or not the PLC's serial (a part may also have a rejecting class). */
  codeRejects: { noRead: number; mismatch: number };
  /** Parts whose latest review says so: people's corrections of the station. */
  reviews: { reviewed: number; confirmed: number; falseRejects: number; escapes: number };
  /** What reviewers say the lot really yielded: false rejects were good, escapes were not. */
  reviewedYield: number;
  /** The recipe versions and models that decided the lot's parts. */
  recipes: { name: string; version: number | null; parts: number }[];
  models: { name: string; sha256: string | null; parts: number }[];
  /**
   * The records' hash chain as it stood when the report was made: per station, the lot's newest
   * record (in the snapshot) and its hash, when it has one. A later copy of the database is checked
   * against these: the same record must still carry the same hash.
   */
  chainHeads: { station: string; id: number; hash: string }[];
}
