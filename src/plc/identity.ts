/**
 * A part's identity as the PLC gives it (PartId, Lot, RecipeSelect), checked once, where it is
 * read. A bad value never stops the line: the part is still captured and recorded, rejected
 * fail-safe (uninspected) with the code, and what arrived is kept, made printable and cut to the
 * column's length, so a quality engineer can see what the PLC sent.
 */
import type { PartIdentity } from '../line/protocol.js';
import { type IdentityTag, LOT_MAX, PART_ID_MAX } from './tags.js';

/** Control characters and U+FFFD (what a String tag's invalid UTF-8 decodes to). */
const UNPRINTABLE = /[\p{Cc}\uFFFD]/u;
const UNPRINTABLE_ALL = /[\p{Cc}\uFFFD]/gu;

/** The identity of one part from its tags' values as of its trigger (`undefined`: the tag is not configured). */
export function partIdentity(values: Partial<Record<IdentityTag, unknown>>): PartIdentity {
  const out: PartIdentity = {};
  const text = (tag: 'PartId' | 'Lot', max: number, code: 'STN_ERR_PART_ID' | 'STN_ERR_PART_LOT') => {
    if (!(tag in values)) return undefined;
    const v = values[tag];
    const s = typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v);
    const bad = s.trim() === '' || s.length > max || UNPRINTABLE.test(s);
    if (bad) out.error ??= code;
    return s.replace(UNPRINTABLE_ALL, '?').slice(0, max);
  };
  const partId = text('PartId', PART_ID_MAX, 'STN_ERR_PART_ID');
  const lot = text('Lot', LOT_MAX, 'STN_ERR_PART_LOT');
  if (partId !== undefined) out.partId = partId;
  if (lot !== undefined) out.lot = lot;
  if ('RecipeSelect' in values) {
    const n = values.RecipeSelect;
    // Not a UInt16 (a bad status, another type): no recipe has that number.
    out.recipeNumber = typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffff ? n : 0;
  }
  return out;
}
