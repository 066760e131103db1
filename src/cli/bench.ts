import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { demoConfig } from '../config/index.js';
import { LatencyWindow } from '../line/stats.js';
import { startStation } from '../main.js';
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
    port: 0, host: '127.0.0.1', rate: o.rate, travelMs: o.travelMs, seed: 42, defectRate: 0.2,
    pkiDir: path.join(o.dataDir, 'pki', 'plc-sim'), users: [{ username: 'station', password }],
  });
  await sim.start();
  await trustEachOther(path.join(o.dataDir, 'pki', 'station'), 'urn:inspection-station:station:demo-1', sim.serverCertificateDir, sim.certificate());
  const config = demoConfig({ dataDir: o.dataDir, port: 0, host: '127.0.0.1', rate: o.rate, plc: { endpoint: sim.endpointUrl, username: 'station', password } });
  const station = await startStation({ config, log: o.log, http: false });
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
    gate: sim.counters,
    station: station.gate!.counters,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '', node: process.version },
  };
}
