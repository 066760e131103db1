/**
 * Composition root: configuration → database → line worker → recorder → HTTP.
 * Nothing below this reads the environment or the command line; everything is passed in.
 */
import { EventEmitter } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApi } from './api/index.js';
import { modelDocs } from './eval/docs.js';
import { loadModel, sha256Hex, type Manifest } from './inference/index.js';
import { Line, PartViews, type InspectionResult, type ModelSummary } from './line/index.js';
import { PACKAGE_ROOT } from './paths.js';
import { RejectGate, StationServer, type GateUser } from './plc/index.js';
import type { PlcConfig } from './config/index.js';
import { serializeError, StationError } from './errors/index.js';
import { Reinferrer } from './whatif/index.js';
import type { CandidateModel } from './api/whatif.js';
import {
  Accounts,
  canonicalJson,
  canonicalSha256,
  DiskImageStore,
  Exporter,
  openDatabase,
  type ImageStore,
  Recorder,
  redact,
  Repository,
  Retention,
  type Db,
} from './store/index.js';
import { StationMetrics } from './ops/metrics.js';
import { UnsPublisher } from './ops/mqtt.js';
import { EncoderImageStore } from './store/encoder.js';
import { deepFreeze, loadConfigFile, type LoadedConfig } from './config/index.js';
import { mkdir } from 'node:fs/promises';
import { VERSION } from './station/version.js';

export { VERSION };

export interface StationOptions {
  config: LoadedConfig;
  /** DATABASE_URL from the environment, when set; else the config's, else SQLite in dataDir. */
  databaseUrl?: string;
  /** Serve HTTP (false for replay and some tests). */
  http?: boolean;
  log: Logger;
  /** Called for every result after it is counted (the demo's live line, replay's output). */
  onResult?: (r: InspectionResult) => void;
  /** Environment variables the configuration may name (PLC password). */
  env?: Record<string, string | undefined>;
  /** Make sure a user `admin` exists with this password (the demo). */
  adminPassword?: string;
  /** The station file `config` came from (enables reload). */
  configFile?: string;
}

export interface Station {
  config: LoadedConfig;
  line: Line;
  repo: Repository;
  recorder: Recorder;
  accounts: Accounts;
  gate: RejectGate | null;
  opcua: StationServer | null;
  db: Db;
  api: FastifyInstance | null;
  reinferrer: Reinferrer;
  retention: Retention;
  metrics: StationMetrics;
  selfTest: SelfTest;
  /** Re-reads the station file and applies what can change while running (see ReloadResult). */
  reload(actor: string): Promise<ReloadResult>;
  /** `http://host:port` when serving. */
  url: string | null;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startStation(o: StationOptions): Promise<Station> {
  let config = o.config;
  const { log } = o;
  const dataDir = path.resolve(config.baseDir, config.storage.dataDir);
  const dbUrl = o.databaseUrl ?? config.storage.databaseUrl ?? `file:${path.join(dataDir, 'station.db')}`;
  const db = await openDatabase(dbUrl);
  log.info({ database: redact(dbUrl) }, 'database ready');
  const repo = new Repository(db);
  await repo.ensureStation(config.station);
  const accounts = new Accounts(db);
  // Self-test, part 1: the database takes a write (the configuration's fingerprint goes to the audit log).
  const selfTest: SelfTest = { database: 'ok', model: 'pending', plc: config.plc ? 'pending' : 'not configured', disk: 'pending' };
  await accounts.audit('station', 'station.start', config.station.id, {
    version: VERSION,
    configSha256: configSha256(config),
    recipes: Object.keys(config.recipes),
    sources: config.sources.map((s) => s.name),
  });
  if (o.adminPassword) {
    if (await accounts.findUser('admin')) await accounts.setPassword('admin', o.adminPassword);
    else await accounts.createUser('admin', 'admin', o.adminPassword);
  } else if (o.http !== false && (await accounts.countUsers()) === 0) {
    log.warn('no users yet: create one with `station user add NAME --role admin`; every API route but health needs a login');
  }

  const recipeVersions: Record<string, number> = {};
  const recipeVersionIds = new Map<string, number>();
  for (const [name, recipe] of Object.entries(config.recipes)) {
    const v = await repo.ensureRecipeVersion(name, recipe, 'configuration', 'loaded at start-up');
    recipeVersions[name] = v.version;
    recipeVersionIds.set(`${name}@${v.version}`, v.id);
  }

  const line = new Line(
    { config, recipeVersions },
    {
      watchdogMs: config.line.watchdogMs,
      maxRestarts: config.line.maxRestarts,
      restartWindowMs: config.line.restartWindowS * 1000,
    },
  );
  let models: ModelSummary[];
  try {
    models = await line.start();
  } catch (err) {
    await db.$disconnect();
    throw err;
  }
  selfTest.model = 'ok';
  const modelIds = new Map<string, number>();
  for (const m of models) {
    modelIds.set(m.sha256, await repo.ensureModel(m));
    log.info({ model: m.name, family: m.family, sha256: m.sha256.slice(0, 12), manifest: m.manifestSource }, 'model loaded');
  }

  const imagesDir = path.resolve(config.baseDir, config.storage.imagesDir ?? path.join(dataDir, 'images'));
  await mkdir(imagesDir, { recursive: true });
  // Image encoding runs in a niced child process: a recorder catching up never takes the line's cores.
  const diskStore = new DiskImageStore(imagesDir);
  const encoder = config.storage.encodeInChildProcess ? new EncoderImageStore(diskStore) : null;
  const images: ImageStore = encoder ?? diskStore;
  const live = new EventEmitter<{ inspection: [number] }>();
  live.setMaxListeners(100);
  const ret = config.storage.retention;
  const retention = new Retention(
    repo,
    images,
    {
      stationId: config.station.id,
      maxAgeDays: ret.maxAgeDays,
      keepReviewedDays: ret.keepReviewedDays,
      maxBytes: ret.maxBytes,
      minFreeBytes: ret.minFreeBytes,
      intervalMs: ret.intervalS * 1000,
    },
    onceEach((err: unknown) => log.error({ err }, 'image retention failed')),
  );
  const recorder = new Recorder(repo, images, {
    stationId: config.station.id,
    queueSize: config.storage.queueSize,
    spoolDir: path.resolve(config.baseDir, config.storage.spoolDir ?? path.join(dataDir, 'spool')),
    keepGood: (recipe) => config.recipes[recipe]?.keepGood ?? 0,
    modelIds,
    recipeVersionIds,
    // A failing sink is a status, never a stopped line; logged once per kind, counted always.
    onError: onceEach((err: unknown) => log.error({ err }, 'recording failed')),
    onRecorded: (id) => live.emit('inspection', id),
    // A full disk: make room now rather than at the next scheduled sweep.
    onDiskFull: () => void retention.sweep(),
  });
  await recorder.start();
  retention.start();
  const disk = await retention.diskStatus();
  selfTest.disk = disk.freeBytes >= ret.minFreeBytes ? 'ok' : `low: ${disk.freeBytes} bytes free`;

  // The PLC hears the verdict first; the record follows through its queue.
  let gate: RejectGate | null = null;
  if (config.plc) {
    const labels = new Map(models.map((m) => [m.sha256, m.labels]));
    gate = new RejectGate({
      endpoint: config.plc.endpoint,
      securityMode: config.plc.securityMode,
      securityPolicy: config.plc.securityPolicy,
      user: gateUser(config.plc, o.env ?? {}, config.baseDir),
      pkiDir: path.join(dataDir, 'pki', 'station'),
      tags: config.plc.tags,
      namespaceUri: config.plc.namespaceUri,
      deadlineMs: config.line.deadlineMs,
      heartbeatMs: config.plc.heartbeatMs,
      reconnectMinMs: config.plc.reconnectMinMs,
      reconnectMaxMs: config.plc.reconnectMaxMs,
      applicationUri: `urn:inspection-station:station:${config.station.id}`,
      defectCode: (r) => {
        const top = r.defects.find((d) => d.rejecting);
        const idx = top && r.modelSha256 ? (labels.get(r.modelSha256) ?? []).indexOf(top.class) : -1;
        return idx + 1;
      },
    });
    gate.on('trigger', (seq, at) => line.trigger(seq, at));
    gate.on('state', (state) => {
      if (state === 'ready') selfTest.plc = 'ok';
      log.info({ plc: state, lastError: gate!.lastError }, 'PLC link');
    });
    await gate.start();
    // Self-test, PLC part: reported, not waited for beyond a few seconds (the PLC may come later).
    void gate.whenReady(5000).catch((err: StationError) => {
      if (selfTest.plc === 'pending') selfTest.plc = `unreachable: ${err.message}`;
    });
  }
  // The PLC's Ready follows the line: while the worker is down, the PLC rejects every part itself.
  line.on('state', (state, why) => {
    gate?.setStationReady(state === 'running');
    if (state === 'running') log.info({ restarts: line.restarts }, 'line running');
    else if (state !== 'stopped') log.error({ state, why }, 'line not deciding');
  });
  let opcua: StationServer | null = null;
  if (config.opcua) {
    const env = o.env ?? {};
    const recipes = Object.keys(config.recipes);
    opcua = new StationServer({
      port: config.opcua.port,
      host: config.opcua.host,
      pkiDir: path.join(dataDir, 'pki', 'station-server'),
      allowAnonymous: config.opcua.allowAnonymous,
      users: config.opcua.users.map((u) => {
        const password = env[u.passwordEnv];
        if (!password) throw new StationError('STN_ERR_CONFIG_INVALID', `opcua.users: the environment variable ${u.passwordEnv} is not set`);
        return { username: u.username, password };
      }),
      recipes,
      currentRecipe: config.sources[0].recipe,
      selectRecipe: (name) => line.selectRecipe(name),
      setRunning: (running) => line.setRunning(running),
      onError: onceEach((err: unknown) => log.error({ err }, 'ResultReady could not be raised')),
    });
    await opcua.start();
    log.info({ endpoint: opcua.endpointUrl }, 'OPC UA server listening');
  }
  // Several PLC-triggered cameras are views of one part: the PLC hears one combined verdict per part.
  const deliver = (r: InspectionResult) => {
    gate?.deliver(r);
    opcua?.publish(r);
  };
  const views = line.triggeredSources.length > 1 ? new PartViews(line.triggeredSources, config.line.deadlineMs, deliver) : null;
  const reloads = { applied: 0, refused: 0, modelSwapFailed: 0 };
  let uns: UnsPublisher | null = null;
  if (config.mqtt) {
    const m = config.mqtt;
    const password = m.passwordEnv ? o.env?.[m.passwordEnv] : undefined;
    if (m.passwordEnv && password === undefined)
      throw new StationError('STN_ERR_CONFIG_INVALID', `mqtt.passwordEnv: the environment variable ${m.passwordEnv} is not set`);
    const st = config.station;
    uns = new UnsPublisher({
      url: m.url,
      username: m.username,
      password,
      clientId: `inspection-station-${st.id}`,
      path: [m.topicPrefix, st.site, st.area, st.line],
      station: { id: st.id, site: st.site, area: st.area, line: st.line },
      qos: m.qos,
      bufferSize: m.bufferSize,
      reconnectMs: m.reconnectMs,
    });
    uns.start();
    log.info({ broker: redact(m.url), topic: uns.root }, 'MQTT publishing');
  }
  const metrics = new StationMetrics(config.station.id, {
    line: () => ({ state: line.state, restarts: line.restarts, inFlight: line.inFlight, partsPerS: line.partsPerS, cameras: Object.fromEntries(line.cameras) }),
    recorder: () => ({ queueDepth: recorder.depth, spoolDepth: recorder.spoolDepth, databaseDown: recorder.databaseDown, counters: { ...recorder.counters } }),
    plc: () => (gate ? { state: gate.state, counters: { ...gate.counters } } : null),
    disk: () => retention.diskStatus().catch(() => null),
    retention: () => ({ ...retention.counters }),
    config: () => ({ ...reloads }),
    mqtt: () => (uns ? { connected: uns.connected, counters: { ...uns.counters } } : null),
  });
  line.on('result', (r) => {
    if (!views?.add(r)) deliver(r);
    uns?.publishResult(r);
    metrics.observe(r);
    recorder.enqueue(r);
    o.onResult?.(r);
  });
  line.on('source-error', (source, error) => log.error({ source, error }, 'frame source failed'));

  const lastDiskFull = { seen: 0, at: 0 };
  /** What is wrong now, for health and readiness (empty when all is well). */
  const problems = (): { status: 'ok' | 'degraded' | 'failed'; problems: string[] } => {
    const p: string[] = [];
    let failed = false;
    if (line.state === 'failed') {
      failed = true;
      p.push(`line failed: ${line.lastFault}`);
    } else if (line.state !== 'running') p.push(`line ${line.state}${line.lastFault ? `: ${line.lastFault}` : ''}`);
    for (const [name, c] of line.cameras) if (c.state === 'reconnecting') p.push(`camera ${name} reconnecting: ${c.lastError ?? ''}`);
    if (recorder.databaseDown) p.push(`database writes failing, ${recorder.spoolDepth} records in the spool: ${recorder.lastDatabaseError ?? ''}`);
    const d = retention.disk;
    if (d && d.totalBytes > 0 && d.freeBytes < ret.minFreeBytes) p.push(`image disk low: ${d.freeBytes} bytes free`);
    if (recorder.counters.diskFull > lastDiskFull.seen) {
      lastDiskFull.at = Date.now();
      lastDiskFull.seen = recorder.counters.diskFull;
    }
    if (Date.now() - lastDiskFull.at < 60_000) p.push('image disk full in the last minute: records kept without images');
    if (gate && gate.state !== 'ready') p.push(`PLC link ${gate.state}: ${gate.lastError ?? ''}`);
    if (uns && !uns.connected) p.push(`MQTT broker unreachable, ${uns.buffered} messages waiting: ${uns.lastError ?? ''}`);
    return { status: failed ? 'failed' : p.length ? 'degraded' : 'ok', problems: p };
  };

  // The station's state on the bus: on every line state change, and when health changes.
  const publishState = () => {
    const p = problems();
    uns?.publishState(line.state === 'running' ? (p.status === 'ok' ? 'running' : 'degraded') : line.state, { line: line.state, problems: p.problems });
  };
  line.on('state', publishState);
  const stateTimer = uns ? setInterval(publishState, 5000) : null;
  stateTimer?.unref();
  // Everything that hears results is wired: capture may start.
  line.begin();
  publishState();

  /**
   * Re-reads the station file and applies what can change on a running line: thresholds (new
   * recipe versions), keepGood, and a recipe's model or preprocessing (hot swap; the old model
   * stays if the new one does not load). An invalid file is refused whole; the old one stays.
   */
  const reload = async (actor: string): Promise<ReloadResult> => {
    if (!o.configFile) throw new StationError('STN_ERR_CONFIG_RELOAD', 'this station was not started from a configuration file');
    let next: LoadedConfig;
    try {
      next = loadConfigFile(o.configFile);
    } catch (err) {
      reloads.refused++;
      const e = serializeError(err, 'STN_ERR_CONFIG_INVALID');
      await accounts.audit(actor, 'config.reload.refused', o.configFile, { code: e.code, message: e.message });
      log.error({ code: e.code }, 'configuration reload refused; the running configuration stays');
      throw err;
    }
    const result: ReloadResult = { thresholds: [], models: [], keepGood: [], needsRestart: [], errors: [] };
    for (const key of ['station', 'http', 'storage', 'line', 'plc', 'opcua', 'sources'] as const) {
      if (canonicalJson(next[key] ?? null) !== canonicalJson(config[key] ?? null)) result.needsRestart.push(key);
    }
    const names = new Set([...Object.keys(config.recipes), ...Object.keys(next.recipes)]);
    let recipes = { ...config.recipes };
    for (const name of names) {
      const before = config.recipes[name],
        after = next.recipes[name];
      if (!before || !after) {
        result.needsRestart.push(`recipes.${name}`);
        continue;
      }
      const { thresholds: tb, keepGood: kb, ...restBefore } = before;
      const { thresholds: ta, keepGood: ka, ...restAfter } = after;
      const fileChanged =
        modelFileSha(path.resolve(next.baseDir, after.model)) !== line.models.find((m) => m.file === path.resolve(config.baseDir, before.model))?.sha256;
      if (
        canonicalJson({ ...restBefore, model: path.resolve(config.baseDir, before.model) }) !==
          canonicalJson({ ...restAfter, model: path.resolve(next.baseDir, after.model) }) ||
        fileChanged
      ) {
        const v = await repo.addRecipeVersion(name, after, actor, 'configuration reloaded: model or preprocessing');
        try {
          const m = await line.swapRecipe(name, { ...after, model: path.resolve(next.baseDir, after.model) }, v.version);
          recipeVersionIds.set(`${name}@${v.version}`, v.id);
          if (m) modelIds.set(m.sha256, await repo.ensureModel(m));
          recipes = { ...recipes, [name]: after };
          result.models.push(name);
        } catch (err) {
          reloads.modelSwapFailed++;
          const e = serializeError(err, 'STN_ERR_MODEL_INVALID');
          result.errors.push({ recipe: name, code: e.code, message: e.message });
          log.error({ recipe: name, code: e.code }, 'model hot swap failed; the old model stays');
          // The version written for the failed swap is superseded by the one still running.
          const back = await repo.addRecipeVersion(name, before, 'configuration', `hot swap failed (${e.code}): previous recipe kept`);
          recipeVersionIds.set(`${name}@${back.version}`, back.id);
          line.setThresholds(name, before.thresholds, back.version);
          continue;
        }
        continue;
      }
      if (canonicalJson(tb) !== canonicalJson(ta)) {
        const v = await repo.addRecipeVersion(name, after, actor, 'configuration reloaded');
        recipeVersionIds.set(`${name}@${v.version}`, v.id);
        line.setThresholds(name, ta, v.version);
        result.thresholds.push(name);
      }
      if (kb !== ka) result.keepGood.push(name);
      recipes = { ...recipes, [name]: { ...(recipes[name] ?? before), thresholds: ta, keepGood: ka } };
    }
    config = deepFreeze({ ...config, recipes });
    reloads.applied++;
    await accounts.audit(actor, 'config.reload', o.configFile, { ...result, configSha256: configSha256(next) });
    log.info(result, 'configuration reloaded');
    return result;
  };

  const reinferrer = new Reinferrer(repo, images, { baseDir: config.baseDir, log });
  let api: FastifyInstance | null = null;
  let url: string | null = null;
  if (o.http !== false) {
    const manifests = new Map<string, Manifest>();
    const recipeModel = (name: string) => (config.recipes[name] ? path.resolve(config.baseDir, config.recipes[name].model) : null);
    const tls = config.http.tls
      ? { cert: readFileSync(path.resolve(config.baseDir, config.http.tls.cert)), key: readFileSync(path.resolve(config.baseDir, config.http.tls.key)) }
      : null;
    api = await buildApi({
      repo,
      images,
      line,
      accounts,
      recipeVersionIds,
      live,
      recipeNames: Object.keys(config.recipes),
      reinferrer,
      recipeModel,
      tls,
      rateLimitPerMinute: config.http.rateLimitPerMinute,
      candidateModels: () =>
        candidateModels(
          Object.keys(config.recipes).map((n) => recipeModel(n)!),
          (file) => Object.keys(config.recipes).filter((n) => recipeModel(n) === file),
        ),
      exporter: new Exporter(db, images, path.join(dataDir, 'exports'), () => [...new Set(line.models.flatMap((m) => m.labels))]),
      webDir: path.join(PACKAGE_ROOT, 'dist', 'web'),
      secureCookies: tls !== null,
      recipeLabels: (name) => {
        const file = recipeModel(name);
        return file ? (line.models.find((m) => m.file === file)?.labels ?? null) : null;
      },
      recipeModelDocs: (name) => {
        const file = recipeModel(name);
        if (!file) return null;
        // The manifest of the model the line runs, read once per file; card and reports are re-read each time.
        let manifest = manifests.get(file);
        if (!manifest) manifests.set(file, (manifest = loadModel(file).manifest));
        return modelDocs(file, manifest);
      },
      pushKeySha256: config.http.pushKeySha256,
      bodyLimit: config.http.bodyLimit,
      version: VERSION,
      metrics,
      reload,
      ready: () => {
        const p = problems();
        const ready = line.state === 'running' && !recorder.databaseDown && (!gate || gate.state === 'ready');
        return { ready, ...p, selfTest };
      },
      health: () => ({
        ...problems(),
        selfTest,
        lineState: line.state,
        restarts: line.restarts,
        lastFault: line.lastFault,
        inFlight: line.inFlight,
        recorder: { ...recorder.counters, queueDepth: recorder.depth, spoolDepth: recorder.spoolDepth, databaseDown: recorder.databaseDown },
        disk: retention.disk,
        retention: retention.counters,
        station: config.station.id,
        plc: gate?.status() ?? null,
        opcua: opcua ? { endpoint: opcua.endpointUrl, publishErrors: opcua.publishErrors } : null,
        mqtt: uns ? { topic: uns.root, connected: uns.connected, buffered: uns.buffered, lastError: uns.lastError, ...uns.counters } : null,
        process: { ...processFacts(), workerHeapUsedBytes: line.workerHeapBytes },
      }),
    });
    url = await api.listen({ host: config.http.host, port: config.http.port });
    log.info({ url }, 'HTTP listening');
  }

  /**
   * Graceful stop: no new triggers; the parts in flight are decided and their verdicts go to the
   * PLC; Ready off; every record flushed (to the database, or the spool); then the rest.
   */
  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      await reinferrer.stop();
      await line.stop();
      views?.flush();
      gate?.setStationReady(false);
      await gate?.stop();
      await opcua?.stop();
      await recorder.close();
      await encoder?.close();
      if (stateTimer) clearInterval(stateTimer);
      await uns?.stop();
      await retention.stop();
      await api?.close();
      await db.$disconnect();
    })());

  return { config, line, repo, recorder, accounts, gate, opcua, db, api, url, dataDir, reinferrer, retention, metrics, selfTest, reload, stop };
}

export interface SelfTest {
  database: string;
  model: string;
  plc: string;
  disk: string;
}

export interface ReloadResult {
  /** Recipes whose thresholds changed (a new version each, applied from the next frame). */
  thresholds: string[];
  /** Recipes whose model or preprocessing was swapped. */
  models: string[];
  keepGood: string[];
  /** Changes that only take effect at the next start. */
  needsRestart: string[];
  /** Hot swaps that failed (the old model stays). */
  errors: { recipe: string; code: string; message: string }[];
}

function configSha256(c: LoadedConfig): string {
  const { baseDir: _b, ...rest } = c;
  return canonicalSha256(rest);
}

function modelFileSha(file: string): string | null {
  try {
    return sha256Hex(readFileSync(file));
  } catch {
    return null;
  }
}

/** Memory and handles of this process, for health and the soak test. */
export function processFacts() {
  const m = process.memoryUsage();
  const p = process as unknown as { getActiveResourcesInfo?: () => string[] };
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external, activeResources: p.getActiveResourcesInfo?.().length ?? null };
}

/** The .onnx files in the folders of the station's own models, each with its manifest (or why it cannot load). */
function candidateModels(recipeModels: string[], usedBy: (file: string) => string[]): CandidateModel[] {
  const dirs = [...new Set(recipeModels.map((f) => path.dirname(f)))];
  const out: CandidateModel[] = [];
  for (const dir of dirs) {
    for (const file of readdirSync(dir)
      .filter((f) => f.endsWith('.onnx'))
      .sort()) {
      const full = path.join(dir, file);
      try {
        const m = loadModel(full).manifest;
        out.push({ file, path: full, name: m.name, family: m.family, sha256: m.sha256, labels: m.labels, usedBy: usedBy(full) });
      } catch (err) {
        out.push({
          file,
          path: full,
          name: file,
          family: '',
          sha256: '',
          labels: [],
          usedBy: usedBy(full),
          problem: serializeError(err, 'STN_ERR_MODEL_INVALID').message,
        });
      }
    }
  }
  return out;
}

function onceEach(fn: (err: unknown) => void): (err: unknown) => void {
  const seen = new Set<string>();
  return (err) => {
    const key = (err as { code?: string })?.code ?? (err as Error)?.message ?? String(err);
    if (seen.has(key)) return;
    seen.add(key);
    fn(err);
  };
}

function gateUser(plc: PlcConfig, env: Record<string, string | undefined>, baseDir: string): GateUser {
  const u = plc.user;
  if ('anonymous' in u) return { type: 'anonymous' };
  if ('certificate' in u)
    return { type: 'certificate', certificateFile: path.resolve(baseDir, u.certificate), privateKeyFile: path.resolve(baseDir, u.privateKey) };
  const password = u.passwordEnv ? env[u.passwordEnv] : u.password;
  if (password === undefined)
    throw new StationError(
      'STN_ERR_CONFIG_INVALID',
      `plc.user: set the password in ${u.passwordEnv ? `the environment variable ${u.passwordEnv}` : 'passwordEnv or password'}`,
    );
  return { type: 'username', username: u.username, password };
}
