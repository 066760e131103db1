/**
 * The tag contract between the line PLC and the station.
 *
 *   PLC → station   PartSeq (UInt32, +1 at the photo-eye; a change triggers that part's frame)
 *                   PlcHeartbeat (UInt32, +1 every cycle of the PLC's watchdog)
 *                   optional, the part's identity, written BEFORE its PartSeq: PartId (String,
 *                   the serial), Lot (String, lot or production order), RecipeSelect (UInt16, the
 *                   recipe number for this part)
 *   station → PLC   StationHeartbeat (UInt32), Ready (Boolean)
 *                   per result: ResultPartSeq (UInt32), Verdict (UInt16), DefectCode (UInt16),
 *                   then ResultSeq (UInt32) last, in a separate write, so a PLC that reacts to
 *                   ResultSeq always reads a consistent result.
 *
 *   photo-eye        station                                   gate
 *   PartSeq=n ──────▶ frame n → verdict n ── write ──▶ ResultPartSeq=n, Verdict, DefectCode
 *       │                                   write ──▶ ResultSeq+1
 *       │◀──────────────── travel (e.g. 800 ms) ──────────────▶│ pass only if Verdict=1 for
 *       │                                                      │ part n arrived in time;
 *       │                                                      │ otherwise reject (default)
 */
export const PLC_INPUTS = ['PartSeq', 'PlcHeartbeat'] as const;
export const PLC_OUTPUTS = ['StationHeartbeat', 'Ready', 'ResultPartSeq', 'Verdict', 'DefectCode', 'ResultSeq'] as const;
export const TAG_NAMES = [...PLC_INPUTS, ...PLC_OUTPUTS] as const;
export type TagName = (typeof TAG_NAMES)[number];
/** The part's identity, read as of its trigger when configured (plc.tags). */
export const IDENTITY_TAGS = ['PartId', 'Lot', 'RecipeSelect'] as const;
export type IdentityTag = (typeof IDENTITY_TAGS)[number];
export const IDENTITY_TYPES: Record<IdentityTag, 'String' | 'UInt16'> = { PartId: 'String', Lot: 'String', RecipeSelect: 'UInt16' };
/**
 * Optional acknowledge: the PLC writes ResultAck = the ResultSeq it has taken. Results not
 * acknowledged within plc.ackTimeoutMs are counted, and health degrades.
 */
export const ACK_TAG = 'ResultAck' as const;

/** Longest serial and lot stored (characters); a longer value is a bad part identity. */
export const PART_ID_MAX = 128;
export const LOT_MAX = 64;

/** OPC UA built-in data type of each tag. */
export const TAG_TYPES: Record<TagName, 'UInt32' | 'UInt16' | 'Boolean'> = {
  PartSeq: 'UInt32',
  PlcHeartbeat: 'UInt32',
  StationHeartbeat: 'UInt32',
  Ready: 'Boolean',
  ResultPartSeq: 'UInt32',
  Verdict: 'UInt16',
  DefectCode: 'UInt16',
  ResultSeq: 'UInt32',
};

/** Verdict tag values. The PLC rejects everything but PASS (fail-safe). */
export const VerdictCode = { UNINSPECTED: 0, PASS: 1, REJECT: 2 } as const;

/** The Verdict tag value of a station verdict. */
export function verdictCodeOf(verdict: 'pass' | 'fail' | 'uninspected'): number {
  return verdict === 'pass' ? VerdictCode.PASS : verdict === 'fail' ? VerdictCode.REJECT : VerdictCode.UNINSPECTED;
}

/** The line simulator's namespace and folder; also the default of the station's tag config. */
export const SIM_NAMESPACE_URI = 'urn:inspection-station:line-simulator';
export const SIM_FOLDER = 'Line';

/** UInt32 sequence numbers wrap; `a` is after `b` when the forward distance is under half the range. */
export function seqAfter(a: number, b: number): boolean {
  const d = (a - b) >>> 0;
  return d !== 0 && d < 0x80000000;
}
