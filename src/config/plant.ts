/**
 * The plant's clock: its IANA time zone and its shifts. Statistics are kept per UTC hour, so a
 * shift or a day is a run of whole hours — which it is in every zone whose offset from UTC is
 * whole hours (the configuration refuses the others). Pure (Intl only): the gallery uses it too.
 */

export interface Shift {
  name: string;
  /** Wall time in the plant's zone, `HH:00`. */
  start: string;
}

export interface PlantClock {
  timeZone: string;
  shifts: readonly Shift[];
}

/** The shifts when none are configured: early, late and night from 06, 14 and 22 h. */
export const DEFAULT_SHIFTS: readonly Shift[] = [
  { name: 'early', start: '06:00' },
  { name: 'late', start: '14:00' },
  { name: 'night', start: '22:00' },
];

export const UTC_CLOCK: PlantClock = { timeZone: 'UTC', shifts: DEFAULT_SHIFTS };

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Whether `zone` is an IANA time zone this runtime knows. */
export function isTimeZone(zone: string): boolean {
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/** The zone's wall clock at an instant: year, month (1–12), day, hour, minute, second. */
export function wallOf(zone: string, at: number): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  const parts = formatter(zone).formatToParts(at);
  const n = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return { y: n('year'), mo: n('month'), d: n('day'), h: n('hour'), mi: n('minute'), s: n('second') };
}

/** The zone's offset from UTC at an instant, in minutes (east positive). */
export function offsetMinutes(zone: string, at: number): number {
  const w = wallOf(zone, at);
  return (Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) - Math.floor(at / 1000) * 1000) / 60_000;
}

/**
 * The instant a wall time in the zone names. A wall time a clock change skips is taken with the
 * offset before the change; one it repeats, the first time.
 */
export function instantOfWall(zone: string, y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number {
  const wall = Date.UTC(y, mo - 1, d, h, mi, s);
  const first = wall - offsetMinutes(zone, wall) * 60_000;
  return wall - offsetMinutes(zone, first) * 60_000;
}

/** The offsets the zone has over a year (each month's first and fifteenth): a zone with half hours shows them. */
export function yearOffsets(zone: string, year = new Date().getUTCFullYear()): number[] {
  const out = new Set<number>();
  for (let m = 0; m < 12; m++) for (const day of [1, 15]) out.add(offsetMinutes(zone, Date.UTC(year, m, day, 12)));
  return [...out];
}

const startHour = (s: Shift) => Number(s.start.slice(0, 2));

/** The shift an instant falls in, and when that shift began (the last start at or before it, the day before if need be). */
export function shiftAt(clock: PlantClock, at: number): { name: string; start: number } {
  const shifts = [...clock.shifts].sort((a, b) => startHour(a) - startHour(b));
  const w = wallOf(clock.timeZone, at);
  let pick = shifts.filter((s) => startHour(s) <= w.h).at(-1);
  let day = { y: w.y, mo: w.mo, d: w.d };
  if (!pick) {
    // Before the day's first shift: the previous day's last one.
    pick = shifts.at(-1)!;
    const prev = new Date(Date.UTC(w.y, w.mo - 1, w.d - 1));
    day = { y: prev.getUTCFullYear(), mo: prev.getUTCMonth() + 1, d: prev.getUTCDate() };
  }
  return { name: pick.name, start: instantOfWall(clock.timeZone, day.y, day.mo, day.d, startHour(pick)) };
}

/** Midnight of the plant's day an instant falls in. */
export function dayStart(clock: PlantClock, at: number): number {
  const w = wallOf(clock.timeZone, at);
  return instantOfWall(clock.timeZone, w.y, w.mo, w.d);
}
