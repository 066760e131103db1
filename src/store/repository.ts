import { createHash } from 'node:crypto';
import type { InspectionResult, ModelSummary } from '../line/protocol.js';
import type { Db } from './db.js';
import type { StoredImage, ImageVariant } from './images.js';

export interface StationInfo {
  id: string;
  name: string;
  line: string;
  site: string;
}

export interface InspectionFilter {
  verdict?: 'pass' | 'fail' | 'uninspected';
  class?: string;
  recipe?: string;
  station?: string;
  from?: Date;
  to?: Date;
  limit: number;
  /** Id of the last item of the previous page (items are newest first). */
  cursor?: number;
}

/** Stable canonical JSON (sorted keys), so the same recipe always hashes the same. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The station's records; the only code that talks to the Prisma client. */
export class Repository {
  constructor(readonly db: Db) {}

  async ensureStation(s: StationInfo): Promise<void> {
    await this.db.station.upsert({ where: { id: s.id }, create: s, update: { name: s.name, line: s.line, site: s.site } });
  }

  async ensureModel(m: ModelSummary): Promise<number> {
    const row = await this.db.model.upsert({
      where: { sha256: m.sha256 },
      create: { name: m.name, family: m.family, sha256: m.sha256, labels: m.labels, inputWidth: m.inputWidth, inputHeight: m.inputHeight },
      update: {},
    });
    return row.id;
  }

  /**
   * The recipe version for a definition: the latest one if it is identical, otherwise a new
   * version with author and reason.
   */
  async ensureRecipeVersion(name: string, definition: object, author: string, reason: string): Promise<{ id: number; version: number }> {
    const sha256 = createHash('sha256').update(canonicalJson(definition)).digest('hex');
    return this.db.$transaction(async (tx) => {
      const recipe = await tx.recipe.upsert({ where: { name }, create: { name }, update: {} });
      const latest = await tx.recipeVersion.findFirst({ where: { recipeId: recipe.id }, orderBy: { version: 'desc' } });
      if (latest && latest.sha256 === sha256) return { id: latest.id, version: latest.version };
      const v = await tx.recipeVersion.create({
        data: { recipeId: recipe.id, version: (latest?.version ?? 0) + 1, definition: JSON.parse(JSON.stringify(definition)), sha256, author, reason },
      });
      return { id: v.id, version: v.version };
    });
  }

  /** One inspection with its defects and image rows, in one transaction. Returns its id. */
  async insertInspection(
    stationId: string, r: InspectionResult, refs: { modelId: number | null; recipeVersionId: number | null }, images: StoredImage[],
  ): Promise<number> {
    const row = await this.db.inspection.create({
      data: {
        stationId,
        partSeq: BigInt(r.seq),
        source: r.source,
        capturedAt: new Date(r.timestamp),
        decidedAt: new Date(r.decidedAt),
        verdict: r.verdict,
        errorCode: r.errorCode ?? null,
        reasons: r.reasons as object[],
        outputs: r.outputs as object,
        maxScore: r.maxScore,
        defectCount: r.defects.filter((d) => d.rejecting).length,
        timings: r.timings as object,
        latencyMs: r.timings.total,
        recipeName: r.recipe,
        recipeVersionId: refs.recipeVersionId,
        modelId: refs.modelId,
        truth: r.truth ? (r.truth as object) : undefined,
        defects: {
          create: r.defects.map((d) => ({
            class: d.class, score: d.score, rejecting: d.rejecting, area: d.area ?? null,
            x1: d.box?.[0] ?? null, y1: d.box?.[1] ?? null, x2: d.box?.[2] ?? null, y2: d.box?.[3] ?? null,
          })),
        },
        images: { create: images.map((i) => ({ variant: i.variant, path: i.path, mime: i.mime, width: i.width, height: i.height, bytes: i.bytes })) },
      },
      select: { id: true },
    });
    return row.id;
  }

  async listInspections(f: InspectionFilter) {
    const rows = await this.db.inspection.findMany({
      where: {
        verdict: f.verdict,
        recipeName: f.recipe,
        stationId: f.station,
        capturedAt: f.from || f.to ? { gte: f.from, lt: f.to } : undefined,
        defects: f.class ? { some: { class: f.class, rejecting: true } } : undefined,
        id: f.cursor !== undefined ? { lt: f.cursor } : undefined,
      },
      orderBy: { id: 'desc' },
      take: f.limit + 1,
      include: { defects: { where: { rejecting: true }, orderBy: { score: 'desc' } }, images: { select: { variant: true } } },
    });
    const more = rows.length > f.limit;
    const items = rows.slice(0, f.limit).map(toApi);
    return { items, nextCursor: more ? items[items.length - 1].id : null };
  }

  async getInspection(id: number) {
    const row = await this.db.inspection.findUnique({
      where: { id },
      include: {
        defects: { orderBy: { score: 'desc' } },
        images: { select: { variant: true, width: true, height: true, bytes: true, mime: true } },
        model: { select: { name: true, family: true, sha256: true } },
        recipeVersion: { select: { version: true, author: true, reason: true, createdAt: true } },
      },
    });
    if (!row) return null;
    return {
      ...toApi(row),
      outputs: row.outputs,
      truth: row.truth,
      model: row.model,
      recipeVersion: row.recipeVersion,
      images: row.images,
    };
  }

  async getImage(inspectionId: number, variant: ImageVariant) {
    return this.db.image.findUnique({ where: { inspectionId_variant: { inspectionId, variant } } });
  }

  async countInspections(): Promise<number> {
    return this.db.inspection.count();
  }
}

type Row = {
  id: number; stationId: string; partSeq: bigint; source: string; capturedAt: Date; decidedAt: Date; verdict: string;
  errorCode: string | null; reasons: unknown; maxScore: number; defectCount: number; timings: unknown; latencyMs: number; recipeName: string;
  defects: { class: string; score: number; x1: number | null; y1: number | null; x2: number | null; y2: number | null; area: number | null; rejecting: boolean }[];
  images: { variant: string }[];
};

function toApi(r: Row) {
  return {
    id: r.id,
    station: r.stationId,
    partSeq: Number(r.partSeq),
    source: r.source,
    capturedAt: r.capturedAt.toISOString(),
    decidedAt: r.decidedAt.toISOString(),
    verdict: r.verdict,
    errorCode: r.errorCode,
    reasons: r.reasons,
    maxScore: r.maxScore,
    defectCount: r.defectCount,
    latencyMs: r.latencyMs,
    timings: r.timings,
    recipe: r.recipeName,
    defects: r.defects.map((d) => ({
      class: d.class, score: d.score, rejecting: d.rejecting, area: d.area,
      box: d.x1 === null ? null : [d.x1, d.y1, d.x2, d.y2],
    })),
    images: r.images.map((i) => i.variant),
  };
}
