import path from 'node:path';
import type { Command } from 'commander';
import type { InspectionResult } from '../../line/index.js';
import { createLogger, int, num, resolveDatabase, TruthTally, untilStopped, warnIfGlibcAllocator } from '../shared.js';

/** `station demo`: the synthetic line under the simulated PLC, the shipped model, SQLite and HTTP. */
export function register(program: Command): void {
  program
    .command('demo')
    .description('the synthetic line driven by the line simulator (PLC over OPC UA), the shipped model, SQLite and HTTP')
    .option('--port <port>', 'HTTP port', int('port'), Number(process.env.PORT ?? 8080))
    .option('--host <host>', 'HTTP address', process.env.HOST ?? '127.0.0.1')
    .option('--rate <partsPerS>', 'parts per second', num('rate', 0.01), 10)
    .option('--duration <s>', 'stop after this many seconds', num('duration', 0))
    .option('--json', 'only the summary on stdout (its last line is one JSON object either way; without --json a readable summary goes to stderr)')
    .option('--data <dir>', 'data folder (database, images, certificates)', './data')
    .option('--seed <n>', 'synthetic line seed', int('seed'), 42)
    .option('--defect-rate <p>', 'fraction of defective parts', num('defect-rate'), 0.2)
    .option('--travel-ms <ms>', 'camera → reject gate travel time', int('travel-ms', 1), 800)
    .option('--no-plc', 'free-running camera, no PLC and no gate')
    .option('--source <uri>', 'a real camera instead of the synthetic line (gige:CAMERA, rtsp://…, file:VIDEO…); with the PLC add #trigger=plc')
    .option(
      '--mqtt <url>',
      'publish results and state to this MQTT broker (default: MQTT_URL when set, else no publishing; "off": none)',
      process.env.MQTT_URL || undefined,
    )
    .action(async (o) => {
      const [{ demoConfig }, { startStation }, { LineSimulator, trustEachOther }] = await Promise.all([
        import('../../config/index.js'),
        import('../../main.js'),
        import('../../plc/index.js'),
      ]);
      const log = createLogger();
      const dataDir = path.resolve(o.data);
      const live = new LiveLine();
      let sim: InstanceType<typeof LineSimulator> | null = null;
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
        mqtt: o.mqtt && o.mqtt !== 'off' ? o.mqtt : undefined,
        // The parts' serial labels carry the simulated PLC's run tag (without a PLC, the demo's start).
        serials: sim?.run ?? new Date().toISOString().replace(/\D/g, '').slice(2, 14),
      });
      const given = process.env.STATION_ADMIN_PASSWORD;
      const adminPassword = given || LineSimulator.generatePassword();
      const database = await resolveDatabase({ data: dataDir });
      const station = await startStation({ config, databaseUrl: database.url, log, onResult: (r) => live.add(r), adminPassword }).catch(async (err) => {
        // The station stopped what it had started; the simulated PLC is the demo's own.
        await sim?.stop();
        throw err;
      });
      warnIfGlibcAllocator(log);
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
        identity: live.identity,
        codes: live.codes,
        recorded: station.recorder.counters.recorded,
      };
      // The last stdout line is one JSON object, with or without --json, also after SIGTERM.
      if (!o.json) process.stderr.write(`${JSON.stringify(summary, null, 2)}\n`);
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    });
}

/** The demo's live status line on stderr: parts/s, verdict counts, p50/p99. */
class LiveLine {
  private readonly tally = new TruthTally();
  private last = { t: Date.now(), parts: 0 };
  /** Parts that came with a serial and a lot from the PLC, and those whose identity was unusable. */
  readonly identity = { withSerial: 0, withLot: 0, unusable: 0 };
  /** Codes read from the parts' labels, labels none could be read on, and codes that are not the PLC's serial. */
  readonly codes = { read: 0, noRead: 0, mismatch: 0 };
  add(r: InspectionResult): void {
    this.tally.add(r);
    if (r.code !== undefined) this.codes.read++;
    if (r.reasons.some((x) => x.rule === 'no-read')) this.codes.noRead++;
    if (r.reasons.some((x) => x.rule === 'code-mismatch')) this.codes.mismatch++;
    if (r.partId) this.identity.withSerial++;
    if (r.lot) this.identity.withLot++;
    if (r.errorCode === 'STN_ERR_PART_ID' || r.errorCode === 'STN_ERR_PART_LOT' || r.errorCode === 'STN_ERR_RECIPE_SELECT') this.identity.unusable++;
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
