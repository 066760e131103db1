import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { create as createTar } from 'tar';
import type { Db } from './db.js';
import type { ImageStore } from './images.js';

export type ExportLayout = 'ultralytics' | 'folders';

export interface ExportJob {
  id: string;
  layout: ExportLayout;
  state: 'running' | 'done' | 'failed';
  done: number;
  total: number;
  error?: string;
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

  constructor(
    private readonly db: Db,
    private readonly images: ImageStore,
    readonly dir: string,
    private readonly labels: () => string[],
  ) {}

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
    const job: ExportJob = { id: randomUUID(), layout, state: 'running', done: 0, total: 0, createdAt: new Date().toISOString(), by };
    this.jobs.set(job.id, job);
    void this.run(job, range).catch((err) => {
      job.state = 'failed';
      job.error = (err as Error).message;
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
    await mkdir(work, { recursive: true });
    for (const r of rows) {
      const review = r.reviews[0];
      const img = r.images[0];
      const ext = path.extname(img.path) || '.png';
      const base = `insp_${r.id}${ext}`;
      const boxes: { cls: string; box: number[] | null }[] = [];
      if (review.label === 'confirmed' && r.verdict === 'fail')
        for (const d of r.defects) boxes.push({ cls: d.class, box: d.x1 === null ? null : [d.x1, d.y1!, d.x2!, d.y2!] });
      if (review.label === 'escape' && review.class) boxes.push({ cls: review.class, box: Array.isArray(review.box) ? (review.box as number[]) : null });
      const good = review.label === 'false_reject' || (review.label === 'confirmed' && r.verdict === 'pass');
      if (job.layout === 'folders') {
        const sub = good ? 'good' : path.join('defect', boxes[0]?.cls ?? 'unknown');
        await mkdir(path.join(work, sub), { recursive: true });
        await copyFile(await this.source(img.path), path.join(work, sub, base));
      } else {
        await mkdir(path.join(work, 'images'), { recursive: true });
        await mkdir(path.join(work, 'labels'), { recursive: true });
        await copyFile(await this.source(img.path), path.join(work, 'images', base));
        const lines = good
          ? []
          : boxes
              .filter((b) => b.box)
              .map((b) => {
                const [x1, y1, x2, y2] = b.box!;
                const f = (v: number) => v.toFixed(6);
                return `${classId(b.cls)} ${f((x1 + x2) / 2 / img.width)} ${f((y1 + y2) / 2 / img.height)} ${f((x2 - x1) / img.width)} ${f((y2 - y1) / img.height)}`;
              });
        await writeFile(path.join(work, 'labels', base.replace(/\.[^.]+$/, '.txt')), lines.join('\n') + (lines.length ? '\n' : ''));
      }
      job.done++;
    }
    if (job.layout === 'ultralytics') {
      await writeFile(path.join(work, 'data.yaml'), `path: .\ntrain: images\nval: images\nnames:\n${names.map((n, i) => `  ${i}: ${n}`).join('\n')}\n`);
    }
    job.file = `${job.id}.tar.gz`;
    await createTar({ gzip: true, file: path.join(this.dir, job.file), cwd: work, portable: true }, ['.']);
    await rm(work, { recursive: true, force: true });
    job.state = 'done';
  }
}
