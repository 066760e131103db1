/**
 * `station bench`: the whole station measured in one run, on the shipped models and fixed
 * 1920×1200 frames (a JPEG, raw Mono8 and RGB8 buffers), beside a bare onnxruntime loop on the
 * same models and a Python/OpenCV peer on the same model and frames.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import ort from 'onnxruntime-node';
import type { Logger } from 'pino';
import sharp from 'sharp';
import { PartGenerator, type FrameImage } from '../capture/index.js';
import { validateConfig } from '../config/index.js';
import { compactOutputs, decide, DETECTION_FLOOR } from '../decision/index.js';
import { loadModel, ModelRunner, sessionOptions } from '../inference/index.js';
import { Line, type InspectionResult } from '../line/index.js';
import { LatencyWindow } from '../line/stats.js';
import { PACKAGE_ROOT } from '../paths.js';
import { Preprocessor, YOLO_INPUT } from '../preprocess/index.js';
import { DiskImageStore, openDatabase, Recorder, Repository } from '../store/index.js';
import { EncoderImageStore } from '../store/encoder.js';
import { runPlcBench } from './bench.js';

const W = 1920,
  H = 1200;
const r2 = (x: number) => Math.round(x * 100) / 100;
const stats = (w: LatencyWindow) => ({ p50: r2(w.percentile(50)), p99: r2(w.percentile(99)) });

export interface StationBenchOptions {
  dataDir: string;
  log: Logger;
  /** Shorter runs (tests). */
  quick?: boolean;
  onProgress?: (stage: string) => void;
  models?: string[];
}

async function timeIt(n: number, fn: () => Promise<unknown> | unknown, warm = 10): Promise<LatencyWindow> {
  for (let i = 0; i < warm; i++) await fn();
  const w = new LatencyWindow(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    w.add(performance.now() - t0);
  }
  return w;
}

/** The fixture frames: one synthetic plate part rendered at 1920×1200, as a camera would deliver it and as a JPEG. */
export async function benchFrames(dir: string) {
  const part = new PartGenerator({ seed: 3, defectRate: 1, width: W, height: H }).part(0);
  const mono = part.image.data;
  const rgb = new Uint8Array(mono.length * 3);
  for (let i = 0; i < mono.length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = mono[i];
  const jpeg = await sharp(mono, { raw: { width: W, height: H, channels: 1 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'frame.jpg'), jpeg);
  writeFileSync(path.join(dir, 'frame-mono8.raw'), mono);
  const frames: Record<'jpeg' | 'mono8' | 'rgb8', FrameImage> = {
    jpeg: { kind: 'encoded', data: jpeg },
    mono8: { kind: 'raw', format: 'Mono8', width: W, height: H, data: mono },
    rgb8: { kind: 'raw', format: 'RGB8', width: W, height: H, data: rgb },
  };
  return { frames, jpegFile: path.join(dir, 'frame.jpg'), monoFile: path.join(dir, 'frame-mono8.raw') };
}

export async function runStationBench(o: StationBenchOptions) {
  const n = o.quick ? 40 : 300;
  const seconds = o.quick ? 1.5 : 6;
  const fx = await benchFrames(path.join(o.dataDir, 'frames'));
  const report: Record<string, unknown> = {};

  // 1. Frame → 640×640 letterboxed tensor (Ultralytics' default input), each input kind.
  o.onProgress?.('preprocessing 1920×1200 → 640×640');
  // As in the line worker: libvips with as many threads as onnxruntime.
  sharp.concurrency(2);
  const pre640 = new Preprocessor({ width: 640, height: 640, ...YOLO_INPUT }, { maxPixels: 40_000_000 });
  const preprocess640: Record<string, { p50: number; p99: number }> = {};
  for (const [k, f] of Object.entries(fx.frames)) preprocess640[k] = stats(await timeIt(n, () => pre640.run(f)));
  preprocess640.jpegDecodeOnly = stats(
    await timeIt(n, () =>
      sharp(fx.frames.jpeg.data as Uint8Array)
        .raw()
        .toBuffer(),
    ),
  );
  report.preprocess640 = preprocess640;

  // 2. Per model: stages in-process, the bare onnxruntime loop, the station's line at full speed.
  const models = o.models ?? ['plate-defects.onnx', 'magnetic-tile.onnx'].map((m) => path.join(PACKAGE_ROOT, 'models', m));
  const perModel: Record<string, unknown>[] = [];
  for (const file of models) {
    const model = loadModel(file);
    const m = model.manifest;
    o.onProgress?.(`${m.name}: stages`);
    const runner = await ModelRunner.create(model, { threads: 2 });
    const pre = new Preprocessor(runner.model.input, { maxPixels: 40_000_000 });
    const t = {
      decodeAndPreprocess: new LatencyWindow(n),
      inference: new LatencyWindow(n),
      outputDecode: new LatencyWindow(n),
      decision: new LatencyWindow(n),
    };
    const thresholds = m.family.startsWith('anomalib') ? { anomalyScore: 0.5 } : { default: { minScore: 0.5 } };
    for (let i = 0; i < n + 10; i++) {
      const t0 = performance.now();
      const tr = await pre.run(fx.frames.jpeg);
      const t1 = performance.now();
      const out = await runner.run(pre);
      const t2 = performance.now();
      const c = compactOutputs(runner.decode(out, tr, { candidateScore: DETECTION_FLOOR, nmsIou: 0.5, maxDetections: 100 }));
      const t3 = performance.now();
      decide(c, thresholds);
      const t4 = performance.now();
      if (i < 10) continue;
      t.decodeAndPreprocess.add(t1 - t0);
      t.inference.add(t2 - t1);
      t.outputDecode.add(t3 - t2);
      t.decision.add(t4 - t3);
    }
    await runner.release();

    // The line and the bare loop with the same onnxruntime threads: 2 (the default, lowest
    // latency per part) and 1 (more parts per second on two cores: fewer threads fighting).
    const byThreads: Record<
      string,
      {
        bareRunsPerS: number;
        bareInferenceMs: { p50: number; p99: number };
        line: Record<string, { partsPerS: number; processingMs: { p50: number; p99: number } }>;
        ratio: number;
      }
    > = {};
    for (const threads of [2, 1]) {
      o.onProgress?.(`${m.name}: bare onnxruntime loop, ${threads} thread(s)`);
      const session = await ort.InferenceSession.create(model.bytes, sessionOptions(threads));
      const input = new ort.Tensor('float32', new Float32Array(3 * m.input.width * m.input.height).fill(0.5), [1, 3, m.input.height, m.input.width]);
      const bare = await loop(seconds, () => session.run({ [m.input.name]: input }));
      await session.release();
      const line: Record<string, { partsPerS: number; processingMs: { p50: number; p99: number } }> = {};
      for (const kind of ['mono8', 'jpeg'] as const) {
        o.onProgress?.(`${m.name}: the station's line, ${kind} frames, ${threads} thread(s)`);
        line[kind] = await lineThroughput(file, fx.frames[kind], seconds, path.join(o.dataDir, `line-${m.name}-${kind}-${threads}`), threads);
      }
      byThreads[threads] = { bareRunsPerS: r2(bare.perS), bareInferenceMs: stats(bare.latency), line, ratio: r2(line.mono8.partsPerS / bare.perS) };
    }
    perModel.push({
      model: m.name,
      input: `${m.input.width}×${m.input.height}`,
      stagesMs: Object.fromEntries(Object.entries(t).map(([k, w]) => [k, stats(w)])),
      threads: byThreads,
      throughputRatioVsBareOrt: Math.max(byThreads[1].ratio, byThreads[2].ratio),
    });
  }
  report.models = perModel;

  // 3. Trigger → verdict written at 10 parts/s, over SignAndEncrypt to the line simulator.
  o.onProgress?.('PLC loop at 10 parts/s');
  const plc = await runPlcBench({ parts: o.quick ? 40 : 600, rate: 10, travelMs: 800, dataDir: path.join(o.dataDir, 'plc'), log: o.log });
  report.plc = plc;

  // 4. The recorder: inspections with images per second, to SQLite.
  o.onProgress?.('recorder');
  report.recorder = await recorderThroughput(path.join(o.dataDir, 'recorder'), o.quick ? 60 : 600, true);
  report.recorderInProcess = await recorderThroughput(path.join(o.dataDir, 'recorder-in-process'), o.quick ? 60 : 600, false);

  // 5. The Python/OpenCV peer on the same model and frames.
  o.onProgress?.('Python/OpenCV peer');
  report.peer = await runPeer(models[0], fx.jpegFile, fx.monoFile, o.quick ? 30 : 300);

  const plate = perModel[0] as { throughputRatioVsBareOrt: number; threads: Record<string, { line: { jpeg: { partsPerS: number } } }> };
  const plateJpegFps = Math.max(plate.threads[1].line.jpeg.partsPerS, plate.threads[2].line.jpeg.partsPerS);
  const peer = report.peer as { fps?: number; preprocess640Jpeg?: { p50: number } } | { error: string };
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  return {
    throughputRatioVsBareOrt: plate.throughputRatioVsBareOrt,
    peerRatio: 'fps' in peer && peer.fps ? r2(plateJpegFps / peer.fps) : null,
    preprocessMs: { jpeg1920: preprocess640.jpeg.p50, raw1920: preprocess640.mono8.p50, rgb1920: preprocess640.rgb8.p50 },
    peerPreprocessMs: 'preprocess640Jpeg' in peer && peer.preprocess640Jpeg ? peer.preprocess640Jpeg.p50 : null,
    inferenceP99Ms: plc.stationInferenceMs.p99,
    e2eP99Ms: plc.triggerToWrittenMs.p99,
    recorderPerS: (report.recorder as { perS: number }).perS,
    peakRssMb,
    preprocess640,
    models: perModel,
    plc,
    recorder: report.recorder,
    recorderInProcess: report.recorderInProcess,
    peer: report.peer,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '', node: process.version, onnxruntime: ort.env.versions.common },
  };
}

async function loop(seconds: number, fn: () => Promise<unknown>) {
  for (let i = 0; i < 20; i++) await fn();
  const latency = new LatencyWindow(1 << 16);
  const end = performance.now() + seconds * 1000;
  let runs = 0;
  const t0 = performance.now();
  while (performance.now() < end) {
    const a = performance.now();
    await fn();
    latency.add(performance.now() - a);
    runs++;
  }
  return { perS: runs / ((performance.now() - t0) / 1000), latency };
}

/** The station's own line (worker thread) fed the same frame as fast as it takes them: parts per second. */
async function lineThroughput(model: string, frame: FrameImage, seconds: number, dataDir: string, threads: number) {
  const config = validateConfig(
    {
      station: { id: 'bench' },
      storage: { dataDir },
      line: { deadlineMs: 60_000, queueSize: 8, threads },
      sources: [{ name: 'push', uri: 'http:', recipe: 'r' }],
      recipes: { r: { model, thresholds: {}, keepGood: 0 } },
    },
    dataDir,
  );
  const line = new Line({ config, recipeVersions: {} });
  await line.start();
  line.begin();
  const copy = (): FrameImage =>
    frame.kind === 'raw' ? { ...frame, data: new Uint8Array(frame.data) } : { kind: 'encoded', data: new Uint8Array(frame.data) };
  // Keep a few frames in flight, as a camera would: the line is never starved.
  const inFlight = 4;
  let done = 0;
  let stopAt = 0;
  const totals = new LatencyWindow(1 << 16);
  const feed = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      const r: InspectionResult = await line.inspect(copy());
      if (performance.now() < stopAt) {
        done++;
        totals.add(r.timings.preprocess + r.timings.inference + r.timings.decode + r.timings.decision);
      }
    }
  };
  stopAt = performance.now() + 1000; // warm-up
  await Promise.all(Array.from({ length: inFlight }, feed));
  done = 0;
  const t0 = performance.now();
  stopAt = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: inFlight }, feed));
  const perS = done / ((performance.now() - t0) / 1000);
  await line.stop();
  return { partsPerS: r2(perS), processingMs: stats(totals) };
}

/** Inspections with images (original, overlay, thumbnail) to SQLite, as fast as the recorder goes. */
async function recorderThroughput(dir: string, count: number, inChild: boolean) {
  const db = await openDatabase(`file:${path.join(dir, 'station.db')}`);
  const repo = new Repository(db);
  await repo.ensureStation({ id: 'bench', name: 'bench', line: '', site: '' });
  const disk = new DiskImageStore(path.join(dir, 'images'));
  const encoder = inChild ? new EncoderImageStore(disk) : null;
  const recorder = new Recorder(repo, encoder ?? disk, {
    stationId: 'bench',
    queueSize: count * 2,
    spoolDir: path.join(dir, 'spool'),
    keepGood: () => 1,
    modelIds: new Map(),
    recipeVersionIds: new Map(),
  });
  await recorder.start();
  const gen = new PartGenerator({ seed: 8, defectRate: 0.5 });
  const parts = Array.from({ length: 20 }, (_, i) => gen.part(i));
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const p = parts[i % parts.length];
    recorder.enqueue({
      seq: i + 1,
      source: 'line',
      recipe: 'plate',
      recipeVersion: 1,
      modelSha256: null,
      timestamp: Date.now(),
      decidedAt: Date.now(),
      verdict: p.truth.defective ? 'fail' : 'pass',
      reasons: [],
      maxScore: p.truth.defective ? 0.9 : 0,
      defects: p.truth.defects.map((d) => ({ class: d.class, score: 0.9, box: d.box, area: 100, rejecting: true })),
      outputs: { kind: 'detection', floor: 0.1, detections: p.truth.defects.map((d) => ({ class: d.class, score: 0.9, box: d.box, area: 100 })) },
      timings: { queue: 1, preprocess: 2, inference: 3, decode: 0.1, decision: 0.01, total: 7 },
      image: { ...p.image, data: new Uint8Array(p.image.data) },
    });
  }
  await recorder.flush();
  const seconds = (performance.now() - t0) / 1000;
  const c = recorder.counters;
  await recorder.close();
  await encoder?.close();
  await db.$disconnect();
  return {
    inspections: count,
    withImages: c.withImages,
    frame: '512×384 Mono8',
    encoder: inChild ? 'child process, nice 10' : 'in process',
    perS: Math.round(c.withImages / seconds),
    rssGrowthMb: Math.round((process.memoryUsage().rss - rssBefore) / 2 ** 20),
  };
}

async function runPeer(model: string, jpeg: string, raw: string, iters: number) {
  const m = loadModel(model).manifest;
  try {
    const { stdout } = await promisify(execFile)(
      '/usr/bin/python3',
      [
        path.join(PACKAGE_ROOT, 'scripts', 'peer_opencv.py'),
        '--model',
        model,
        '--jpeg',
        jpeg,
        '--raw',
        raw,
        '--size',
        String(m.input.width),
        '--nc',
        String(m.labels.length),
        '--iters',
        String(iters),
      ],
      { timeout: 600_000 },
    );
    return { model: m.name, ...JSON.parse(stdout.trim().split('\n').pop()!) };
  } catch (err) {
    return { model: m.name, error: `the peer could not run: ${(err as Error).message.split('\n')[0]} (apt-get install python3-opencv)` };
  }
}
