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
      'benchmarks: "all" (default) the whole station in one run beside a bare onnxruntime loop and a Python/OpenCV peer; "plc" trigger → verdict written over SignAndEncrypt; "whatif" what-if over 100 000 stored inspections; "history" a month of production seeded into SQLite and PostgreSQL, every statistics and gallery read path timed on it',
    )
    .argument('[suite]', 'all | plc | whatif | history', 'all')
    .option('--parts <n>', 'plc: parts to run', int('parts', 1), 1000)
    .option('--rate <partsPerS>', 'plc, history: line rate (history: per station)', num('rate', 0.1), 10)
    .option('--days <n>', 'history: days of production', num('days', 0.01), 30)
    .option('--stations <n>', 'history: stations sharing the database', int('stations', 1), 1)
    .option(
      '--database <url...>',
      'history: where to seed (each must be empty; default a temporary SQLite file and a new database on PG_BENCH_URL, else postgresql://postgres@127.0.0.1:5432/test)',
    )
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
      if (!['all', 'plc', 'whatif', 'history'].includes(suite))
        throw new StationError('STN_ERR_CONFIG_INVALID', `unknown benchmark suite "${suite}" (known: all, plc, whatif, history)`);
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'station-bench-'));
      const quiet = pino({ level: 'warn' }, pino.destination(2));
      try {
        if (suite === 'all') {
          const r = await runStationBench({ dataDir, log: quiet, quick: o.quick, onProgress: (s) => process.stderr.write(`${s}\n`) });
          if (!o.json) process.stderr.write(benchTable(r));
          process.stdout.write(JSON.stringify(r) + '\n');
          return;
        }
        if (suite === 'history') {
          const { runHistoryBench, defaultHistoryDatabases } = await import('../bench-history.js');
          const defaults = o.database ? null : await defaultHistoryDatabases(dataDir, (s) => process.stderr.write(`${s}\n`));
          const urls: string[] = o.database ?? defaults!.urls;
          const runs = [];
          try {
            for (const url of urls) {
              runs.push(
                await runHistoryBench({
                  url,
                  days: o.days,
                  rate: o.rate,
                  stations: o.stations,
                  dataDir,
                  log: quiet,
                  runs: o.runs,
                  onProgress: (s) => process.stderr.write(`${s}\n`),
                }),
              );
            }
          } finally {
            await defaults?.drop();
          }
          if (!o.json) process.stderr.write(historyTable(runs));
          process.stdout.write(JSON.stringify(runs) + '\n');
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

/** The history bench for people: read paths × databases, p50 / p95 in ms, and what a part costs on disk. */
function historyTable(
  runs: {
    provider: string;
    inspections: number;
    seedSeconds: number;
    bytesPerInspection: number;
    paths: { path: string; p50: number; p95: number }[];
    csv: {
      name: string;
      rows: number;
      megabytes: number;
      seconds: number;
      firstRowMs: number;
      rssBeforeMB: number;
      rssPeakMB: number;
      longestStallMs: number;
    }[];
    recorder: { withAggregatesPerS: number; withoutPerS: number; ratio: number };
  }[],
): string {
  const head = `| read path | ${runs.map((r) => `${r.provider} p50 / p95 ms`).join(' | ')} |`;
  const lines = [head, `| --- | ${runs.map(() => '---').join(' | ')} |`];
  for (const [i, p] of runs[0].paths.entries()) lines.push(`| ${p.path} | ${runs.map((r) => `${r.paths[i].p50} / ${r.paths[i].p95}`).join(' | ')} |`);
  for (const [i, c] of runs[0].csv.entries())
    lines.push(
      `| ${c.name}: rows, s, RSS before → peak, longest stall | ${runs
        .map((r) => r.csv[i])
        .map((x) => `${x.rows.toLocaleString('en')} rows (${x.megabytes} MB) in ${x.seconds} s, ${x.rssBeforeMB} → ${x.rssPeakMB} MB, ${x.longestStallMs} ms`)
        .join(' | ')} |`,
    );
  lines.push(`| inspections | ${runs.map((r) => r.inspections.toLocaleString('en')).join(' | ')} |`);
  lines.push(`| seeded in | ${runs.map((r) => `${r.seedSeconds} s`).join(' | ')} |`);
  lines.push(`| database bytes per inspection | ${runs.map((r) => r.bytesPerInspection).join(' | ')} |`);
  lines.push(
    `| recorder writes/s with aggregates · without (ratio) | ${runs.map((r) => `${r.recorder.withAggregatesPerS} · ${r.recorder.withoutPerS} (${r.recorder.ratio})`).join(' | ')} |`,
  );
  return lines.join('\n') + '\n';
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
