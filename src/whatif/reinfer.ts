/**
 * Re-inference: a candidate model or preprocessing run over the stored original images, in the
 * background, with progress, cancellable. It runs the station's own line (worker thread,
 * preprocessing, decoders, decision) on a fixture list of the stored originals, with one
 * onnxruntime thread so the production line keeps the rest of the machine. Results go to their
 * own table, never to the inspections.
 *
 *   stored originals ──list──▶ OfflineLine(dir:/?list=…, candidate recipe) ──results──▶ ReinferenceResult
 *                                         ▲ cancel: OfflineLine.cancel()
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Recipe, Thresholds } from '../config/index.js';
import { serializeError, StationError } from '../errors/index.js';
import { loadModel } from '../inference/index.js';
import { type InspectionResult, type Line, processingMs } from '../line/index.js';
import { OfflineLine, offlineConfig } from '../station/offline.js';
import type { ImageStore, Repository } from '../store/index.js';

export interface ReinferenceRequest {
  recipe: string;
  /** Absolute path of the candidate model (checked by the caller to be an allowed file). */
  model: string;
  resize?: Recipe['resize'];
  roi?: Recipe['roi'];
  thresholds: Thresholds;
  nmsIou?: number;
  from?: Date;
  to?: Date;
  station?: string;
  /** At most this many stored images, newest first. */
  limit: number;
  author: string;
}

export interface ReinferenceJob {
  id: number;
  state: 'queued' | 'running' | 'done' | 'cancelled' | 'failed';
  recipe: string;
  candidate: Record<string, unknown>;
  total: number;
  done: number;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
  author: string;
}

interface Running {
  line: Line | null;
  cancelled: boolean;
  finished: Promise<void>;
  /** Ends the wait for the line to drain (cancel). */
  interrupt: () => void;
}

/** One job at a time: a second request waits its turn (queued), so two never compete for the cores. */
export class Reinferrer {
  private readonly running = new Map<number, Running>();
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly repo: Repository,
    private readonly images: ImageStore,
    private readonly o: { baseDir: string; log: Logger; threads?: number },
  ) {}

  async start(req: ReinferenceRequest): Promise<ReinferenceJob> {
    const model = loadModel(req.model); // a broken candidate is refused now, not in the background
    const m = model.manifest;
    const picked = await this.repo.storedOriginals({ recipe: req.recipe, from: req.from, to: req.to, station: req.station }, req.limit);
    const present: { inspectionId: number; file: string }[] = [];
    for (const p of picked) {
      const file = await this.images.localPath(p.path);
      if (file) present.push({ ...p, file });
    }
    const candidate = {
      model: path.basename(req.model),
      modelName: m.name,
      modelSha256: m.sha256,
      family: m.family,
      ...candidateTuning(req),
      thresholds: req.thresholds,
    };
    const selection = {
      from: req.from?.toISOString() ?? null,
      to: req.to?.toISOString() ?? null,
      station: req.station ?? null,
      limit: req.limit,
      withoutImage: picked.length - present.length,
    };
    const id = await this.repo.createReinference({ author: req.author, recipeName: req.recipe, candidate, selection, total: present.length });
    const run: Running = { line: null, cancelled: false, finished: Promise.resolve(), interrupt: () => undefined };
    this.running.set(id, run);
    run.finished = this.chain = this.chain.then(() => this.run(id, run, req, present));
    return (await this.get(id))!;
  }

  private async run(id: number, run: Running, req: ReinferenceRequest, items: { inspectionId: number; file: string }[]): Promise<void> {
    if (run.cancelled) return;
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'station-reinfer-'));
    try {
      await this.repo.updateReinference(id, { state: 'running' });
      if (items.length === 0) {
        await this.repo.updateReinference(id, { state: 'done', finishedAt: new Date() });
        return;
      }
      // The stored originals as a fixture list; absolute files become paths below the filesystem root.
      const list = path.join(tmp, 'originals.txt');
      const rel = (f: string) => path.relative('/', f);
      writeFileSync(list, items.map((i) => rel(i.file).split(path.sep).join('/')).join('\n') + '\n');
      const byFile = new Map(items.map((i) => [rel(i.file), i.inspectionId]));
      const recipe = { model: req.model, thresholds: req.thresholds, keepGood: 0, ...candidateTuning(req) };
      // The offline line, as replay and eval run it: no database of its own, nothing recorded.
      const offline = new OfflineLine(
        offlineConfig({
          id: `reinference-${id}`,
          uri: `dir:/?list=${encodeURIComponent(list)}`,
          sourceName: 'stored',
          recipeName: req.recipe,
          recipe,
          baseDir: this.o.baseDir,
          threads: this.o.threads ?? 1,
        }),
      );
      run.line = offline.line;
      run.interrupt = () => void offline.cancel();
      let batch: { inspectionId: number; r: InspectionResult }[] = [];
      let writing = Promise.resolve();
      let done = 0;
      const flush = () => {
        const b = batch;
        batch = [];
        done += b.length;
        const n = done;
        writing = writing.then(() =>
          this.repo.addReinferenceResults(
            id,
            b.map(({ inspectionId, r }) => ({
              inspectionId,
              verdict: r.verdict,
              errorCode: r.errorCode ?? null,
              outputs: r.outputs,
              maxScore: r.maxScore,
              defects: r.defects.map((d) => ({ class: d.class, score: d.score, box: d.box ?? null, area: d.area ?? null, rejecting: d.rejecting })),
              latencyMs: processingMs(r.timings),
            })),
            n,
          ),
        );
      };
      const failures = run.cancelled
        ? []
        : await offline.run((r) => {
            const inspectionId = r.file ? byFile.get(r.file) : undefined;
            if (inspectionId === undefined) return;
            batch.push({ inspectionId, r });
            if (batch.length >= 50) flush();
          });
      flush();
      await writing;
      if (failures.length) throw new StationError('STN_ERR_SOURCE_FAILED', `${failures[0].code}: ${failures[0].message}`);
      await this.repo.updateReinference(id, { state: run.cancelled ? 'cancelled' : 'done', finishedAt: new Date() });
    } catch (err) {
      const e = serializeError(err, 'STN_ERR_INFERENCE_FAILED');
      this.o.log.error({ reinference: id, err: e }, 're-inference failed');
      await this.repo.updateReinference(id, { state: 'failed', error: `${e.code}: ${e.message}`, finishedAt: new Date() }).catch(() => undefined);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
      this.running.delete(id);
    }
  }

  /** Stops a queued or running job; what it finished stays. */
  async cancel(id: number): Promise<ReinferenceJob | null> {
    const run = this.running.get(id);
    if (run) {
      run.cancelled = true;
      run.interrupt();
      await run.line?.stop();
      if (!run.line) await this.repo.updateReinference(id, { state: 'cancelled', finishedAt: new Date() });
      await run.finished;
    }
    return this.get(id);
  }

  get(id: number): Promise<ReinferenceJob | null> {
    return this.repo.getReinference(id) as Promise<ReinferenceJob | null>;
  }

  /** Waits for every job (shutdown, tests). */
  async idle(): Promise<void> {
    await this.chain;
  }

  /** Cancels everything (station shutdown). */
  async stop(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.cancel(id)));
  }
}

/** The recipe settings a candidate overrides, only those given. */
function candidateTuning(req: ReinferenceRequest): Partial<Pick<Recipe, 'resize' | 'roi' | 'nmsIou'>> {
  return { ...(req.resize ? { resize: req.resize } : {}), ...(req.roi ? { roi: req.roi } : {}), ...(req.nmsIou !== undefined ? { nmsIou: req.nmsIou } : {}) };
}
