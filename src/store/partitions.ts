import type { Db } from './db.js';
import { appendAudit } from './audit.js';
import { ChainCutter } from './chain.js';

/**
 * PostgreSQL's records by month (migration `records_by_month`): Inspection, Defect, Image, Review
 * and ReinferenceResult are partitioned by capture time, one partition per table and UTC month,
 * named `<Table>_YYYY_MM`. A month's partitions are made by the database function
 * `station_month_partitions` (all five tables, with the foreign keys that tie the month's
 * findings, images, reviews and results to its inspections) and dropped together.
 */
/** What became of a month retention asked to drop. */
export type MonthDrop =
  | { dropped: number }
  /** Stations whose `recordsDays` the month is not past yet (null: keeps its records for ever). */
  | { heldBy: { station: string; recordsDays: number | null }[] }
  /** Image rows left in it: a station has not deleted its images of the month yet. */
  | { images: true }
  /** Gone already, or its locks not had within 2 s: asked again at the next sweep. */
  | { busy: true };

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

/** The partitions of "Inspection", one row (`name`) each: a month of records each. */
export const MONTH_PARTITIONS_SQL = `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '"Inspection"'::regclass ORDER BY 1`;

/** The month (`YYYY-MM`) of a partition of "Inspection" by its name, or null for another table. */
export function partitionMonth(name: string): string | null {
  const m = /^Inspection_(\d{4})_(\d{2})$/.exec(name);
  return m ? `${m[1]}-${m[2]}` : null;
}

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

  /**
   * The partitions of now's month and the next, made ahead of the records that need them (at start
   * and at every retention sweep), so that no write at a month's turn waits for new tables behind a
   * long read.
   */
  async ahead(nowMs: number): Promise<void> {
    await this.forRecords([new Date(nowMs), new Date(nowMs + 31 * 86_400_000)]);
  }

  /** Forgets what it made sure of: a write found a month missing (dropped by another station). */
  forget(): void {
    this.known.clear();
  }

  /** The months that have partitions, oldest first. */
  async list(): Promise<RecordMonth[]> {
    const rows = await this.db.$queryRawUnsafe<{ name: string }[]>(MONTH_PARTITIONS_SQL);
    return rows.flatMap(({ name }) => {
      const month = partitionMonth(name);
      if (!month) return [];
      const from = new Date(`${month}-01T00:00:00.000Z`);
      return [{ month, from, to: nextMonth(from) }];
    });
  }

  /**
   * Drops a month of records at once, with its findings, images, reviews and re-inference results:
   * only when the month is past every station's `recordsDays` (a station that keeps its records
   * for ever, or has not said, keeps the month) and no image row is left in it (each station
   * deletes its own images' files first). The drop is written to the audit log by `actor`.
   */
  async drop(m: RecordMonth, nowMs: number, actor: string): Promise<MonthDrop> {
    const s = suffixOf(m.month);
    return this.dropping(s, m, nowMs, actor).catch((err: unknown): MonthDrop => {
      if (String((err as Error)?.message).includes('lock timeout')) return { busy: true };
      throw err;
    });
  }

  private dropping(s: string, m: RecordMonth, nowMs: number, actor: string): Promise<MonthDrop> {
    return this.db.$transaction(
      async (tx): Promise<MonthDrop> => {
        await tx.$executeRawUnsafe('SELECT pg_advisory_xact_lock($1)', DROP_LOCK);
        const there = await tx.$queryRawUnsafe<{ t: string | null }[]>(`SELECT to_regclass($1)::text AS t`, `"Inspection_${s}"`);
        if (!there[0]?.t) return { busy: true };
        const stations = await tx.station.findMany({ select: { id: true, recordsDays: true }, orderBy: { id: 'asc' } });
        const heldBy = stations
          .filter((st) => st.recordsDays === null || m.to.getTime() > nowMs - st.recordsDays * 86_400_000)
          .map((st) => ({ station: st.id, recordsDays: st.recordsDays }));
        if (heldBy.length) return { heldBy };
        if ((await tx.$queryRawUnsafe<unknown[]>(`SELECT 1 FROM "Image_${s}" LIMIT 1`)).length > 0) return { images: true };
        // Dropping waits for every query on the tables to finish, and every later query (the
        // recorder's writes) would wait behind it: a long read in progress makes it give up and
        // try again at the next sweep instead. Locked before the month is counted and its chain
        // cuts are read, so that no record (a late spool replay) can land in it in between.
        await tx.$executeRawUnsafe(`SET LOCAL lock_timeout = '2s'`);
        await tx.$executeRawUnsafe(`LOCK TABLE ${TABLES.map((t) => `"${t}_${s}"`).join(', ')} IN ACCESS EXCLUSIVE MODE`);
        const [{ n }] = await tx.$queryRawUnsafe<{ n: bigint | number }[]>(`SELECT count(*) AS n FROM "Inspection_${s}"`);
        // Where the drop cuts each station's chain: its runs of records, read in pages.
        const cutter = new ChainCutter();
        for (let station = '', id = 0; ; ) {
          const page = await tx.$queryRawUnsafe<{ stationId: string; id: number; hash: string | null; prevHash: string | null }[]>(
            `SELECT "stationId", "id", "hash", "prevHash" FROM "Inspection_${s}" WHERE ("stationId", "id") > ($1, $2) ORDER BY "stationId", "id" LIMIT 10000`,
            station,
            id,
          );
          for (const r of page) cutter.add(r);
          if (page.length < 10_000) break;
          ({ stationId: station, id } = page[page.length - 1]);
        }
        await tx.$executeRawUnsafe(`DROP TABLE ${TABLES.map((t) => `"${t}_${s}"`).join(', ')}`);
        // Traceability records deleted for good: who, which month, how many, under which settings.
        const details = { inspections: Number(n), stations, chainCuts: cutter.finish() };
        await appendAudit(this.db, { actor, action: 'records.month.drop', target: m.month, details }, tx);
        this.known.delete(m.month);
        return { dropped: Number(n) };
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
