/**
 * The shift report's facts (issue #20): what a shift made and what happened, for the hand-over.
 * A shift is up to a third of 864 000 parts: the counts come from the hourly aggregates
 * (Repository.yieldStats, pareto), and what is read from the records is bounded — the highest
 * scoring rejects (a few), the fail-safe rejects grouped by cause, the audited changes.
 */
import { dayStart, instantOfWall, type PlantClock, shiftAt, wallOf } from '../config/plant.js';
import type { Db } from './db.js';
import { uninspectedByCodeOf } from './lots.js';
import { type Scope, stationIds } from './stats.js';

/** One shift of the plant: its name and its window [from, to). */
export interface ShiftWindow {
  name: string;
  /** The plant day it starts on, YYYY-MM-DD in the plant's zone. */
  date: string;
  from: Date;
  to: Date;
}

const startHour = (s: { start: string }) => Number(s.start.slice(0, 2));
const ymd = (w: { y: number; mo: number; d: number }) => `${w.y}-${String(w.mo).padStart(2, '0')}-${String(w.d).padStart(2, '0')}`;

/**
 * The shift named `name` that starts on plant day `date` (YYYY-MM-DD), or, without them, the
 * shift running at `now`. It ends where the next shift starts (the next day's first, for the last).
 * Null when the clock has no such shift.
 */
export function shiftWindow(clock: PlantClock, o: { date?: string; name?: string }, now = Date.now()): ShiftWindow | null {
  const shifts = [...clock.shifts].sort((a, b) => startHour(a) - startHour(b));
  let name = o.name;
  let day: { y: number; mo: number; d: number };
  if (o.date) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(o.date);
    if (!m) return null;
    day = { y: +m[1], mo: +m[2], d: +m[3] };
    name ??= shifts[0].name;
  } else {
    const cur = shiftAt(clock, now);
    name ??= cur.name;
    day = wallOf(clock.timeZone, o.name ? dayStart(clock, now) : cur.start);
  }
  const i = shifts.findIndex((s) => s.name === name);
  if (i < 0) return null;
  const window = windowOn(clock, shifts, i, day);
  // A shift named without a day: the latest one that has begun (tonight's has not, at 03:00: last night's).
  if (!o.date && o.name && window.from.getTime() > now) return windowOn(clock, shifts, i, { y: day.y, mo: day.mo, d: day.d - 1 });
  return window;
}

/** Shift `i` (of `shifts`, sorted by start) on plant day `day`: from its start to the next one's. */
function windowOn(clock: PlantClock, shifts: PlantClock['shifts'], i: number, day: { y: number; mo: number; d: number }): ShiftWindow {
  const from = instantOfWall(clock.timeZone, day.y, day.mo, day.d, startHour(shifts[i]));
  const next = shifts[i + 1];
  const to = next
    ? instantOfWall(clock.timeZone, day.y, day.mo, day.d, startHour(next))
    : instantOfWall(clock.timeZone, day.y, day.mo, day.d + 1, startHour(shifts[0]));
  // The day as the plant names it (a day 0 or 32 from the arithmetic above is normalised).
  const named = wallOf(clock.timeZone, instantOfWall(clock.timeZone, day.y, day.mo, day.d, 12));
  return { name: shifts[i].name, date: ymd(named), from: new Date(from), to: new Date(to) };
}

export interface ShiftFacts {
  /** The highest-scoring rejected parts, highest first. */
  topRejects: { id: number; station: string; partSeq: number; partId: string | null; capturedAt: string; maxScore: number; class: string | null }[];
  /** Fail-safe rejects (uninspected parts) by their code: what kept the station from deciding. */
  uninspectedByCode: { code: string; parts: number }[];
  /** Audited changes in the window (thresholds, recipes, reloads, users…), oldest first, at most `changesMax`. */
  changes: { at: string; actor: string; action: string; target: string }[];
}

/** The bounded facts of a window that the aggregates do not hold. */
export async function shiftFacts(db: Db, from: Date, to: Date, scope: Scope = {}, o: { top?: number; changesMax?: number } = {}): Promise<ShiftFacts> {
  const ids = await stationIds(db, scope);
  const where = { capturedAt: { gte: from, lt: to }, stationId: ids ? { in: ids } : undefined };
  const top = await db.inspection.findMany({
    where: { ...where, verdict: 'fail' },
    orderBy: [{ maxScore: 'desc' }, { id: 'asc' }],
    take: o.top ?? 10,
    select: {
      id: true,
      stationId: true,
      partSeq: true,
      partId: true,
      capturedAt: true,
      maxScore: true,
      defects: { where: { rejecting: true }, orderBy: { score: 'desc' }, take: 1, select: { class: true } },
    },
  });
  const changes = await db.auditLog.findMany({
    where: { at: { gte: from, lt: to }, action: { notIn: ['review', 'review-undo', 'login'] } },
    orderBy: { id: 'asc' },
    take: o.changesMax ?? 50,
    select: { at: true, actor: true, action: true, target: true },
  });
  return {
    topRejects: top.map((r) => ({
      id: r.id,
      station: r.stationId,
      partSeq: Number(r.partSeq),
      partId: r.partId,
      capturedAt: r.capturedAt.toISOString(),
      maxScore: r.maxScore,
      class: r.defects[0]?.class ?? null,
    })),
    uninspectedByCode: await uninspectedByCodeOf(db, where),
    changes: changes.map((c) => ({ at: c.at.toISOString(), actor: c.actor, action: c.action, target: c.target })),
  };
}
