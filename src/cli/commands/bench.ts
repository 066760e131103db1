import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { runStationBench } from '../bench-station.js';
import { int, num } from '../shared.js';

type StationBench = Awaited<ReturnType<typeof runStationBench>>;

/** `station bench [all|plc|whatif]`. */
export function register(program: Command): void {
  program
    .command('bench')
    .description(
      'benchmarks: "all" (default) the whole station in one run beside a bare onnxruntime loop and a Python/OpenCV peer; "plc" trigger → verdict written over SignAndEncrypt; "whatif" what-if over 100 000 stored inspections',
    )
    .argument('[suite]', 'all | plc | whatif', 'all')
    .option('--parts <n>', 'plc: parts to run', int('parts', 1), 1000)
    .option('--rate <partsPerS>', 'plc: line rate', num('rate', 0.1), 10)
    .option('--travel-ms <ms>', 'plc: camera → gate travel', int('travel-ms', 1), 800)
    .option('--inspections <n>', 'whatif: stored inspections', int('inspections', 1), 100_000)
    .option('--runs <n>', 'whatif: timed runs', int('runs', 1), 7)
    .option('--quick', 'all: short runs (a smoke test, not a measurement)')
    .option('--json', 'JSON only')
    .action(async (suite: string, o) => {
      const [{ StationError }, { runPlcBench, runWhatIfBench }, { runStationBench }, { pino }] = await Promise.all([
        import('../../errors/index.js'),
        import('../bench.js'),
        import('../bench-station.js'),
        import('pino'),
      ]);
      if (!['all', 'plc', 'whatif'].includes(suite))
        throw new StationError('STN_ERR_CONFIG_INVALID', `unknown benchmark suite "${suite}" (known: all, plc, whatif)`);
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'station-bench-'));
      const quiet = pino({ level: 'warn' }, pino.destination(2));
      try {
        if (suite === 'all') {
          const r = await runStationBench({ dataDir, log: quiet, quick: o.quick, onProgress: (s) => process.stderr.write(`${s}\n`) });
          if (!o.json) process.stderr.write(benchTable(r));
          process.stdout.write(JSON.stringify(r) + '\n');
          return;
        }
        if (suite === 'whatif') {
          const r = await runWhatIfBench({
            inspections: o.inspections,
            sampleParts: 500,
            runs: o.runs,
            dataDir,
            log: quiet,
            onProgress: (s) => process.stderr.write(`${s}\n`),
          });
          if (!o.json)
            process.stderr.write(
              `what-if over ${r.inspections} inspections: p50 ${r.whatIfMs.p50} ms, max ${r.whatIfMs.max} ms (${r.inspectionsPerS} inspections/s)\n`,
            );
          process.stdout.write(JSON.stringify(r) + '\n');
          return;
        }
        const r = await runPlcBench({
          parts: o.parts,
          rate: o.rate,
          travelMs: o.travelMs,
          dataDir,
          log: quiet,
          onProgress: (d, t) => process.stderr.write(`\r${d}/${t} parts`),
        });
        process.stderr.write('\n');
        if (!o.json) {
          process.stderr.write(`photo-eye → result at the PLC  p50 ${r.photoEyeToResultMs.p50} ms  p99 ${r.photoEyeToResultMs.p99} ms\n`);
          process.stderr.write(`trigger → verdict written      p50 ${r.triggerToWrittenMs.p50} ms  p99 ${r.triggerToWrittenMs.p99} ms\n`);
        }
        process.stdout.write(JSON.stringify(r) + '\n');
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
}

/** The bench for people: one table on stderr. */
function benchTable(r: StationBench): string {
  const rows: [string, string][] = [];
  const pm = r.preprocess640 as Record<string, { p50: number; p99: number }>;
  for (const [k, v] of Object.entries(pm)) rows.push([`1920×1200 ${k} → 640×640 tensor`, `p50 ${v.p50} ms · p99 ${v.p99} ms`]);
  for (const m of r.models as {
    model: string;
    input: string;
    stagesMs: Record<string, { p50: number; p99: number }>;
    threads: Record<string, { bareRunsPerS: number; line: Record<string, { partsPerS: number }>; ratio: number }>;
    throughputRatioVsBareOrt: number;
  }[]) {
    for (const [k, v] of Object.entries(m.stagesMs)) rows.push([`${m.model} ${m.input}: ${k}`, `p50 ${v.p50} ms · p99 ${v.p99} ms`]);
    for (const [threads, x] of Object.entries(m.threads)) {
      rows.push([`${m.model}, ${threads} thread(s): bare onnxruntime loop`, `${x.bareRunsPerS} runs/s`]);
      for (const [k, v] of Object.entries(x.line)) rows.push([`${m.model}, ${threads} thread(s): station line, ${k} 1920×1200`, `${v.partsPerS} parts/s`]);
      rows.push([`${m.model}, ${threads} thread(s): throughput / bare runtime`, `${x.ratio}`]);
    }
  }
  const plc = r.plc as { triggerToWrittenMs: { p50: number; p99: number }; stationInferenceMs: { p99: number }; plcWriteMs: { p50: number; p99: number } };
  rows.push(['PLC write (SignAndEncrypt)', `p50 ${plc.plcWriteMs.p50} ms · p99 ${plc.plcWriteMs.p99} ms`]);
  rows.push([
    'trigger → verdict written at 10 parts/s',
    `p50 ${plc.triggerToWrittenMs.p50} ms · p99 ${plc.triggerToWrittenMs.p99} ms (inference p99 ${plc.stationInferenceMs.p99} ms)`,
  ]);
  rows.push(['recorder with images (encoder child process, nice 10)', `${r.recorderPerS} inspections/s`]);
  rows.push(['recorder with images (encoding in process)', `${(r.recorderInProcess as { perS: number }).perS} inspections/s`]);
  rows.push(['Python/OpenCV peer (frames/s, JPEG end to end)', JSON.stringify(r.peer)]);
  rows.push(['station / peer frames per second', String(r.peerRatio)]);
  rows.push(['peak RSS', `${r.peakRssMb} MB`]);
  const w = Math.max(...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `${a.padEnd(w)}  ${b}`).join('\n') + '\n';
}
