import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { create as createTar } from 'tar';
import { stringify as yamlStringify } from 'yaml';
import { cautiousNowMs } from '../capture/index.js';
import { StationError } from '../errors/index.js';
import type { Db } from './db.js';
import type { ImageStore } from './images.js';

export type ExportLayout = 'ultralytics' | 'folders';

/**
 * A name that may become a folder, a YAML value or a CSV cell: letters, digits, `_ . -`, at most
 * 64, and not only dots (`.` and `..` are folders of their own).
 */
export const SAFE_NAME_PATTERN = '^(?!\\.+$)[A-Za-z0-9_.-]{1,64}$';
const SAFE_NAME = new RegExp(SAFE_NAME_PATTERN);

export function isSafeName(name: string): boolean {
  return SAFE_NAME.test(name);
}

export interface ExporterOptions {
  /** Archives older than this are deleted (default 24 h); leftovers of a crashed run at start-up too. */
  ttlMs?: number;
  /** How often expired archives are looked for (default 10 minutes). */
  sweepEveryMs?: number;
}

export interface ExportJob {
  id: string;
  layout: ExportLayout;
  state: 'running' | 'done' | 'failed';
  done: number;
  total: number;
  error?: string;
  /** The stable code of a failed job's error, when it has one (STN_ERR_EXPORT_PATH). */
  errorCode?: string;
  createdAt: string;
  /** The archive, relative to the exports folder, when done. */
  file?: string;
  by: string;
}

/**
 * Datasets from people's reviews, for training the next model: the reviewed images with their
 * labels as an archive, built in the background with progress.
 *
 * - `ultralytics`: `images/`, `labels/` (one `class cx cy w h` line per defect, normalised),
 *   `data.yaml`; a false reject becomes a background image (empty label file).
 * - `folders`: `good/` and `defect/<class>/` (the anomaly-training layout).
 *
 * Labels: a confirmed reject keeps the station's rejecting detections; an escape adds the
 * reviewer's class (and box when given); a false reject is good.
 */
export class Exporter {
  private readonly jobs = new Map<string, ExportJob>();
  readonly ttlMs: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly images: ImageStore,
    readonly dir: string,
    private readonly labels: () => string[],
    options: ExporterOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 24 * 3600 * 1000;
    // Start-up: archives of an earlier run past their time, and the work folders of jobs a stop cut short.
    this.sweep(true);
    this.timer = setInterval(() => this.sweep(), options.sweepEveryMs ?? 10 * 60 * 1000);
    this.timer.unref();
  }

  /**
   * Deletes archives older than the TTL (and forgets their jobs); with `startUp`, also every
   * `.work` folder (no job of this process is running yet).
   */
  sweep(startUp = false): number {
    let removed = 0;
    const cutoff = cautiousNowMs() - this.ttlMs;
    let entries: string[];
    try {
      entries = readdirSync(this.dir);
    } catch {
      return 0;
    }
    for (const name of entries) {
      const file = path.join(this.dir, name);
      const isWork = name.endsWith('.work');
      if (!isWork && !name.endsWith('.tar.gz')) continue;
      let mtime: number;
      try {
        mtime = statSync(file).mtimeMs;
      } catch {
        continue;
      }
      if ((isWork && startUp) || (!isWork && mtime < cutoff)) {
        rmSync(file, { recursive: true, force: true });
        removed++;
      }
    }
    for (const [id, job] of this.jobs) if (job.state !== 'running' && Date.parse(job.createdAt) < cutoff) this.jobs.delete(id);
    return removed;
  }

  /** Stops the sweep timer. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async source(rel: string): Promise<string> {
    const file = await this.images.localPath(rel);
    if (!file) throw new Error(`image ${rel} is no longer stored`);
    return file;
  }

  get(id: string): ExportJob | undefined {
    return this.jobs.get(id);
  }

  archivePath(job: ExportJob): string | null {
    return job.state === 'done' && job.file ? path.join(this.dir, job.file) : null;
  }

  start(layout: ExportLayout, range: { from: Date; to: Date }, by: string): ExportJob {
    this.sweep();
    const job: ExportJob = { id: randomUUID(), layout, state: 'running', done: 0, total: 0, createdAt: new Date().toISOString(), by };
    this.jobs.set(job.id, job);
    void this.run(job, range).catch(async (err) => {
      job.state = 'failed';
      job.error = (err as Error).message;
      if (err instanceof StationError) job.errorCode = err.code;
      await rm(path.join(this.dir, `${job.id}.work`), { recursive: true, force: true }).catch(() => {});
    });
    return job;
  }

  private async run(job: ExportJob, range: { from: Date; to: Date }): Promise<void> {
    const rows = await this.db.inspection.findMany({
      where: { capturedAt: { gte: range.from, lt: range.to }, reviews: { some: {} }, images: { some: { variant: 'original' } } },
      include: {
        reviews: { orderBy: { id: 'desc' }, take: 1 },
        defects: { where: { rejecting: true } },
        images: { where: { variant: 'original' } },
      },
      orderBy: { id: 'asc' },
    });
    job.total = rows.length;
    const work = path.join(this.dir, `${job.id}.work`);
    const names = [...this.labels()];
    const classId = (c: string) => {
      let i = names.indexOf(c);
      if (i < 0) i = names.push(c) - 1;
      return i;
    };
    /** A path inside the work folder, or STN_ERR_EXPORT_PATH (a class from before names were checked). */
    const inside = (...parts: string[]) => {
      const p = path.resolve(work, ...parts);
      if (!p.startsWith(path.resolve(work) + path.sep)) throw new StationError('STN_ERR_EXPORT_PATH', `${parts.join('/')} is outside the export`);
      return p;
    };
    // A class is one of the models' labels or a plain name; `inside` still refuses a label that climbs.
    const known = new Set(names);
    const checked = (cls: string, id: number) => {
      if (!known.has(cls) && !isSafeName(cls))
        throw new StationError('STN_ERR_EXPORT_PATH', `inspection ${id}: class ${JSON.stringify(cls)} is not a plain name`);
      return cls;
    };
    mkdirSync(this.dir, { recursive: true });
    await mkdir(work, { recursive: true });
    for (const r of rows) {
      const review = r.reviews[0];
      const img = r.images[0];
      const ext = path.extname(img.path) || '.png';
      const base = `insp_${r.id}${ext}`;
      const boxes: { cls: string; box: number[] | null }[] = [];
      if (review.label === 'confirmed' && r.verdict === 'fail')
        for (const d of r.defects) boxes.push({ cls: checked(d.class, r.id), box: d.x1 === null ? null : [d.x1, d.y1!, d.x2!, d.y2!] });
      if (review.label === 'escape' && review.class)
        boxes.push({ cls: checked(review.class, r.id), box: Array.isArray(review.box) ? (review.box as number[]) : null });
      const good = review.label === 'false_reject' || (review.label === 'confirmed' && r.verdict === 'pass');
      if (job.layout === 'folders') {
        const sub = good ? inside('good') : inside('defect', boxes[0]?.cls ?? 'unknown');
        await mkdir(sub, { recursive: true });
        await copyFile(await this.source(img.path), inside(path.relative(work, sub), base));
      } else {
        await mkdir(inside('images'), { recursive: true });
        await mkdir(inside('labels'), { recursive: true });
        await copyFile(await this.source(img.path), inside('images', base));
        const lines = good
          ? []
          : boxes
              .filter((b) => b.box)
              .map((b) => {
                const [x1, y1, x2, y2] = b.box!;
                const f = (v: number) => v.toFixed(6);
                return `${classId(b.cls)} ${f((x1 + x2) / 2 / img.width)} ${f((y1 + y2) / 2 / img.height)} ${f((x2 - x1) / img.width)} ${f((y2 - y1) / img.height)}`;
              });
        await writeFile(inside('labels', base.replace(/\.[^.]+$/, '.txt')), lines.join('\n') + (lines.length ? '\n' : ''));
      }
      job.done++;
    }
    if (job.layout === 'ultralytics') {
      // A serialiser, never string concatenation: whatever a name holds stays one YAML value.
      const data = { path: '.', train: 'images', val: 'images', names: new Map(names.map((n, i) => [i, n])) };
      await writeFile(inside('data.yaml'), yamlStringify(data));
    }
    job.file = `${job.id}.tar.gz`;
    await createTar({ gzip: true, file: path.join(this.dir, job.file), cwd: work, portable: true }, ['.']);
    await rm(work, { recursive: true, force: true });
    job.state = 'done';
  }
}
