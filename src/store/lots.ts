/**
 * Genealogy (issue #19): a lot's records as a quality engineer reports them. A lot can hold tens
 * of thousands of parts (a line makes 864 000 a day), so nothing here holds a lot's rows: the
 * counts are SQL aggregates on the (lot, capturedAt) index, and the parts come in keyset pages of
 * (capturedAt, id), oldest first.
 *
 * A report is a snapshot: `lotSummary` fixes the highest record id of the lot (`asOfId`) and every
 * count and page after it reads only records up to that id, so a lot still in production gives a
 * summary and a list of parts that agree.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Db } from './db.js';
import type { LotSummary } from './lot-summary.js';
import { providerOf } from './provider.js';

/** Which records of a lot: every station's, or one station's. */
export interface LotScope {
  lot: string;
  station?: string;
}

export type { LotSummary } from './lot-summary.js';

/** One part of a lot as the report lists it. */
export interface LotPart {
  id: number;
  station: string;
  partSeq: number;
  serial: string | null;
  capturedAt: string;
  verdict: 'pass' | 'fail' | 'uninspected';
  errorCode: string | null;
  reasons: unknown;
  /** Rejecting findings, highest score first. */
  defects: { class: string; score: number }[];
  maxScore: number;
  recipe: string;
  recipeVersion: number | null;
  model: string | null;
  modelSha256: string | null;
  /** The code read from the part, when its recipe reads one. */
  code: string | null;
  /** The part's latest review, if any. */
  review: { label: string; class: string | null; note: string; by: string; at: string } | null;
  /** The stored thumbnail (relative to the image root), null when none is kept. */
  thumb: string | null;
  /** The record's hash in its station's chain (null before the chain existed). */
  hash: string | null;
}

export interface PartsOptions {
  /** Only failed and uninspected parts. */
  rejectsOnly?: boolean;
  pageSize?: number;
}

/** Rows per page: the includes bind one parameter per row, and SQLite allows 999. */
export const LOT_PAGE = 500;

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

/** The lot's records up to the snapshot, as a Prisma condition. */
const lotWhere = (s: LotScope, asOfId?: number) => ({ lot: s.lot, stationId: s.station, id: asOfId === undefined ? undefined : { lte: asOfId } });

/** Records matching a condition (a lot's, a shift's), as Prisma takes it. */
export type InspectionWhere = NonNullable<Parameters<Db['inspection']['count']>[0]>['where'];

/** The uninspected records of `where` by their code (what kept the station from deciding), most first. */
export async function uninspectedByCodeOf(db: Db, where: InspectionWhere): Promise<{ code: string; parts: number }[]> {
  const codes = await db.inspection.groupBy({ by: ['errorCode'], where: { ...where, verdict: 'uninspected' }, _count: { _all: true } });
  return codes.map((c) => ({ code: c.errorCode ?? 'none', parts: c._count._all })).sort((a, b) => b.parts - a.parts || a.code.localeCompare(b.code));
}

/** The summary of a lot (counts, yield, rejects by class, reviews, chain heads), or null when it has no records. */
export async function lotSummary(db: Db, s: LotScope): Promise<LotSummary | null> {
  const head = await db.inspection.aggregate({ where: lotWhere(s), _max: { id: true } });
  const asOfId = head._max.id;
  if (asOfId === null) return null;
  const where = lotWhere(s, asOfId);

  const byVerdict = await db.inspection.groupBy({
    by: ['stationId', 'verdict'],
    where,
    _count: { _all: true },
    _min: { capturedAt: true },
    _max: { capturedAt: true },
  });
  const counts = { pass: 0, fail: 0, uninspected: 0 };
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  const stations = new Set<string>();
  for (const g of byVerdict) {
    stations.add(g.stationId);
    if (g.verdict in counts) counts[g.verdict as keyof typeof counts] += g._count._all;
    first = Math.min(first, g._min.capturedAt?.getTime() ?? first);
    last = Math.max(last, g._max.capturedAt?.getTime() ?? last);
  }
  const parts = counts.pass + counts.fail + counts.uninspected;

  // Findings per class in SQL; the parts per class then one count each (a model has a few classes).
  const findings = await db.defect.groupBy({ by: ['class'], where: { rejecting: true, inspection: where }, _count: { _all: true } });
  const rejectsByClass = await Promise.all(
    findings.map(async (f) => ({
      class: f.class,
      parts: await db.inspection.count({ where: { ...where, defects: { some: { class: f.class, rejecting: true } } } }),
      findings: f._count._all,
    })),
  );
  rejectsByClass.sort((a, b) => b.parts - a.parts || a.class.localeCompare(b.class));

  const uninspectedByCode = await uninspectedByCodeOf(db, where);

  const codeRejects = await codeRejectCounts(db, s, asOfId);
  const reviews = await latestReviewCounts(db, s, asOfId);

  const recipeRows = await db.inspection.groupBy({ by: ['recipeName', 'recipeVersionId'], where, _count: { _all: true } });
  const versionIds = recipeRows.map((r) => r.recipeVersionId).filter((id): id is number => id !== null);
  const versions = new Map(
    (await db.recipeVersion.findMany({ where: { id: { in: versionIds } }, select: { id: true, version: true } })).map((v) => [v.id, v.version]),
  );
  const recipes = recipeRows
    .map((r) => ({ name: r.recipeName, version: r.recipeVersionId === null ? null : (versions.get(r.recipeVersionId) ?? null), parts: r._count._all }))
    .sort((a, b) => a.name.localeCompare(b.name) || (a.version ?? 0) - (b.version ?? 0));

  const modelRows = await db.inspection.groupBy({ by: ['modelId'], where, _count: { _all: true } });
  const modelIds = modelRows.map((m) => m.modelId).filter((id): id is number => id !== null);
  const modelOf = new Map((await db.model.findMany({ where: { id: { in: modelIds } }, select: { id: true, name: true, sha256: true } })).map((m) => [m.id, m]));
  const models = modelRows
    .map((m) => {
      const row = m.modelId === null ? undefined : modelOf.get(m.modelId);
      return { name: row?.name ?? 'none', sha256: row?.sha256 ?? null, parts: m._count._all };
    })
    .sort((a, b) => b.parts - a.parts || a.name.localeCompare(b.name));

  // The chain head per station: the lot's newest record in the snapshot, read from the (lot, capturedAt) index.
  const chainHeads: LotSummary['chainHeads'] = [];
  for (const station of [...stations].sort()) {
    const newest = await db.inspection.findFirst({
      where: { lot: s.lot, stationId: station, id: { lte: asOfId } },
      orderBy: [{ capturedAt: 'desc' }, { id: 'desc' }],
      select: { id: true, hash: true },
    });
    if (newest?.hash) chainHeads.push({ station, id: newest.id, hash: newest.hash });
  }

  return {
    lot: s.lot,
    station: s.station ?? null,
    stations: [...stations].sort(),
    asOfId,
    first: new Date(first).toISOString(),
    last: new Date(last).toISOString(),
    parts,
    ...counts,
    yield: parts ? round4(counts.pass / parts) : 0,
    rejectsByClass,
    uninspectedByCode,
    codeRejects,
    reviews,
    reviewedYield: parts ? round4((counts.pass - reviews.escapes + reviews.falseRejects) / parts) : 0,
    recipes,
    models,
    chainHeads,
  };
}

/**
 * The lot's parts failed by their code (reasons `no-read`, `code-mismatch`), counted by the database
 * from each record's reasons: SQLite's json_each, PostgreSQL's jsonb_array_elements.
 */
async function codeRejectCounts(db: Db, s: LotScope, asOfId: number): Promise<LotSummary['codeRejects']> {
  const everyStation = s.station === undefined ? 1 : 0;
  const rows =
    providerOf(db) === 'postgresql'
      ? await db.$queryRaw<{ rule: string; n: bigint | number }[]>`
          SELECT j->>'rule' AS rule, COUNT(DISTINCT i."id") AS n
          FROM "Inspection" i CROSS JOIN LATERAL jsonb_array_elements(i."reasons") j
          WHERE i."lot" = ${s.lot} AND i."id" <= ${asOfId} AND (i."stationId" = ${s.station ?? ''} OR ${everyStation} = 1)
            AND i."verdict" = 'fail' AND j->>'rule' IN ('no-read', 'code-mismatch')
          GROUP BY 1`
      : await db.$queryRaw<{ rule: string; n: bigint | number }[]>`
          SELECT json_extract(j.value, '$.rule') AS rule, COUNT(DISTINCT i."id") AS n
          FROM "Inspection" i, json_each(i."reasons") j
          WHERE i."lot" = ${s.lot} AND i."id" <= ${asOfId} AND (i."stationId" = ${s.station ?? ''} OR ${everyStation} = 1)
            AND i."verdict" = 'fail' AND json_extract(j.value, '$.rule') IN ('no-read', 'code-mismatch')
          GROUP BY 1`;
  const n = (rule: string) => Number(rows.find((r) => r.rule === rule)?.n ?? 0);
  return { noRead: n('no-read'), mismatch: n('code-mismatch') };
}

/**
 * Reviewed parts of the lot by their latest review's label, counted by the database: a part
 * reviewed twice counts once, as its last reviewer said. Written as SQL (Prisma's groupBy cannot
 * pick the latest row of a group); the same statement runs on SQLite and PostgreSQL.
 */
async function latestReviewCounts(db: Db, s: LotScope, asOfId: number): Promise<LotSummary['reviews']> {
  const everyStation = s.station === undefined ? 1 : 0;
  const rows = await db.$queryRaw<{ label: string; n: bigint | number }[]>`
    SELECT r."label" AS label, COUNT(*) AS n
    FROM "Review" r JOIN "Inspection" i ON i."id" = r."inspectionId"
    WHERE i."lot" = ${s.lot} AND i."id" <= ${asOfId} AND (i."stationId" = ${s.station ?? ''} OR ${everyStation} = 1)
      AND r."id" = (SELECT MAX(r2."id") FROM "Review" r2 WHERE r2."inspectionId" = r."inspectionId")
    GROUP BY r."label"`;
  const n = (label: string) => Number(rows.find((r) => r.label === label)?.n ?? 0);
  return {
    reviewed: rows.reduce((a, r) => a + Number(r.n), 0),
    confirmed: n('confirmed'),
    falseRejects: n('false_reject'),
    escapes: n('escape'),
  };
}

/**
 * The lot's parts in capture order (ties by id), one page of at most `pageSize` at a time, up to
 * the summary's snapshot. A turn of the event loop between pages: SQLite answers on this thread,
 * and a report of a large lot must not hold the PLC's writes or other requests until it ends.
 */
export async function* lotParts(db: Db, s: LotScope, asOfId: number, o: PartsOptions = {}): AsyncGenerator<LotPart[]> {
  const pageSize = o.pageSize ?? LOT_PAGE;
  let after: { capturedAt: Date; id: number } | undefined;
  for (;;) {
    const rows = await db.inspection.findMany({
      where: {
        ...lotWhere(s, asOfId),
        verdict: o.rejectsOnly ? { in: ['fail', 'uninspected'] } : undefined,
        // Keyset: at or after the last row's time, and not that row or any before it at the same time.
        capturedAt: after ? { gte: after.capturedAt } : undefined,
        NOT: after ? { capturedAt: after.capturedAt, id: { lte: after.id } } : undefined,
      },
      orderBy: [{ capturedAt: 'asc' }, { id: 'asc' }],
      take: pageSize,
      select: {
        id: true,
        stationId: true,
        partSeq: true,
        partId: true,
        capturedAt: true,
        verdict: true,
        errorCode: true,
        reasons: true,
        maxScore: true,
        recipeName: true,
        code: true,
        hash: true,
        recipeVersion: { select: { version: true } },
        model: { select: { name: true, sha256: true } },
        defects: { where: { rejecting: true }, orderBy: { score: 'desc' }, select: { class: true, score: true } },
        reviews: { orderBy: { id: 'desc' }, take: 1, select: { label: true, class: true, note: true, createdAt: true, user: { select: { username: true } } } },
        images: { where: { variant: 'thumb' }, select: { path: true } },
      },
    });
    if (rows.length === 0) return;
    yield rows.map((r) => ({
      id: r.id,
      station: r.stationId,
      partSeq: Number(r.partSeq),
      serial: r.partId,
      capturedAt: r.capturedAt.toISOString(),
      verdict: r.verdict as LotPart['verdict'],
      errorCode: r.errorCode,
      reasons: r.reasons,
      defects: r.defects,
      maxScore: r.maxScore,
      recipe: r.recipeName,
      recipeVersion: r.recipeVersion?.version ?? null,
      model: r.model?.name ?? null,
      modelSha256: r.model?.sha256 ?? null,
      code: r.code,
      review: r.reviews[0]
        ? {
            label: r.reviews[0].label,
            class: r.reviews[0].class,
            note: r.reviews[0].note,
            by: r.reviews[0].user.username,
            at: r.reviews[0].createdAt.toISOString(),
          }
        : null,
      thumb: r.images[0]?.path ?? null,
      hash: r.hash,
    }));
    if (rows.length < pageSize) return;
    const last = rows[rows.length - 1];
    after = { capturedAt: last.capturedAt, id: last.id };
    await nextTurn();
  }
}

/** A lot's records for reports: its summary and its parts, on the station's database. */
export class Lots {
  constructor(readonly db: Db) {}

  /** The lot's summary, or null when no record names the lot (in the scope). */
  summary(s: LotScope): Promise<LotSummary | null> {
    return lotSummary(this.db, s);
  }

  /** The lot's parts up to the summary's snapshot, in pages, oldest first. */
  parts(s: LotScope, asOfId: number, o: PartsOptions = {}): AsyncGenerator<LotPart[]> {
    return lotParts(this.db, s, asOfId, o);
  }
}
