import { performance } from 'node:perf_hooks';
import { createSource, isTriggered, PushSource, type Frame, type FrameSource } from '../../capture/index.js';
import { resolveFromConfig } from '../../config/load.js';
import type { Recipe, Thresholds } from '../../config/schema.js';
import { prepareCodeReader, readCode } from '../../codes/index.js';
import {
  codeReasons,
  compactOutputs,
  decide,
  DETECTION_FLOOR,
  type CompactOutputs,
  type Decision,
  type DecisionInput,
  type Reason,
} from '../../decision/index.js';
import { serializeError, StationError, type ErrorCode } from '../../errors/index.js';
import { loadModel, ModelRunner, type ModelOutput } from '../../inference/index.js';
import { Preprocessor, type Transform } from '../../preprocess/index.js';
import type { FromWorker, InspectionResult, ModelSummary, PartIdentity, ToWorker, WorkerInit } from '../protocol.js';
import { uninspectedResult, waitedTimings } from '../results.js';
import { monotonicMs } from '../stats.js';

interface RecipeRuntime {
  name: string;
  recipe: Recipe;
  /** Swapped whole between frames, never mutated (frozen). */
  thresholds: Readonly<Thresholds>;
  version: number;
  runner: ModelRunner;
  /** Two tensors, so the next part can be preprocessed while this one is in the model. */
  pre: Preprocessor;
  pre2: Preprocessor;
}

/** A part on its way: its tensor slot and timings; `done` settles with the letterbox transform, or the code that left it uninspected. */
interface Prepared {
  item: Queued;
  slot: Preprocessor;
  timings: InspectionResult['timings'];
  done: Promise<{ transform: Transform } | { code: string }>;
  /** The thresholds snapshot it is decided with (taken when it started). */
  thresholds: Readonly<Thresholds>;
}

interface Queued {
  frame: Frame & { requestId?: number };
  recipe: RecipeRuntime;
}

/** A part the line must answer for; `image` is absent when no frame was ever acquired. */
type Answerable = { frame: Omit<Queued['frame'], 'image'> & { image?: Frame['image'] }; recipe: RecipeRuntime };

/**
 * The line: sources → bounded queue → preprocess → inference (the code read beside it) → decode → decision → result.
 * Runs inside the line worker thread (worker/main.ts; onnxruntime blocks its thread), never on the main thread. Every frame that enters yields
 * exactly one result: a verdict, or `uninspected` with the code saying why (dropped, late,
 * unreadable) — never silence.
 *
 *   source A ─┐   ┌──────────── queue (queueSize) ───────────┐
 *   source B ─┼──▶│ oldest ... newest │ full: paced sources drop the oldest (uninspected),
 *   push     ─┘   └──────────────────────────────────────────┘        offline sources wait
 *                            │
 *                            ▼  deadline passed? → uninspected (no inference)
 *                   preprocess → run (‖ code, recipes with a region) → decode → decide → emit
 */
export class LineEngine {
  private readonly recipes = new Map<string, RecipeRuntime>();
  private readonly sources: { source: FrameSource; recipe: RecipeRuntime; wait: boolean }[] = [];
  private readonly queue: Queued[] = [];
  /** The identity the PLC gave each recent trigger, by PartSeq (its frames take it when they come). */
  private readonly parts = new Map<number, PartIdentity>();
  private readonly capacity: number;
  private readonly deadlineMs: number;
  private readonly abort = new AbortController();
  private wakeLoop: (() => void) | null = null;
  private spaceWaiters: (() => void)[] = [];
  private capturesRunning = 0;
  private loopDone: Promise<void> = Promise.resolve();
  private stopping = false;
  /** Automatic mode (station OPC UA server): Stop makes every part uninspected until started again. */
  private running = true;
  private begun = false;
  /** Settles when loading (and its warm-up runs) is over; stop() waits for it. */
  private started: Promise<unknown> = Promise.resolve();
  /** Sessions replaced by a hot swap, released once nothing uses them. */
  private readonly retired = new Set<ModelRunner>();
  /** The recipe whose part is in the model now (a retired session is not released under it). */
  private inspecting: RecipeRuntime | null = null;

  constructor(
    private readonly init: WorkerInit,
    private readonly emit: (msg: FromWorker) => void,
  ) {
    this.capacity = init.config.line.queueSize;
    this.deadlineMs = init.config.line.deadlineMs;
  }

  /** Loads and warms up every recipe's model, then starts capture and the inference loop. */
  start(): Promise<ModelSummary[]> {
    const p = this.load();
    // stop() waits for this: a session must never be released while a warm-up run is inside it.
    this.started = p.catch(() => undefined);
    return p;
  }

  private async load(): Promise<ModelSummary[]> {
    const cfg = this.init.config;
    const runners = new Map<string, ModelRunner>();
    const summaries: ModelSummary[] = [];
    for (const [name, recipe] of Object.entries(cfg.recipes)) {
      // A restarted worker resumes with the thresholds the line had, not the file's.
      const changed = this.init.thresholds?.[name];
      const { runtime, summary } = await this.buildRecipe(
        name,
        recipe,
        changed?.thresholds ?? recipe.thresholds,
        changed?.version ?? this.init.recipeVersions[name] ?? 1,
        runners,
      );
      if (summary) summaries.push(summary);
      this.recipes.set(name, runtime);
    }
    if (this.init.running === false) this.running = false;
    return summaries;
  }

  /**
   * Starts capture and the inference loop. Separate from loading so that the main thread can
   * wire its result handlers first: no part is decided before someone listens for it.
   */
  begin(): void {
    if (this.stopping || this.begun) return;
    this.begun = true;
    const cfg = this.init.config;
    for (const s of cfg.sources) {
      const source = createSource(s.name, s.uri, {
        baseDir: cfg.baseDir,
        onStatus: (name, status) => this.emit({ type: 'source-status', source: name, status }),
      });
      // Named drop policy: live (paced) sources drop the oldest frame; offline ones wait.
      const selected = this.init.selectedRecipe ? this.recipes.get(this.init.selectedRecipe) : undefined;
      this.sources.push({ source, recipe: selected ?? this.recipes.get(s.recipe)!, wait: !source.paced });
    }
    for (const s of this.sources) void this.capture(s);
    this.loopDone = this.loop().then(() => this.emit({ type: 'drained' }));
  }

  /** A recipe's runtime: its model loaded (or shared through `runners`), its preprocessor, warmed up. */
  private async buildRecipe(name: string, recipe: Recipe, thresholds: Thresholds, version: number, runners: Map<string, ModelRunner>) {
    const cfg = this.init.config;
    const file = resolveFromConfig(cfg, recipe.model);
    let runner = runners.get(file);
    let summary: ModelSummary | null = null;
    if (!runner) {
      const model = loadModel(file);
      runner = await ModelRunner.create(model, { threads: cfg.line.threads });
      runners.set(file, runner);
      const m = model.manifest;
      summary = {
        file,
        name: m.name,
        family: m.family,
        sha256: m.sha256,
        labels: m.labels,
        inputWidth: m.input.width,
        inputHeight: m.input.height,
        manifestSource: model.manifestSource,
      };
    }
    // The code reader's WebAssembly, from the package's own file, before any part needs it.
    if (recipe.code) await prepareCodeReader();
    const spec = { ...runner.model.input, resize: recipe.resize ?? runner.model.input.resize };
    const pre = new Preprocessor(spec, { roi: recipe.roi, maxPixels: cfg.line.maxPixels });
    const pre2 = new Preprocessor(spec, { roi: recipe.roi, maxPixels: cfg.line.maxPixels });
    // Warm-up: libvips' first pipelines and the model's first run allocate and optimise; none of it may land on a real part.
    await pre.warmUp();
    await pre2.warmUp();
    await runner.run(pre);
    await runner.run(pre2);
    const runtime: RecipeRuntime = { name, recipe, thresholds: Object.freeze(structuredClone(thresholds)), version, runner, pre, pre2 };
    return { runtime, summary };
  }

  /**
   * Hot swap: a recipe's new model or preprocessing is loaded and warmed up beside the old one,
   * then takes over from the next frame. If anything fails, the old one stays and says why.
   */
  private async swapRecipe(requestId: number, name: string, recipe: Recipe, version: number): Promise<void> {
    const old = this.recipes.get(name);
    try {
      if (!old) throw new StationError('STN_ERR_RECIPE_UNKNOWN', `no recipe ${name} on this line`);
      const { runtime, summary } = await this.buildRecipe(name, recipe, recipe.thresholds, version, new Map());
      this.recipes.set(name, runtime);
      for (const src of this.sources) if (src.recipe === old) src.recipe = runtime;
      this.retired.add(old.runner);
      this.releaseRetired();
      this.emit({ type: 'swapped', requestId, model: summary });
    } catch (err) {
      this.emit({ type: 'swapped', requestId, error: serializeError(err, 'STN_ERR_MODEL_INVALID') });
    }
  }

  /** Releases replaced sessions once no recipe and no queued or running part uses them. */
  private releaseRetired(): void {
    for (const runner of this.retired) {
      const used =
        [...this.recipes.values()].some((r) => r.runner === runner) || this.queue.some((q) => q.recipe.runner === runner) || this.inspecting?.runner === runner;
      if (used) continue;
      this.retired.delete(runner);
      void runner.release();
    }
  }

  handle(msg: ToWorker): void {
    switch (msg.type) {
      case 'begin':
        void this.started.then(() => this.begin());
        return;
      case 'swap-recipe':
        void this.swapRecipe(msg.requestId, msg.name, msg.recipe, msg.version);
        return;
      case 'push': {
        const s =
          this.sources.find((x) => x.source.name === msg.source && x.source instanceof PushSource) ?? this.sources.find((x) => x.source instanceof PushSource);
        if (!s) {
          this.emit({
            type: 'push-rejected',
            requestId: msg.requestId,
            error: { code: 'STN_ERR_HTTP_PUSH_DISABLED', message: 'no http: source is configured' },
          });
          return;
        }
        try {
          (s.source as PushSource).push(msg.image, msg.timestamp, msg.requestId);
        } catch (err) {
          this.emit({ type: 'push-rejected', requestId: msg.requestId, error: serializeError(err, 'STN_ERR_LINE_DROPPED') });
        }
        return;
      }
      case 'thresholds': {
        const r = this.recipes.get(msg.recipe);
        // Swapped between frames: the loop reads `r.thresholds` once per part.
        if (r) {
          r.thresholds = Object.freeze(structuredClone(msg.thresholds));
          r.version = msg.version;
        }
        return;
      }
      case 'trigger': {
        if (msg.part) {
          this.parts.set(msg.seq, msg.part);
          // Bounded: a camera that never delivers a triggered frame leaves its part's entry behind.
          if (this.parts.size > 1024) this.parts.delete(this.parts.keys().next().value!);
        }
        for (const s of this.sources) {
          if (isTriggered(s.source) && !s.source.trigger(msg.seq, msg.at, msg.mono)) {
            // Triggers piling up beyond the camera's queue: that part gets no frame, loudly.
            this.emitUninspected(
              {
                frame: { seq: msg.seq, timestamp: msg.at, mono: msg.mono, source: s.source.name, partId: msg.part?.partId, lot: msg.part?.lot },
                recipe: s.recipe,
              },
              'STN_ERR_LINE_DROPPED',
              waitedTimings(msg.mono),
            );
          }
        }
        return;
      }
      case 'select-recipe': {
        const r = this.recipes.get(msg.recipe);
        if (r) for (const s of this.sources) s.recipe = r;
        return;
      }
      case 'run':
        this.running = msg.running;
        return;
      case 'stop':
        void this.stop().then(() => this.emit({ type: 'stopped' }));
        return;
    }
  }

  /** Stops capture, finishes the parts already queued, releases the sessions. */
  async stop(): Promise<void> {
    if (this.stopping) return this.loopDone;
    this.stopping = true;
    this.abort.abort();
    await this.started;
    for (const w of this.spaceWaiters.splice(0)) w();
    this.wakeLoop?.();
    await this.loopDone;
    for (const r of new Set([...this.recipes.values()].map((x) => x.runner).concat([...this.retired]))) await r.release();
  }

  private async capture(s: { source: FrameSource; recipe: RecipeRuntime; wait: boolean }): Promise<void> {
    this.capturesRunning++;
    try {
      for await (const frame of s.source.frames(this.abort.signal)) {
        // Deadlines count on the monotonic clock; a source that only knows the wall time made the frame just now.
        frame.mono ??= monotonicMs() - Math.max(0, Date.now() - frame.timestamp);
        const recipe = isTriggered(s.source) ? this.identify(frame, s.recipe) : s.recipe;
        if (s.wait) {
          while (this.queue.length >= this.capacity && !this.stopping) await new Promise<void>((r) => this.spaceWaiters.push(r));
        } else if (this.queue.length >= this.capacity) {
          // Drop-oldest: the newest part has the most time left before its gate.
          const dropped = this.queue.shift()!;
          this.emitUninspected(dropped, 'STN_ERR_LINE_DROPPED', waitedTimings(dropped.frame.mono!));
        }
        this.queue.push({ frame, recipe });
        this.emit({
          type: 'accepted',
          source: frame.source,
          seq: frame.seq,
          timestamp: frame.timestamp,
          mono: frame.mono,
          recipe: recipe.name,
          recipeVersion: recipe.version,
          partId: frame.partId,
          lot: frame.lot,
        });
        this.wakeLoop?.();
      }
    } catch (err) {
      this.emit({ type: 'source-error', source: s.source.name, error: serializeError(err, 'STN_ERR_SOURCE_FAILED') });
    } finally {
      this.capturesRunning--;
      this.emit({ type: 'source-ended', source: s.source.name });
      this.wakeLoop?.();
    }
  }

  /**
   * A triggered frame takes its part's identity from the PLC, and the recipe its RecipeSelect
   * names (the source's own without one). An unusable identity or a number no recipe has makes
   * the part uninspected with that code, under the source's recipe: captured, recorded, rejected.
   */
  private identify(frame: Frame, fallback: RecipeRuntime): RecipeRuntime {
    const part = this.parts.get(frame.seq);
    if (!part) return fallback;
    frame.partId = part.partId;
    frame.lot = part.lot;
    if (part.error) frame.error ??= part.error;
    if (part.recipeNumber === undefined) return fallback;
    for (const r of this.recipes.values()) if (r.recipe.number === part.recipeNumber) return r;
    frame.error ??= 'STN_ERR_RECIPE_SELECT';
    return fallback;
  }

  /**
   * Two stages in flight: while part N runs through the model (onnxruntime blocks this thread),
   * part N+1 is already being decoded and resized on libuv's threads into the other of the
   * recipe's two tensors.
   *
   *   part N   : [ preprocess → slot A ][ inference A ][ decode, decide, emit ]
   *   part N+1 :                       [ preprocess → slot B ][ inference B ] …
   */
  private async loop(): Promise<void> {
    let next: Prepared | null = null;
    for (;;) {
      let cur = next;
      next = null;
      if (!cur) {
        const item = this.queue.shift();
        if (!item) {
          if (this.capturesRunning === 0) return;
          await new Promise<void>((r) => (this.wakeLoop = r));
          this.wakeLoop = null;
          continue;
        }
        this.spaceWaiters.shift()?.();
        cur = this.prepare(item);
      }
      this.inspecting = cur.item.recipe;
      const ready = await cur.done;
      // Start the next part into the other slot before this one takes the thread for inference.
      const following = this.queue.shift();
      if (following) {
        this.spaceWaiters.shift()?.();
        next = this.prepare(following, cur.slot);
      }
      await this.infer(cur, ready);
      this.inspecting = next?.item.recipe ?? null;
      if (this.retired.size) this.releaseRetired();
    }
  }

  /**
   * Checks a part and starts its preprocessing into a tensor slot (not `busy`, the one the part
   * in front of it is using). Resolves to a code when the part cannot be inspected (frame error,
   * line stopped, already past its deadline, unreadable image).
   */
  private prepare(item: Queued, busy?: Preprocessor): Prepared {
    const { frame } = item;
    const r = item.recipe;
    const t0 = performance.now();
    const timings = waitedTimings(frame.mono!);
    const slot = r.pre === busy ? r.pre2 : r.pre;
    let done: Prepared['done'];
    if (frame.error) done = Promise.resolve({ code: frame.error });
    else if (!this.running) done = Promise.resolve({ code: 'STN_ERR_LINE_STOPPED' });
    else if (timings.queue > this.deadlineMs) done = Promise.resolve({ code: 'STN_ERR_LINE_DEADLINE' });
    else {
      done = slot.run(frame.image).then(
        (transform) => {
          timings.preprocess = performance.now() - t0;
          return { transform };
        },
        (err: unknown) => ({ code: serializeError(err, 'STN_ERR_INFERENCE_FAILED').code }),
      );
    }
    return { item, slot, timings, done, thresholds: r.thresholds };
  }

  /**
   * Inference, output decoding and the decision for a prepared part; emits its result (or, for a
   * part answered while preparing, its uninspected result — in order, after the part before it).
   */
  private async infer(p: Prepared, ready: { transform: Transform } | { code: string }): Promise<void> {
    const { item, timings, slot } = p;
    if ('code' in ready) {
      this.emitUninspected(item, ready.code, { ...timings, total: monotonicMs() - item.frame.mono! });
      return;
    }
    const { transform } = ready;
    const r = item.recipe;
    const frame = item.frame;
    let output: ModelOutput;
    let compact: DecisionInput;
    let decision: Decision;
    const imageSize: [number, number] = [transform.srcWidth, transform.srcHeight];
    // The code stage reads the recipe's region while the model runs (onnxruntime computes on its
    // own threads, zxing on this one), so it adds no time before the verdict. Its reasons travel
    // with the compact outputs, so what-if keeps them.
    const codeRead = r.recipe.code ? this.readPartCode(frame, imageSize, r.recipe.code, timings) : undefined;
    let code: { text: string | null; reasons: Reason[] } | undefined;
    try {
      const t1 = performance.now();
      const outputs = await r.runner.run(slot);
      const t2 = performance.now();
      output = r.runner.decode(outputs, transform, { candidateScore: DETECTION_FLOOR, nmsIou: r.recipe.nmsIou, maxDetections: 100 });
      compact = compactOutputs(output);
      const read = await codeRead;
      // A region outside the frame or a reader failure: uninspected with its code, never a pass.
      if (read && 'error' in read) throw read.error;
      code = read;
      if (code?.reasons.length) compact = { ...compact, codeReasons: code.reasons };
      const t3 = performance.now();
      // Decided on the compact form that is stored: what-if replays exactly this.
      decision = decide(compact, p.thresholds);
      const t4 = performance.now();
      timings.inference = t2 - t1;
      timings.decode = t3 - t2;
      timings.decision = t4 - t3;
    } catch (err) {
      const e = serializeError(err, 'STN_ERR_INFERENCE_FAILED');
      timings.total = monotonicMs() - frame.mono!;
      this.emitUninspected(item, e.code, timings);
      return;
    }
    timings.total = monotonicMs() - frame.mono!;
    if (timings.total > this.deadlineMs) {
      // Ready too late for the gate: the part is uninspected, but what the model saw is kept.
      const late: Decision = { ...decision, verdict: 'uninspected', reasons: [{ rule: 'uninspected', code: 'STN_ERR_LINE_DEADLINE' }, ...decision.reasons] };
      this.emitResult(item, late, output, 'STN_ERR_LINE_DEADLINE', timings, imageSize, compact, code?.text);
      return;
    }
    this.emitResult(item, decision, output, undefined, timings, imageSize, compact, code?.text);
  }

  /** The recipe's code on this part and the reasons it gives, or the error reading it (never rejects). */
  private async readPartCode(
    frame: Queued['frame'],
    imageSize: [number, number],
    spec: NonNullable<Recipe['code']>,
    timings: InspectionResult['timings'],
  ): Promise<{ text: string | null; reasons: Reason[] } | { error: unknown }> {
    const tc = performance.now();
    try {
      const text = await readCode(frame.image, imageSize, spec);
      return { text, reasons: codeReasons(text, frame.partId, spec) };
    } catch (error) {
      return { error };
    } finally {
      timings.code = performance.now() - tc;
    }
  }

  /** A part answered without a verdict (the one builder in results.ts), with whatever was captured of it. */
  private emitUninspected(item: Answerable, code: string, timings: InspectionResult['timings']): void {
    const { frame, recipe } = item;
    const part = { ...frame, recipe: recipe.name, recipeVersion: recipe.version, modelSha256: recipe.runner.model.manifest.sha256 };
    this.emit({ type: 'result', result: uninspectedResult(part, code, timings) });
  }

  private emitResult(
    item: Answerable,
    d: Decision,
    output: ModelOutput | null,
    errorCode: ErrorCode | string | undefined,
    timings: InspectionResult['timings'],
    imageSize?: [number, number],
    compact: CompactOutputs = { kind: 'none' },
    code?: string | null,
  ): void {
    const { frame, recipe } = item;
    const result: InspectionResult = {
      seq: frame.seq,
      source: frame.source,
      partId: frame.partId,
      lot: frame.lot,
      code: code ?? undefined,
      recipe: recipe.name,
      recipeVersion: recipe.version,
      modelSha256: recipe.runner.model.manifest.sha256,
      timestamp: frame.timestamp,
      mono: frame.mono,
      decidedAt: Date.now(),
      verdict: d.verdict,
      errorCode,
      reasons: d.reasons,
      defects: d.defects,
      maxScore: d.maxScore,
      outputs: compact,
      timings,
      masks: output?.kind === 'detection' && output.detections.some((x) => x.mask) ? output.detections.map((x) => x.mask ?? null) : undefined,
      anomalyMap: output?.kind === 'anomaly' ? output.map : undefined,
      image: frame.image,
      imageSize,
      file: frame.file,
      truth: frame.truth,
      requestId: frame.requestId,
    };
    this.emit({ type: 'result', result });
  }
}
