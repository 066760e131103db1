import type { Db } from './db.js';

/**
 * PostgreSQL's records by month (migration `records_by_month`): Inspection, Defect, Image, Review
 * and ReinferenceResult are partitioned by capture time, one partition per table and UTC month,
 * named `<Table>_YYYY_MM`. A month's partitions are made by the database function
 * `station_month_partitions` (all five tables, with the foreign keys that tie the month's
 * findings, images, reviews and results to its inspections) and dropped together.
 */
export interface RecordMonth {
  /** `YYYY-MM` (UTC). */
  month: string;
  from: Date;
  /** Exclusive. */
  to: Date;
}

/** The tables of a month, the referencing ones before Inspection. */
const TABLES = ['ReinferenceResult', 'Review', 'Image', 'Defect', 'Inspection'] as const;
/** Held while a month is dropped, so that two stations sharing the database never drop one twice. */
const DROP_LOCK = 0x5354_4e4f; // "STNO"

const monthKey = (d: Date) => d.toISOString().slice(0, 7);
const monthStart = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
const nextMonth = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
const suffixOf = (month: string) => month.replace('-', '_');
/** A UTC instant as PostgreSQL's "timestamp without time zone", as Prisma stores capture times. */
const UTC = (p: string) => `(${p}::timestamptz AT TIME ZONE 'UTC')::timestamp(3)`;

export class MonthPartitions {
  /** Months this process has made sure of (a month another station dropped is found again below). */
  private readonly known = new Set<string>();

  constructor(private readonly db: Db) {}

  /** Makes sure every month from `from` to `to` has its partitions; returns how many months were made. */
  async cover(from: Date, to: Date): Promise<number> {
    const rows = await this.db.$queryRawUnsafe<{ made: number }[]>(
      `SELECT station_month_partitions(${UTC('$1')}, ${UTC('$2')}) AS made`,
      from.toISOString(),
      to.toISOString(),
    );
    for (let m = monthStart(from); m <= to; m = nextMonth(m)) this.known.add(monthKey(m));
    return Number(rows[0]?.made ?? 0);
  }

  /** Before records captured at these times are written: their months' partitions, asked for once per month. */
  async forRecords(times: Date[]): Promise<void> {
    for (const t of times) if (!this.known.has(monthKey(t))) await this.cover(t, t);
  }

  /** Forgets what it made sure of: a write found a month missing (dropped by another station). */
  forget(): void {
    this.known.clear();
  }

  /** The months that have partitions, oldest first. */
  async list(): Promise<RecordMonth[]> {
    const rows = await this.db.$queryRawUnsafe<{ name: string }[]>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '"Inspection"'::regclass ORDER BY 1`,
    );
    return rows.flatMap(({ name }) => {
      const m = /^Inspection_(\d{4})_(\d{2})$/.exec(name);
      if (!m) return [];
      const from = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
      return [{ month: `${m[1]}-${m[2]}`, from, to: nextMonth(from) }];
    });
  }

  /**
   * Drops a month of records at once, with its findings, images, reviews and re-inference results:
   * only when the month is past every station's `recordsDays` (a station that keeps its records
   * for ever, or has not said, keeps the month) and no image row is left in it (each station
   * deletes its own images' files first). Returns the inspections dropped, or null when the month
   * may not go yet.
   */
  async drop(m: RecordMonth, nowMs: number): Promise<number | null> {
    const s = suffixOf(m.month);
    return this.dropping(s, m, nowMs).catch((err: unknown) => {
      if (String((err as Error)?.message).includes('lock timeout')) return null;
      throw err;
    });
  }

  private dropping(s: string, m: RecordMonth, nowMs: number): Promise<number | null> {
    return this.db.$transaction(
      async (tx) => {
        await tx.$executeRawUnsafe('SELECT pg_advisory_xact_lock($1)', DROP_LOCK);
        const there = await tx.$queryRawUnsafe<{ t: string | null }[]>(`SELECT to_regclass($1)::text AS t`, `"Inspection_${s}"`);
        if (!there[0]?.t) return null;
        const stations = await tx.station.findMany({ select: { recordsDays: true } });
        const past = stations.every((st) => st.recordsDays !== null && m.to.getTime() <= nowMs - st.recordsDays * 86_400_000);
        if (!past) return null;
        if ((await tx.$queryRawUnsafe<unknown[]>(`SELECT 1 FROM "Image_${s}" LIMIT 1`)).length > 0) return null;
        const [{ n }] = await tx.$queryRawUnsafe<{ n: bigint | number }[]>(`SELECT count(*) AS n FROM "Inspection_${s}"`);
        // Dropping waits for every query on the tables to finish, and every later query (the
        // recorder's writes) would wait behind it: a long read in progress makes it give up and
        // try again at the next sweep instead.
        await tx.$executeRawUnsafe(`SET LOCAL lock_timeout = '2s'`);
        await tx.$executeRawUnsafe(`DROP TABLE ${TABLES.map((t) => `"${t}_${s}"`).join(', ')}`);
        this.known.delete(m.month);
        return Number(n);
      },
      { timeout: 600_000 },
    );
  }
}

/** Whether a write failed because its row's month has no partition (dropped since it was made sure of). */
export function noPartition(err: unknown): boolean {
  for (let e = err as { message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++)
    if (typeof e.message === 'string' && e.message.includes('no partition of relation')) return true;
  return false;
}
