/**
 * The `station` command (commander). Reads the environment and arguments here and nowhere else,
 * then hands plain values to the composition root.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Presets, SingleBar } from 'cli-progress';
import { evaluate, plotCurves, type EvalReport } from '../eval/evaluate.js';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { readFixtureList, writeSyntheticDataset } from '../capture/index.js';
import { demoConfig, loadCandidateFile, loadConfigFile, plateRecipe, validateConfig, type Thresholds } from '../config/index.js';
import { StationError, type SerializedError } from '../errors/index.js';
import { loadModel } from '../inference/index.js';
import { processingMs, type InspectionResult } from '../line/index.js';
import { startStation, VERSION } from '../main.js';
import { runPlcBench, runWhatIfBench } from './bench.js';
import { runStationBench } from './bench-station.js';
import { probeSource } from './probe.js';
import { SHIPPED_MODEL } from '../paths.js';
import { Accounts, migrate, openDatabase, Repository, ROLES } from '../store/index.js';
import { runSuggest, runWhatIf, type WhatIfSummary } from '../whatif/index.js';
import readline from 'node:readline';
import { LineSimulator, trustEachOther, listCertificates, rejectCertificate, trustCertificate } from '../plc/index.js';

/** Secrets never reach the log: passwords, tokens, keys and credentials are censored wherever they appear. */
export const REDACT = [
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  'key',
  '*.key',
  'passwordHash',
  '*.passwordHash',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  '*.headers.cookie',
  'cookie',
  '*.cookie',
  'csrfToken',
  '*.csrfToken',
];
const log = pino({ level: process.env.LOG_LEVEL ?? 'info', base: undefined, redact: { paths: REDACT, censor: '[redacted]' } }, pino.destination(2));

function int(name: string, min = 0) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
}
function num(name: string, min = 0) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${name} must be a number >= ${min}`);
    return n;
  };
}

function defaultDatabaseUrl(): string | undefined {
  return process.env.DATABASE_URL || undefined;
}

/** Resolves when SIGINT/SIGTERM arrives or after `seconds` (when given). */
function untilStopped(seconds?: number): Promise<string> {
  return new Promise((resolve) => {
    const timer = seconds !== undefined ? setTimeout(() => resolve('duration'), seconds * 1000) : null;
    const on = (sig: string) => () => {
      if (timer) clearTimeout(timer);
      resolve(sig);
    };
    process.once('SIGINT', on('SIGINT'));
    process.once('SIGTERM', on('SIGTERM'));
  });
}

const program = new Command().name('station').description('Computer-vision quality inspection station').version(VERSION).showHelpAfterError();

program
  .command('demo')
  .description('the synthetic line driven by the line simulator (PLC over OPC UA), the shipped model, SQLite and HTTP')
  .option('--port <port>', 'HTTP port', int('port'), Number(process.env.PORT ?? 8080))
  .option('--host <host>', 'HTTP address', process.env.HOST ?? '127.0.0.1')
  .option('--rate <partsPerS>', 'parts per second', num('rate', 0.01), 10)
  .option('--duration <s>', 'stop after this many seconds', num('duration', 0))
  .option('--json', 'print the summary as one JSON line last on stdout')
  .option('--data <dir>', 'data folder (database, images, certificates)', './data')
  .option('--seed <n>', 'synthetic line seed', int('seed'), 42)
  .option('--defect-rate <p>', 'fraction of defective parts', num('defect-rate'), 0.2)
  .option('--travel-ms <ms>', 'camera → reject gate travel time', int('travel-ms', 1), 800)
  .option('--no-plc', 'free-running camera, no PLC and no gate')
  .option('--source <uri>', 'a real camera instead of the synthetic line (gige:CAMERA, rtsp://…, file:VIDEO…); with the PLC add #trigger=plc')
  .option('--mqtt <url>', 'publish results and state to this MQTT broker ("off": none)', process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883')
  .action(async (o) => {
    const dataDir = path.resolve(o.data);
    const live = new LiveLine();
    let sim: LineSimulator | null = null;
    let plc: { endpoint: string; username: string; password: string } | undefined;
    if (o.plc) {
      // The PLC of the demo's conveyor, in-process, SignAndEncrypt; the two sides trust each
      // other's certificates explicitly, as an administrator would with `station pki trust`.
      const password = LineSimulator.generatePassword();
      sim = new LineSimulator({
        port: 0,
        host: '127.0.0.1',
        rate: o.rate,
        travelMs: o.travelMs,
        seed: o.seed,
        defectRate: o.defectRate,
        pkiDir: path.join(dataDir, 'pki', 'plc-sim'),
        users: [{ username: 'station', password }],
      });
      await sim.start();
      await trustEachOther(path.join(dataDir, 'pki', 'station'), 'urn:inspection-station:station:demo-1', sim.serverCertificateDir, sim.certificate());
      plc = { endpoint: sim.endpointUrl, username: 'station', password };
    }
    const config = demoConfig({
      dataDir,
      port: o.port,
      host: o.host,
      rate: o.rate,
      seed: o.seed,
      defectRate: o.defectRate,
      plc,
      source: o.source,
      mqtt: o.mqtt === 'off' ? undefined : o.mqtt,
    });
    const given = process.env.STATION_ADMIN_PASSWORD;
    const adminPassword = given || LineSimulator.generatePassword();
    const station = await startStation({ config, databaseUrl: defaultDatabaseUrl(), log, onResult: (r) => live.add(r), adminPassword });
    process.stderr.write(`station demo: ${station.url}  (line ${o.rate} parts/s${sim ? `, PLC ${sim.endpointUrl}` : ''}, data in ${station.dataDir})\n`);
    process.stderr.write(
      given ? 'log in as admin with STATION_ADMIN_PASSWORD\n' : `log in as admin with password ${adminPassword}  (set STATION_ADMIN_PASSWORD to choose it)\n`,
    );
    if (sim) {
      await station.gate!.whenReady(30_000);
      sim.startConveyor();
    }
    const ticker = setInterval(() => live.print(station.line.summary()), 1000);
    await untilStopped(o.duration);
    clearInterval(ticker);
    // Parts already on the belt still reach the gate with their verdicts.
    await sim?.drain();
    await station.stop();
    await sim?.stop();
    const s = station.line.summary();
    live.print(s, true);
    const g = sim?.counters;
    const summary = {
      ...s,
      plc: {
        passedGood: g?.passedGood ?? 0,
        rejectedDefective: g?.rejectedDefective ?? 0,
        escapes: g?.escapes ?? 0,
        falseRejects: g?.falseRejects ?? 0,
        late: (g?.late ?? 0) + (g?.missing ?? 0),
        failSafeRejects: g?.failSafeRejects ?? 0,
      },
      truth: live.truth(),
      recorded: station.recorder.counters.recorded,
    };
    process.stdout.write(o.json ? JSON.stringify(summary) + '\n' : `${JSON.stringify(summary, null, 2)}\n`);
  });

program
  .command('plc-sim')
  .description('the line simulator alone: an OPC UA server playing the conveyor PLC with a reject gate')
  .option('--port <port>', 'OPC UA port', int('port'), 4840)
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--rate <partsPerS>', 'parts per second', num('rate', 0.01), 10)
  .option('--travel-ms <ms>', 'camera → gate travel time', int('travel-ms', 1), 800)
  .option('--seed <n>', "synthetic line seed (the station's camera must use the same)", int('seed'), 42)
  .option('--defect-rate <p>', 'fraction of defective parts', num('defect-rate'), 0.2)
  .option('--pki <dir>', 'certificate store', './data/pki/plc-sim')
  .option('--user <name>', 'the one user allowed in', 'station')
  .action(async (o) => {
    const password = process.env.PLC_SIM_PASSWORD || LineSimulator.generatePassword();
    const sim = new LineSimulator({
      port: o.port,
      host: o.host,
      rate: o.rate,
      travelMs: o.travelMs,
      seed: o.seed,
      defectRate: o.defectRate,
      pkiDir: path.resolve(o.pki),
      users: [{ username: o.user, password }],
    });
    await sim.start();
    sim.startConveyor();
    process.stderr.write(
      `line simulator: ${sim.endpointUrl} (SignAndEncrypt; user "${o.user}"${process.env.PLC_SIM_PASSWORD ? ', password from PLC_SIM_PASSWORD' : `, password ${password}`})\n`,
    );
    process.stderr.write(
      `trust the station by moving its certificate from ${path.join(sim.serverCertificateDir, 'rejected')} to trusted/certs (station pki trust --dir ...)\n`,
    );
    const ticker = setInterval(() => process.stderr.write(`${JSON.stringify(sim.counters)}\n`), 5000);
    await untilStopped();
    clearInterval(ticker);
    await sim.drain();
    await sim.stop();
    process.stdout.write(JSON.stringify(sim.counters) + '\n');
  });

const pki = program.command('pki').description("the station's OPC UA certificate store: nobody is trusted until you say so");
pki
  .command('list')
  .option('--dir <dir>', 'certificate store', './data/pki/station')
  .action((o) => {
    for (const e of listCertificates(path.resolve(o.dir))) process.stdout.write(`${e.state}\t${e.file}\n`);
  });
pki
  .command('trust')
  .argument('<match>', 'part of the certificate file name or thumbprint, as listed')
  .option('--dir <dir>', 'certificate store', './data/pki/station')
  .action((match: string, o) => {
    process.stdout.write(`trusted ${trustCertificate(path.resolve(o.dir), match)}\n`);
  });
pki
  .command('reject')
  .argument('<match>', 'part of the certificate file name or thumbprint, as listed')
  .option('--dir <dir>', 'certificate store', './data/pki/station')
  .action((match: string, o) => {
    process.stdout.write(`rejected ${rejectCertificate(path.resolve(o.dir), match)}\n`);
  });

program
  .command('run')
  .description('the station for a real line, from a configuration file')
  .requiredOption('--config <file>', 'station YAML file')
  .action(async (o) => {
    const config = loadConfigFile(o.config);
    const station = await startStation({ config, configFile: path.resolve(o.config), databaseUrl: defaultDatabaseUrl(), log, env: process.env });
    log.info({ url: station.url, sources: config.sources.map((s) => s.name) }, 'station running');
    // SIGHUP re-reads the file (thresholds, models); an invalid file is refused and the running one stays.
    process.on('SIGHUP', () => void station.reload('SIGHUP').catch(() => undefined));
    const ticker = setInterval(() => log.info({ line: station.line.summary(), recorder: station.recorder.counters }, 'status'), 60_000);
    await Promise.race([untilStopped(), station.line.whenIdle()]);
    clearInterval(ticker);
    await station.stop();
    log.info({ line: station.line.summary(), recorder: station.recorder.counters }, 'station stopped');
  });

interface FolderOptions {
  recipe: string;
  config?: string;
  model?: string;
  list?: string;
}

/** The options replay and eval share: whose recipe decides. */
const recipeOption = () => new Option('--recipe <name>', 'recipe whose thresholds decide (from --config, or the embedded "plate")').default('plate');
const configOption = () => new Option('--config <file>', 'station YAML file whose recipes to use');
const listOption = () => new Option('--list <file>', 'only the images this fixture list names (paths relative to the folder, one per line)');

/**
 * Runs every image of a folder through a recipe with the station's own line (worker, model,
 * decision), offline: no deadline, the queue waits. Resolves when the last image is decided.
 */
async function runFolder(dir: string, o: FolderOptions, onResult: (r: InspectionResult) => void): Promise<void> {
  const base = o.config ? loadConfigFile(o.config) : null;
  const recipes: Record<string, unknown> = base ? { ...base.recipes } : { plate: plateRecipe(SHIPPED_MODEL) };
  if (!recipes[o.recipe] && !o.model) throw new StationError('STN_ERR_RECIPE_UNKNOWN', `no recipe "${o.recipe}" (known: ${Object.keys(recipes).join(', ')})`);
  const recipe = { ...((recipes[o.recipe] as object) ?? plateRecipe(SHIPPED_MODEL)), ...(o.model ? { model: path.resolve(o.model) } : {}) };
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'station-folder-'));
  try {
    const config = validateConfig(
      {
        station: { id: 'offline' },
        storage: { dataDir: tmp },
        line: { deadlineMs: 24 * 3600 * 1000, queueSize: 2 },
        sources: [{ name: 'folder', uri: `dir:${path.resolve(dir)}${o.list ? `?list=${encodeURIComponent(path.resolve(o.list))}` : ''}`, recipe: o.recipe }],
        recipes: { [o.recipe]: recipe },
      },
      base?.baseDir ?? process.cwd(),
    );
    const station = await startStation({ config, http: false, log: pino({ level: 'warn' }, pino.destination(2)), onResult });
    // Offline, a folder that cannot be read is the command's failure, not a logged line.
    const failures: SerializedError[] = [];
    station.line.on('source-error', (_source, error) => failures.push(error));
    await station.line.whenIdle();
    await station.stop();
    if (failures.length) throw new StationError(failures[0].code, failures[0].message);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

program
  .command('probe')
  .description('commissioning: grab frames from a source and report size, pixel format and frame rate')
  .argument('<source>', 'source URI: gige:CAMERA, rtsp://…, v4l2:/dev/video0, file:VIDEO, dir:FOLDER, synthetic:')
  .option('--frames <n>', 'frames to grab', int('frames', 1), 10)
  .option('--timeout-s <s>', 'give up after this long', num('timeout-s', 1), 60)
  .option('--json', 'only the summary line on stdout')
  .action(async (uri: string, o) => {
    const r = await probeSource(uri, o.frames, o.timeoutS * 1000, (n) => {
      if (!o.json) process.stderr.write(`\r${n}/${o.frames} frames`);
    });
    if (!o.json) process.stderr.write('\n');
    process.stdout.write(JSON.stringify(r) + '\n');
    if (r.frames < o.frames) process.exitCode = 1;
  });

program
  .command('replay')
  .description('run a folder of images through a recipe; one JSON line per image, then a summary')
  .argument('<dir>', 'folder of images (good/ and defect/<class>/ give ground truth)')
  .option('--model <file>', "use this model instead of the recipe's")
  .addOption(recipeOption())
  .addOption(configOption())
  .addOption(listOption())
  .option('--json', 'JSON lines only (default)')
  .action(async (dir: string, o) => {
    const counts = { images: 0, pass: 0, fail: 0, uninspected: 0 };
    const truth = new TruthTally();
    await runFolder(dir, o, (r) => {
      counts.images++;
      counts[r.verdict]++;
      truth.add(r);
      const rejecting = r.defects.filter((d) => d.rejecting);
      process.stdout.write(
        JSON.stringify({
          file: r.file,
          verdict: r.verdict,
          defects: rejecting.map((d) => ({
            class: d.class,
            score: round(d.score, 4),
            ...(d.box ? { box: d.box.map((v) => round(v, 1)) } : {}),
            ...(d.area !== undefined ? { area: Math.round(d.area) } : {}),
          })),
          latencyMs: round(processingMs(r.timings), 2),
          ...(r.errorCode ? { errorCode: r.errorCode } : {}),
        }) + '\n',
      );
    });
    process.stdout.write(JSON.stringify({ ...counts, ...truth.summary() }) + '\n');
  });

program
  .command('eval')
  .description("how good a model is on a labelled folder (good/, defect/<class>/, masks/<class>/), with the station's own pipeline")
  .argument('<dir>', 'labelled folder')
  .requiredOption('--model <file>', 'the ONNX model')
  .addOption(recipeOption())
  .addOption(configOption())
  .addOption(listOption())
  .option('--json', 'only the summary line on stdout')
  .option('--plot <file.png>', 'write ROC and precision–recall curves')
  .option(
    '--report <file.json>',
    'save the whole evaluation (summary, curves, cost of each threshold) for the gallery; list it in the model manifest\'s "reports"',
  )
  .option('--dataset-description <text>', 'what the folder is, for the report (e.g. "magnetic tile, 20 % validation split")')
  .action(async (dir: string, o) => {
    if (o.list && !existsSync(o.list)) throw new StationError('STN_ERR_SOURCE_FAILED', `cannot read the list ${o.list}: no such file`);
    const total = o.list ? readFixtureList(readFileSync(path.resolve(o.list), 'utf8')).length : countImages(path.resolve(dir));
    const bar = new SingleBar(
      { format: 'eval [{bar}] {value}/{total} images  {eta}s', stream: process.stderr, hideCursor: true, noTTYOutput: false, notTTYSchedule: 5000 },
      Presets.legacy,
    );
    bar.start(total, 0);
    const results: InspectionResult[] = [];
    await runFolder(dir, o, (r) => {
      results.push({ ...r, image: undefined });
      bar.increment();
    });
    bar.stop();
    const { summary, curves: c, points, classCounts } = await evaluate(path.resolve(dir), results);
    if (o.report) {
      const model = loadModel(path.resolve(o.model));
      const defective = Object.values(classCounts).reduce((a, b) => a + b, 0);
      const report: EvalReport = {
        kind: 'station-eval',
        createdAt: new Date().toISOString(),
        model: { name: model.manifest.name, sha256: model.manifest.sha256 },
        dataset: {
          name: path.basename(path.resolve(dir)),
          ...(o.datasetDescription ? { description: o.datasetDescription } : {}),
          good: summary.images - defective,
          defective,
          classes: classCounts,
        },
        summary,
        curves: c,
        operatingPoints: points,
      };
      writeFileSync(path.resolve(o.report), JSON.stringify(report) + '\n');
      process.stderr.write(`report written to ${o.report}\n`);
    }
    if (o.plot) {
      writeFileSync(path.resolve(o.plot), await plotCurves(c, summary, `${path.basename(o.model)} on ${path.basename(path.resolve(dir))}`));
      process.stderr.write(`curves written to ${o.plot}\n`);
    }
    if (!o.json) process.stderr.write(`${JSON.stringify(summary, null, 2)}\n`);
    process.stdout.write(JSON.stringify(summary) + '\n');
  });

function countImages(dir: string): number {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.(png|jpe?g|bmp|tiff?|webp)$/i.test(f) && !f.split(path.sep).includes('masks'))
    .length;
}

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

/** The bench for people: one table on stderr. */
function benchTable(r: Awaited<ReturnType<typeof runStationBench>>): string {
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

program
  .command('whatif')
  .description('what candidate thresholds would have done to the stored inspections (nothing on the line changes)')
  .option('--recipe <file>', 'candidate thresholds: a YAML/JSON file with `thresholds:` (and `recipe:`), or a station file')
  .option('--name <recipe>', "the stored recipe to replay (default: the file's, or the only one)")
  .option('--from <iso>', 'from this time (ISO 8601)', isoDate('from'))
  .option('--to <iso>', 'up to this time (ISO 8601)', isoDate('to'))
  .option('--station <id>', "only this station's inspections")
  .option('--line <line>', "only the inspections of this line's stations")
  .option('--flips <n>', 'list this many of the newest flipped parts', int('flips'), 20)
  .option('--suggest', 'instead: suggest per-class thresholds from labelled parts (zero escapes, or --recall)')
  .option('--recall <r>', "with --suggest: catch this share of each class's labelled defects instead of all", num('recall', 0.5))
  .option('--json', 'only the summary line on stdout')
  .action(async (o) => {
    if (!o.recipe && !o.suggest) throw new StationError('STN_ERR_CONFIG_INVALID', 'give candidate thresholds with --recipe FILE (or --suggest)');
    const candidate = o.recipe ? loadCandidateFile(path.resolve(o.recipe), o.name) : null;
    const database = await openDatabase(defaultDatabaseUrl() ?? `file:${path.resolve('data', 'station.db')}`);
    try {
      const repo = new Repository(database);
      const stored = (await repo.listRecipes()).map((r) => r.name);
      const recipe = candidate?.recipe ?? o.name ?? (stored.length === 1 ? stored[0] : undefined);
      if (!recipe) throw new StationError('STN_ERR_WHATIF_RECIPE', `name the recipe with --name (stored: ${stored.join(', ') || 'none'})`);
      const q = { recipe, station: o.station, line: o.line, from: o.from, to: o.to };
      if (o.suggest) {
        const current = await repo.getRecipe(recipe);
        if (!current) throw new StationError('STN_ERR_RECIPE_UNKNOWN', `no stored recipe ${recipe}`);
        const s = await runSuggest(repo, {
          ...q,
          current: (current.definition as { thresholds: Thresholds }).thresholds,
          target: o.recall !== undefined ? { recall: o.recall } : { escapes: 0 },
        });
        if (!o.json) {
          for (const c of s.classes)
            process.stderr.write(
              `${c.class.padEnd(16)} ${c.kept ? 'kept' : 'suggested'} ${c.threshold} (now ${c.current})  caught ${c.caught}/${c.defective}  good rejected ${c.goodRejected}${c.unreachable ? `  never seen ${c.unreachable}` : ''}\n`,
            );
          process.stderr.write(
            `replayed on ${s.result.labelled.total} labelled parts: escapes ${s.result.escapesNow} → ${s.result.escapesCandidate}, false rejects ${s.result.falseRejectsNow} → ${s.result.falseRejectsCandidate}\n`,
          );
        }
        process.stdout.write(
          JSON.stringify({ recipe, thresholds: s.thresholds, ...pickSummary(s.result), classes: s.classes.map(({ curve: _c, ...c }) => c), curve: s.curve }) +
            '\n',
        );
        return;
      }
      const r = await runWhatIf(repo, { ...q, thresholds: candidate!.thresholds, keepFlips: o.flips });
      if (!o.json) {
        process.stderr.write(
          `${r.inspections} inspections of ${recipe}: reject rate ${pctOf(r.rejectRateNow)} → ${pctOf(r.rejectRateCandidate)}, ${r.flips} flip (${r.flipsToFail} pass→fail, ${r.flipsToPass} fail→pass)\n`,
        );
        process.stderr.write(
          `against ${r.labelled.total} labelled parts: escapes ${r.escapesNow} → ${r.escapesCandidate}, false rejects ${r.falseRejectsNow} → ${r.falseRejectsCandidate}  (${r.elapsedMs} ms)\n`,
        );
        for (const f of r.flipped)
          process.stderr.write(`  #${f.id} ${f.capturedAt} ${f.now} → ${f.candidate} (score ${f.maxScore}${f.label ? `, ${f.label}` : ''})\n`);
      }
      process.stdout.write(JSON.stringify({ recipe, ...pickSummary(r), flipped: r.flipped.map((f) => f.id), elapsedMs: r.elapsedMs }) + '\n');
    } finally {
      await database.$disconnect();
    }
  });

function isoDate(name: string) {
  return (v: string) => {
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new InvalidArgumentError(`${name} must be an ISO 8601 time`);
    return d;
  };
}
const pctOf = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(2)} %`);
function pickSummary(s: WhatIfSummary) {
  const {
    inspections,
    flips,
    rejectRateNow,
    rejectRateCandidate,
    escapesNow,
    escapesCandidate,
    falseRejectsNow,
    falseRejectsCandidate,
    flipsToFail,
    flipsToPass,
    labelled,
  } = s;
  return {
    inspections,
    flips,
    rejectRateNow,
    rejectRateCandidate,
    escapesNow,
    escapesCandidate,
    falseRejectsNow,
    falseRejectsCandidate,
    flipsToFail,
    flipsToPass,
    labelled,
  };
}

const user = program.command('user').description('people who log in to the gallery and the API');
user
  .command('add')
  .argument('<name>', 'user name')
  .requiredOption('--role <role>', 'viewer | quality | integrator | admin')
  .action(async (name: string, o) => {
    if (!(ROLES as readonly string[]).includes(o.role)) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', `--role must be one of ${ROLES.join(', ')}`);
    const password = process.env.STATION_PASSWORD || (await promptPassword(`password for ${name}: `));
    if (password.length < 8) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', 'the password needs at least 8 characters');
    const url = defaultDatabaseUrl() ?? `file:${path.resolve('data', 'station.db')}`;
    const database = await openDatabase(url);
    try {
      const accounts = new Accounts(database);
      if (await accounts.findUser(name)) throw new StationError('STN_ERR_HTTP_CONFLICT', `user ${name} exists`);
      await accounts.createUser(name, o.role, password);
      await accounts.audit('station user add (command line)', 'user.create', name, { role: o.role });
      process.stdout.write(JSON.stringify({ user: name, role: o.role }) + '\n');
    } finally {
      await database.$disconnect();
    }
  });

/** Reads a password from the terminal without echoing it (or one line from a pipe). */
function promptPassword(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY });
    const out = rl as unknown as { _writeToOutput?: (s: string) => void };
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    out._writeToOutput = () => undefined;
  });
}

const db = program.command('db').description('database maintenance');
db.command('migrate')
  .description('apply pending migrations to DATABASE_URL (default file:./data/station.db)')
  .action(async () => {
    const url = defaultDatabaseUrl() ?? `file:${path.resolve('data', 'station.db')}`;
    const applied = await migrate(url);
    process.stdout.write(JSON.stringify({ applied }) + '\n');
  });

program
  .command('synth')
  .description('write synthetic parts as a labelled folder (good/, defect/<class>/, masks/, labels.jsonl)')
  .argument('<dir>', 'output folder')
  .option('--count <n>', 'parts', int('count', 1), 1000)
  .option('--seed <n>', 'seed', int('seed'), 11)
  .option('--start <n>', 'first part index (held-out sets use a disjoint range)', int('start'), 0)
  .option('--defect-rate <p>', 'fraction of defective parts', num('defect-rate'), 0.5)
  .action(async (dir: string, o) => {
    const r = await writeSyntheticDataset(path.resolve(dir), {
      count: o.count,
      seed: o.seed,
      start: o.start,
      defectRate: o.defectRate,
      onProgress: (d, t) => {
        if (d % 100 === 0 || d === t) process.stderr.write(`\r${d}/${t}`);
      },
    });
    process.stderr.write('\n');
    process.stdout.write(JSON.stringify({ dir: path.resolve(dir), ...r }) + '\n');
  });

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/** Compares verdicts with the ground truth a source knows (synthetic line, labelled folders). */
class TruthTally {
  defective = 0;
  good = 0;
  caught = 0;
  falseRejects = 0;
  add(r: InspectionResult): void {
    if (!r.truth) return;
    const rejected = r.verdict !== 'pass';
    if (r.truth.defective) {
      this.defective++;
      if (rejected) this.caught++;
    } else {
      this.good++;
      if (rejected) this.falseRejects++;
    }
  }
  summary() {
    if (this.defective + this.good === 0) return {};
    return {
      defective: this.defective,
      good: this.good,
      recall: this.defective ? round(this.caught / this.defective, 4) : null,
      falseRejectRate: this.good ? round(this.falseRejects / this.good, 4) : null,
    };
  }
}

/** The demo's live status line on stderr: parts/s, verdict counts, p50/p99. */
class LiveLine {
  private readonly tally = new TruthTally();
  private last = { t: Date.now(), parts: 0 };
  add(r: InspectionResult): void {
    this.tally.add(r);
  }
  truth() {
    return this.tally.summary();
  }
  print(s: { parts: number; verdicts: Record<string, number>; latencyMs: { p50: number; p99: number } }, final = false): void {
    const now = Date.now();
    const rate = ((s.parts - this.last.parts) * 1000) / Math.max(1, now - this.last.t);
    this.last = { t: now, parts: s.parts };
    const text = `parts ${s.parts}  ${rate.toFixed(1)}/s  pass ${s.verdicts.pass}  fail ${s.verdicts.fail}  uninspected ${s.verdicts.uninspected}  p50 ${s.latencyMs.p50.toFixed(1)} ms  p99 ${s.latencyMs.p99.toFixed(1)} ms`;
    process.stderr.write(process.stderr.isTTY ? `\r${text}\x1b[K${final ? '\n' : ''}` : `${text}\n`);
  }
}

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof StationError) {
    process.stderr.write(`station: ${err.code}: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`station: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
