import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { performance } from 'node:perf_hooks';
import { demoConfig, plateRecipe, validateConfig } from '../config/index.js';
import type { InspectionResult } from '../line/index.js';
import { LatencyWindow } from '../line/stats.js';
import { startStation } from '../main.js';
import { SHIPPED_MODEL } from '../paths.js';
import { openDatabase, Repository } from '../store/index.js';
import { runWhatIf } from '../whatif/index.js';
import { LineSimulator, trustEachOther } from '../plc/index.js';

export interface PlcBenchOptions {
  parts: number;
  rate: number;
  travelMs: number;
  dataDir: string;
  log: Logger;
  onProgress?: (done: number, total: number) => void;
}

const r1 = (x: number) => Math.round(x * 10) / 10;

/**
 * Trigger → verdict-written latency of the whole loop at a line rate, over SignAndEncrypt:
 * the line simulator's photo-eye bumps PartSeq, the station hears it, grabs and inspects the
 * part, and writes the result; the simulator timestamps the ResultSeq write it receives. Both
 * ends are measured: the PLC's view (photo-eye → result received) and the station's (trigger
 * heard → write acknowledged).
 */
export async function runPlcBench(o: PlcBenchOptions) {
  const password = LineSimulator.generatePassword();
  const sim = new LineSimulator({
    port: 0,
    host: '127.0.0.1',
    rate: o.rate,
    travelMs: o.travelMs,
    seed: 42,
    defectRate: 0.2,
    pkiDir: path.join(o.dataDir, 'pki', 'plc-sim'),
    users: [{ username: 'station', password }],
  });
  await sim.start();
  await trustEachOther(path.join(o.dataDir, 'pki', 'station'), 'urn:inspection-station:station:demo-1', sim.serverCertificateDir, sim.certificate());
  const config = demoConfig({
    dataDir: o.dataDir,
    port: 0,
    host: '127.0.0.1',
    rate: o.rate,
    plc: { endpoint: sim.endpointUrl, username: 'station', password },
  });
  const inference = new LatencyWindow(1 << 16);
  const station = await startStation({
    config,
    log: o.log,
    http: false,
    onResult: (r) => {
      if (r.verdict !== 'uninspected') inference.add(r.timings.inference);
    },
  });
  try {
    await station.gate!.whenReady(30_000);
    sim.startConveyor();
    while (station.line.counters.parts < o.parts) {
      await new Promise((r) => setTimeout(r, 250));
      o.onProgress?.(station.line.counters.parts, o.parts);
    }
    await sim.drain();
  } finally {
    await station.stop();
    await sim.stop();
  }
  const plc = new LatencyWindow(sim.received.length || 1);
  for (const r of sim.received) plc.add(r.delayMs);
  return {
    parts: sim.counters.parts,
    rate: o.rate,
    security: 'SignAndEncrypt/Basic256Sha256',
    photoEyeToResultMs: { p50: r1(plc.percentile(50)), p99: r1(plc.percentile(99)), max: r1(plc.percentile(100)) },
    triggerToWrittenMs: { p50: r1(station.gate!.writeLatency.percentile(50)), p99: r1(station.gate!.writeLatency.percentile(99)) },
    triggerToVerdictMs: { p50: r1(station.line.latency.percentile(50)), p99: r1(station.line.latency.percentile(99)) },
    stationInferenceMs: { p50: r1(inference.percentile(50)), p99: r1(inference.percentile(99)) },
    plcWriteMs: { p50: r1(station.gate!.writeDuration.percentile(50)), p99: r1(station.gate!.writeDuration.percentile(99)) },
    gate: sim.counters,
    station: station.gate!.counters,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '', node: process.version },
  };
}

export interface WhatIfBenchOptions {
  /** Inspections stored before the runs. */
  inspections: number;
  /** Real model outputs to sample from: this many synthetic parts run through the shipped model. */
  sampleParts: number;
  runs: number;
  dataDir: string;
  log: Logger;
  onProgress?: (stage: string) => void;
}

/**
 * What-if over a large history: real compact outputs of the shipped model on `sampleParts`
 * synthetic parts (with their ground truth as labels and a review on every 50th part), repeated
 * with new ids and times until `inspections` rows are stored in SQLite; then what-if with
 * candidate thresholds, `runs` times from a cold query each time (no cache).
 */
export async function runWhatIfBench(o: WhatIfBenchOptions) {
  const results: InspectionResult[] = [];
  const config = validateConfig(
    {
      station: { id: 'bench-1' },
      storage: { dataDir: o.dataDir },
      line: { deadlineMs: 3600_000, queueSize: 4 },
      sources: [{ name: 'line', uri: `synthetic:?seed=7&defectRate=0.3&count=${o.sampleParts}`, recipe: 'plate' }],
      recipes: { plate: { ...plateRecipe(SHIPPED_MODEL), keepGood: 0 } },
    },
    o.dataDir,
  );
  o.onProgress?.(`inspecting ${o.sampleParts} parts for real outputs`);
  const station = await startStation({ config, log: o.log, http: false, onResult: (r) => results.push({ ...r, image: undefined }) });
  await station.line.whenIdle();
  await station.stop();

  o.onProgress?.(`storing ${o.inspections} inspections`);
  const db = await openDatabase(`file:${path.join(o.dataDir, 'station.db')}`);
  try {
    const start = Date.now() - o.inspections * 100;
    const user = await db.user.create({ data: { username: 'bench', role: 'quality', passwordHash: 'x' } });
    for (let i = 0; i < o.inspections; i += 5000) {
      const rows = [];
      for (let k = i; k < Math.min(o.inspections, i + 5000); k++) {
        const r = results[k % results.length];
        rows.push({
          stationId: 'bench-1',
          partSeq: BigInt(1_000_000 + k),
          source: 'line',
          capturedAt: new Date(start + k * 100),
          decidedAt: new Date(start + k * 100 + 20),
          verdict: r.verdict,
          reasons: r.reasons as object[],
          outputs: r.outputs as object,
          maxScore: r.maxScore,
          defectCount: r.defects.filter((d) => d.rejecting).length,
          timings: r.timings as object,
          latencyMs: r.timings.total,
          recipeName: 'plate',
          truth: r.truth ? (r.truth as object) : undefined,
        });
      }
      await db.inspection.createMany({ data: rows });
    }
    const some = await db.inspection.findMany({
      where: { source: 'line', partSeq: { gte: 1_000_000 } },
      select: { id: true, capturedAt: true, verdict: true },
      take: Math.ceil(o.inspections / 50),
    });
    await db.review.createMany({
      data: some
        .filter((_, i) => i % 50 === 0)
        .map((s) => ({ inspectionId: s.id, capturedAt: s.capturedAt, userId: user.id, label: s.verdict === 'pass' ? 'confirmed' : 'false_reject' })),
    });
    const repo = new Repository(db);
    const stored = await db.inspection.count({ where: { recipeName: 'plate' } });
    const thresholds = { default: { minScore: 0.35 }, classes: { dent: { minScore: 0.7 } } };
    const times = new LatencyWindow(o.runs);
    let last: Awaited<ReturnType<typeof runWhatIf>> | null = null;
    for (let k = 0; k < o.runs; k++) {
      o.onProgress?.(`what-if run ${k + 1}/${o.runs}`);
      const t0 = performance.now();
      last = await runWhatIf(repo, { recipe: 'plate', thresholds, keepFlips: 100 });
      times.add(performance.now() - t0);
    }
    return {
      inspections: stored,
      runs: o.runs,
      whatIfMs: { p50: r1(times.percentile(50)), p99: r1(times.percentile(99)), max: r1(times.percentile(100)) },
      inspectionsPerS: Math.round(stored / (times.percentile(50) / 1000)),
      flips: last!.flips,
      rejectRateNow: last!.rejectRateNow,
      rejectRateCandidate: last!.rejectRateCandidate,
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '', node: process.version },
    };
  } finally {
    await db.$disconnect();
  }
}
