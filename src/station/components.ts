/**
 * The station's components (src/main.ts lists them in start order). Each fills its part of
 * `StationParts` when it starts and undoes it when it stops; src/station/lifecycle.ts runs them.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApi } from '../api/index.js';
import type { LoadedConfig } from '../config/index.js';
import { modelDocs } from '../eval/docs.js';
import { loadModel, type Manifest } from '../inference/index.js';
import { type DeliveryFault, type InspectionResult, Line, type ModelSummary, PartViews, undeliveredResult } from '../line/index.js';
import { StationHealth } from '../ops/health.js';
import { StationMetrics } from '../ops/metrics.js';
import { UnsPublisher } from '../ops/mqtt.js';
import { PACKAGE_ROOT } from '../paths.js';
import { defectCode } from '../plc/defect-codes.js';
import type { RejectGate, StationServer } from '../plc/index.js';
import { EncoderImageStore } from '../store/encoder.js';
import {
  Accounts,
  canonicalSha256,
  type Db,
  DiskImageStore,
  Exporter,
  type ImageStore,
  openDatabase,
  Recorder,
  Repository,
  Retention,
  redact,
} from '../store/index.js';
import { StationError } from '../errors/index.js';
import { Reinferrer, WhatIfJobs } from '../whatif/index.js';
import { candidateModels, processFacts } from './facts.js';
import type { Component } from './lifecycle.js';
import { errorFields, onceEach } from './log.js';
import type { ReloadResult } from './reload-plan.js';
import type { StationSecrets } from './secrets.js';
import { VERSION } from './version.js';

export interface SelfTest {
  database: string;
  model: string;
  plc: string;
  disk: string;
}

/** What the components need from the caller (see StationOptions in src/main.ts). */
export interface PartsOptions {
  config: LoadedConfig;
  databaseUrl?: string;
  http?: boolean;
  log: Logger;
  onResult?: (r: InspectionResult) => void;
  adminPassword?: string;
  configFile?: string;
}

/** How long a station whose PLC is required waits for the link at start. */
const PLC_REQUIRED_WITHIN_MS = 10_000;

/**
 * The station's collaborators, filled in start order. A field is read only by components that
 * start after the one that sets it (the `!` fields).
 */
export class StationParts {
  /** The running configuration; a reload replaces it with a new frozen object. */
  config: LoadedConfig;
  readonly dataDir: string;
  readonly log: Logger;
  readonly selfTest: SelfTest;
  readonly recipeVersions: Record<string, number> = {};
  readonly recipeVersionIds = new Map<string, number>();
  readonly modelIds = new Map<string, number>();
  readonly live = new EventEmitter<{ inspection: [number] }>();
  readonly reloads = { applied: 0, refused: 0, modelSwapFailed: 0 };
  /** Sources that ended with an error, for health. */
  readonly failedSources = new Map<string, { code: string; message: string }>();
  /** The code (or message) of the last failed image write, for health. */
  lastImageError: string | null = null;
  db!: Db;
  repo!: Repository;
  accounts!: Accounts;
  line!: Line;
  models: ModelSummary[] = [];
  images!: ImageStore;
  encoder: EncoderImageStore | null = null;
  recorder!: Recorder;
  retention!: Retention;
  gate: RejectGate | null = null;
  opcua: StationServer | null = null;
  uns: UnsPublisher | null = null;
  views: PartViews | null = null;
  metrics!: StationMetrics;
  health!: StationHealth;
  reinferrer!: Reinferrer;
  whatIfJobs!: WhatIfJobs;
  api: FastifyInstance | null = null;
  url: string | null = null;
  /** Re-reads the station file and applies what can change (src/station/reload.ts; set by the composition root). */
  reload: (actor: string) => Promise<ReloadResult> = () => Promise.reject(new Error('not started'));

  constructor(
    readonly o: PartsOptions,
    readonly secrets: StationSecrets,
  ) {
    this.config = o.config;
    this.log = o.log;
    this.dataDir = path.resolve(o.config.baseDir, o.config.storage.dataDir);
    this.selfTest = { database: 'pending', model: 'pending', plc: o.config.plc ? 'pending' : 'not configured', disk: 'pending' };
    this.live.setMaxListeners(100);
  }

  /** A recipe's model file (absolute), from the running configuration. */
  recipeModel(name: string): string | null {
    const r = this.config.recipes[name];
    return r ? path.resolve(this.config.baseDir, r.model) : null;
  }

  /**
   * The PLC and the station's OPC UA server hear each part's verdict; resolves with what became
   * of it at the PLC (null: taken, or no PLC configured).
   */
  deliver(r: InspectionResult): Promise<DeliveryFault | null> {
    this.opcua?.publish(r);
    return this.gate?.deliver(r) ?? Promise.resolve(null);
  }
}

/** The SHA-256 of the configuration (without its folder), recorded at start and at each reload. */
export function configSha256(c: LoadedConfig): string {
  const { baseDir: _b, ...rest } = c;
  return canonicalSha256(rest);
}

/** The data folder, 0700: images, database and certificates are nobody else's business. */
export const dataDirectory = (s: StationParts): Component => ({
  name: 'data directory',
  async start() {
    await mkdir(s.dataDir, { recursive: true, mode: 0o700 });
    const mode = (await stat(s.dataDir)).mode & 0o777;
    if (mode & 0o077) {
      await chmod(s.dataDir, mode & 0o700);
      s.log.warn({ dataDir: s.dataDir, was: `0${mode.toString(8)}`, now: `0${(mode & 0o700).toString(8)}` }, 'data directory was open to others; tightened');
    }
  },
});

/** System error codes that mean the database server did not answer. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN']);

export const database = (s: StationParts): Component => {
  const url = s.o.databaseUrl ?? s.config.storage.databaseUrl ?? `file:${path.join(s.dataDir, 'station.db')}`;
  return {
    name: 'database',
    failCode: 'STN_ERR_STORE_CONNECT',
    async start() {
      s.db = await openDatabase(url).catch((err: unknown) => {
        // Migrations are the first to connect: a server that does not answer is unreachable, not a failed migration.
        const cause = (err as { cause?: { code?: unknown } })?.cause?.code;
        if (typeof cause === 'string' && UNREACHABLE.has(cause))
          throw new StationError('STN_ERR_STORE_CONNECT', `the database ${redact(url)} cannot be reached (${cause})`, { cause: err });
        throw err;
      });
      s.log.info({ database: redact(url) }, 'database ready');
      s.repo = new Repository(s.db);
      s.accounts = new Accounts(s.db);
      await s.repo.ensureStation({ ...s.config.station, recordsDays: s.config.storage.retention.recordsDays }).catch(async (err) => {
        await s.db.$disconnect();
        throw err;
      });
    },
    stop: () => s.db.$disconnect(),
  };
};

/** Self-test, part 1: the database takes a write (the configuration's fingerprint goes to the audit log). */
export const accountsAndSelfTest = (s: StationParts): Component => ({
  name: 'accounts and self-test',
  async start() {
    const c = s.config;
    await s.accounts.audit('station', 'station.start', c.station.id, {
      version: VERSION,
      configSha256: configSha256(c),
      recipes: Object.keys(c.recipes),
      sources: c.sources.map((x) => x.name),
    });
    s.selfTest.database = 'ok';
    if (s.o.adminPassword) {
      if (await s.accounts.findUser('admin')) await s.accounts.setPassword('admin', s.o.adminPassword);
      else await s.accounts.createUser('admin', 'admin', s.o.adminPassword);
    } else if (s.o.http !== false && (await s.accounts.countUsers()) === 0) {
      s.log.warn(
        `no users yet: create one with \`station user add NAME --role admin ${s.o.configFile ? `--config ${s.o.configFile}` : `--data ${s.dataDir}`}\` (as the user the station runs as); every API route but health needs a login`,
      );
    }
  },
});

/** Each recipe of the configuration as a stored version (a new one only when it changed). */
export const recipes = (s: StationParts): Component => ({
  name: 'recipes',
  async start() {
    for (const [name, recipe] of Object.entries(s.config.recipes)) {
      const v = await s.repo.ensureRecipeVersion(name, recipe, 'configuration', 'loaded at start-up');
      s.recipeVersions[name] = v.version;
      s.recipeVersionIds.set(`${name}@${v.version}`, v.id);
    }
  },
});

/** The worker thread with every model loaded and warmed up; capture waits for `capture`. */
export const lineWorker = (s: StationParts): Component => ({
  name: 'line worker',
  failCode: 'STN_ERR_MODEL_INVALID',
  async start() {
    const c = s.config;
    s.line = new Line(
      { config: c, recipeVersions: s.recipeVersions },
      { watchdogMs: c.line.watchdogMs, maxRestarts: c.line.maxRestarts, restartWindowMs: c.line.restartWindowS * 1000 },
    );
    try {
      s.models = await s.line.start();
    } catch (err) {
      await s.line.stop();
      throw err;
    }
    s.selfTest.model = 'ok';
    for (const m of s.models) {
      s.modelIds.set(m.sha256, await s.repo.ensureModel(m));
      s.log.info({ model: m.name, family: m.family, sha256: m.sha256.slice(0, 12), manifest: m.manifestSource }, 'model loaded');
    }
  },
  stop: () => s.line.stop(),
});

/** Image files; encoding runs in a niced child process so a recorder catching up never takes the line's cores. */
export const imageStore = (s: StationParts): Component => ({
  name: 'image store',
  async start() {
    const c = s.config;
    const dir = path.resolve(c.baseDir, c.storage.imagesDir ?? path.join(s.dataDir, 'images'));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const disk = new DiskImageStore(dir);
    s.encoder = c.storage.encodeInChildProcess ? new EncoderImageStore(disk) : null;
    s.images = s.encoder ?? disk;
    // Started before the line is, so its start-up does not compete with the first parts.
    await s.encoder?.start();
  },
  stop: () => s.encoder?.close(),
});

export const recorder = (s: StationParts): Component => ({
  name: 'recorder',
  async start() {
    const c = s.config;
    // A failing sink is a status, never a stopped line; logged once per kind, counted always.
    const logOnce = onceEach((err: unknown) => s.log.error(errorFields(err), 'recording failed'));
    let imageErrors = 0;
    s.recorder = new Recorder(s.repo, s.images, {
      stationId: c.station.id,
      queueSize: c.storage.queueSize,
      spoolDir: path.resolve(c.baseDir, c.storage.spoolDir ?? path.join(s.dataDir, 'spool')),
      keepGood: (recipe) => s.config.recipes[recipe]?.keepGood ?? 0,
      modelIds: s.modelIds,
      recipeVersionIds: s.recipeVersionIds,
      onError: (err: unknown) => {
        // The recorder counts a failed image write just before it reports it: that error is health's "last".
        if (s.recorder.counters.imageErrors > imageErrors) {
          imageErrors = s.recorder.counters.imageErrors;
          s.lastImageError = (err as { code?: string })?.code ?? (err as Error)?.message ?? String(err);
        }
        logOnce(err);
      },
      onRecorded: (id) => s.live.emit('inspection', id),
      // A full disk: make room now rather than at the next scheduled sweep.
      onDiskFull: () => void s.retention?.sweep(),
    });
    await s.recorder.start();
  },
  // Every record is flushed: to the database, or to the spool.
  stop: () => s.recorder.close(),
});

export const retention = (s: StationParts): Component => ({
  name: 'retention',
  async start() {
    const c = s.config;
    const ret = c.storage.retention;
    s.retention = new Retention(
      s.repo,
      s.images,
      {
        stationId: c.station.id,
        maxAgeDays: ret.maxAgeDays,
        keepReviewedDays: ret.keepReviewedDays,
        recordsDays: ret.recordsDays,
        maxBytes: ret.maxBytes,
        minFreeBytes: ret.minFreeBytes,
        intervalMs: ret.intervalS * 1000,
        onMonth: (m) => {
          if ('dropped' in m) s.log.info(m, `records retention: month ${m.month} dropped, ${m.dropped} inspections`);
          else if ('heldBy' in m)
            s.log.warn(
              m,
              `records retention: month ${m.month} kept for station(s) ${m.heldBy.map((h) => `${h.station} (recordsDays ${h.recordsDays ?? 'unset: for ever'})`).join(', ')}; this station deletes its own records of it in batches`,
            );
          else s.log.info(m, `records retention: month ${m.month} kept until every station has deleted its images of it`);
        },
      },
      onceEach((err: unknown) => s.log.error(errorFields(err), 'image retention failed')),
    );
    s.retention.start();
    const disk = await s.retention.diskStatus();
    s.selfTest.disk = disk.freeBytes >= ret.minFreeBytes ? 'ok' : `low: ${disk.freeBytes} bytes free`;
  },
  stop: () => s.retention.stop(),
});

/**
 * node-opcua, loaded by the components that speak OPC UA: on Node 20 its import runs a 4096-bit
 * RSA key generation as a self-check (1–3 s of a core), which a station without a PLC, and a
 * station refused before its PLC components, should not pay for or wait on at exit.
 */
const loadPlc = () => import('../plc/index.js');

/** The reject gate: the PLC hears the verdict first; the record follows through its queue. */
export const plcGate = (s: StationParts): Component => ({
  name: 'PLC gate',
  failCode: 'STN_ERR_PLC_CONNECT',
  async start() {
    const c = s.config;
    const plc = c.plc!;
    const { RejectGate } = await loadPlc();
    const gate = new RejectGate({
      endpoint: plc.endpoint,
      securityMode: plc.securityMode,
      securityPolicy: plc.securityPolicy,
      user: s.secrets.plcUser!,
      pkiDir: path.join(s.dataDir, 'pki', 'station'),
      tags: plc.tags,
      namespaceUri: plc.namespaceUri,
      deadlineMs: c.line.deadlineMs,
      heartbeatMs: plc.heartbeatMs,
      ackTimeoutMs: plc.ackTimeoutMs,
      reconnectMinMs: plc.reconnectMinMs,
      reconnectMaxMs: plc.reconnectMaxMs,
      applicationUri: `urn:inspection-station:station:${c.station.id}`,
      defectCode: (r) => defectCode(r, (sha) => s.line.models.find((m) => m.sha256 === sha)?.labels),
      // What went wrong with the link (certificate refused, login refused, link lost…) at warn level, with its code.
      log: s.log.child({ component: 'plc' }),
    });
    s.gate = gate;
    gate.on('trigger', (seq, at, mono, part) => s.line.trigger(seq, at, mono, part));
    gate.on('state', (state) => {
      if (state === 'ready') s.selfTest.plc = 'ok';
      s.log.info({ plc: state, lastError: gate.lastError }, 'PLC link');
    });
    await gate.start();
    if (plc.required) {
      // plc.required: the station does not run without its PLC.
      await firstConnection(gate, plc.endpoint, PLC_REQUIRED_WITHIN_MS).catch(async (err) => {
        await gate.stop();
        throw err;
      });
      return;
    }
    // Self-test, PLC part: reported, not waited for beyond a few seconds (the PLC may come later).
    void gate.whenReady(5000).catch((err: Error) => {
      if (s.selfTest.plc === 'pending') s.selfTest.plc = `unreachable: ${err.message}`;
    });
  },
  async stop() {
    s.gate?.setStationReady(false);
    await s.gate?.stop();
  },
});

/** Resolves when the gate is Ready; rejects when its first connection attempt fails or after `timeoutMs`. */
function firstConnection(gate: RejectGate, endpoint: string, timeoutMs: number): Promise<void> {
  if (gate.state === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const failures = gate.counters.connectFailures;
    const started = performance.now();
    const finish = (err?: StationError) => {
      clearInterval(poll);
      gate.off('state', onState);
      if (err) reject(err);
      else resolve();
    };
    const onState = (state: string) => {
      if (state === 'ready') finish();
    };
    // Polled, not awaited: every timer here is cleared on either outcome, so a refused start leaves none behind.
    const poll = setInterval(() => {
      if (gate.counters.connectFailures !== failures)
        finish(new StationError('STN_ERR_PLC_CONNECT', `plc.required: the PLC at ${endpoint} cannot be reached: ${gate.lastError ?? 'no answer'}`));
      else if (performance.now() - started > timeoutMs)
        finish(
          new StationError('STN_ERR_PLC_CONNECT', `plc.required: the PLC at ${endpoint} is not ready after ${timeoutMs} ms: ${gate.lastError ?? 'no answer'}`),
        );
    }, 50);
    gate.on('state', onState);
  });
}

/** The station's own OPC UA server (Machine Vision). */
export const opcuaServer = (s: StationParts): Component => ({
  name: 'OPC UA server',
  async start() {
    const c = s.config;
    const o = c.opcua!;
    const { StationServer } = await loadPlc();
    s.opcua = new StationServer({
      port: o.port,
      host: o.host,
      pkiDir: path.join(s.dataDir, 'pki', 'station-server'),
      allowAnonymous: o.allowAnonymous,
      users: s.secrets.opcuaUsers,
      recipes: Object.keys(c.recipes),
      currentRecipe: c.sources[0].recipe,
      selectRecipe: (name) => s.line.selectRecipe(name),
      setRunning: (running) => s.line.setRunning(running),
      onError: onceEach((err: unknown) => s.log.error(errorFields(err), 'ResultReady could not be raised')),
    });
    try {
      await s.opcua.start();
    } catch (err) {
      await s.opcua.stop().catch(() => undefined);
      throw err;
    }
    s.log.info({ endpoint: s.opcua.endpointUrl }, 'OPC UA server listening');
  },
  stop: () => s.opcua?.stop(),
});

/** Results and state on the broker (Unified Namespace). */
export const mqtt = (s: StationParts): Component => {
  let timer: NodeJS.Timeout | null = null;
  return {
    name: 'MQTT',
    start() {
      const m = s.config.mqtt!;
      const st = s.config.station;
      s.uns = new UnsPublisher({
        url: m.url,
        username: m.username,
        password: s.secrets.mqttPassword,
        clientId: `inspection-station-${st.id}`,
        path: [m.topicPrefix, st.site, st.area, st.line],
        station: { id: st.id, site: st.site, area: st.area, line: st.line },
        qos: m.qos,
        bufferSize: m.bufferSize,
        reconnectMs: m.reconnectMs,
      });
      s.uns.start();
      // The station's state on the bus: on every line state change, and when health changes.
      timer = setInterval(() => publishState(s), 5000);
      timer.unref();
      s.log.info({ broker: redact(m.url), topic: s.uns.root }, 'MQTT publishing');
    },
    async stop() {
      if (timer) clearInterval(timer);
      await s.uns?.stop();
    },
  };
};

function publishState(s: StationParts): void {
  if (!s.uns || !s.health) return;
  const p = s.health.check();
  const line = s.line.state;
  s.uns.publishState(line === 'running' ? (p.status === 'ok' ? 'running' : 'degraded') : line, { line, problems: p.problems });
}

export const metricsAndHealth = (s: StationParts): Component => ({
  name: 'metrics and health',
  start() {
    const { line, recorder, retention } = s;
    s.metrics = new StationMetrics(s.config.station.id, {
      line: () => ({
        state: line.state,
        restarts: line.restarts,
        inFlight: line.inFlight,
        partsPerS: line.partsPerS,
        cameras: Object.fromEntries(line.cameras),
      }),
      recorder: () => ({
        queueDepth: recorder.depth,
        spoolDepth: recorder.spoolDepth,
        databaseDown: recorder.databaseDown,
        counters: { ...recorder.counters },
      }),
      plc: () => (s.gate ? { state: s.gate.state, counters: { ...s.gate.counters } } : null),
      disk: () => retention.diskStatus().catch(() => null),
      retention: () => ({ ...retention.counters }),
      config: () => ({ ...s.reloads }),
      mqtt: () => (s.uns ? { connected: s.uns.connected, counters: { ...s.uns.counters } } : null),
    });
    s.health = new StationHealth({
      line,
      recorder,
      failedSources: s.failedSources,
      lastImageError: () => s.lastImageError,
      retention,
      minFreeBytes: s.config.storage.retention.minFreeBytes,
      gate: s.gate,
      mqtt: s.uns,
    });
  },
});

export const reinference = (s: StationParts): Component => ({
  name: 're-inference',
  start() {
    s.reinferrer = new Reinferrer(s.repo, s.images, { baseDir: s.config.baseDir, log: s.log });
    s.whatIfJobs = new WhatIfJobs(s.repo, { maxRunning: 1, keepMs: 3_600_000, keepEnded: 50, log: s.log });
  },
  stop: async () => {
    await s.whatIfJobs.stop();
    await s.reinferrer.stop();
  },
});

/** The API and the gallery. */
export const http = (s: StationParts): Component => ({
  name: 'HTTP',
  failCode: 'STN_ERR_HTTP_LISTEN',
  async start() {
    const c = s.config;
    const manifests = new Map<string, Manifest>();
    const recipeModel = (name: string) => s.recipeModel(name);
    const tls = c.http.tls
      ? { cert: readFileSync(path.resolve(c.baseDir, c.http.tls.cert)), key: readFileSync(path.resolve(c.baseDir, c.http.tls.key)) }
      : null;
    const { line, recorder, retention } = s;
    const api = await buildApi({
      repo: s.repo,
      images: s.images,
      line,
      accounts: s.accounts,
      recipeVersionIds: s.recipeVersionIds,
      live: s.live,
      recipeNames: Object.keys(c.recipes),
      plant: () => s.config.plant,
      reinferrer: s.reinferrer,
      whatIfJobs: s.whatIfJobs,
      recipeModel,
      tls,
      rateLimitPerMinute: c.http.rateLimitPerMinute,
      whatIfSyncMaxParts: c.http.whatIfSyncMaxParts,
      candidateModels: () => {
        const names = Object.keys(s.config.recipes);
        return candidateModels(
          names.map((n) => recipeModel(n)!),
          (file) => names.filter((n) => recipeModel(n) === file),
        );
      },
      exporter: new Exporter(s.db, s.images, path.join(s.dataDir, 'exports'), () => [...new Set(line.models.flatMap((m) => m.labels))], {
        ttlMs: c.storage.exportTtlHours * 3600_000,
      }),
      metricsTokenSha256: c.http.metricsTokenSha256,
      log: s.log,
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
      pushKeySha256: c.http.pushKeySha256,
      bodyLimit: c.http.bodyLimit,
      version: VERSION,
      metrics: s.metrics,
      reload: (actor) => s.reload(actor),
      ready: () => {
        const p = s.health.check();
        const ready = line.state === 'running' && !recorder.databaseDown && (!s.gate || s.gate.state === 'ready');
        return { ready, ...p, selfTest: s.selfTest };
      },
      health: () => ({
        ...s.health.check(),
        selfTest: s.selfTest,
        lineState: line.state,
        restarts: line.restarts,
        lastFault: line.lastFault,
        inFlight: line.inFlight,
        recorder: { ...recorder.counters, queueDepth: recorder.depth, spoolDepth: recorder.spoolDepth, databaseDown: recorder.databaseDown },
        disk: retention.disk,
        retention: retention.counters,
        station: s.config.station.id,
        plc: s.gate?.status() ?? null,
        opcua: s.opcua ? { endpoint: s.opcua.endpointUrl, publishErrors: s.opcua.publishErrors } : null,
        mqtt: s.uns ? { topic: s.uns.root, connected: s.uns.connected, buffered: s.uns.buffered, lastError: s.uns.lastError, ...s.uns.counters } : null,
        process: { ...processFacts(), workerHeapUsedBytes: line.workerHeapBytes },
      }),
    });
    s.api = api;
    try {
      s.url = await api.listen({ host: c.http.host, port: c.http.port });
    } catch (err) {
      await api.close();
      throw err;
    }
    s.log.info({ url: s.url }, 'HTTP listening');
  },
  stop: () => s.api?.close(),
});

/**
 * Capture, last: everything that hears results is wired, so frames may flow. Stopping it first
 * is the graceful stop: no new triggers; the parts in flight are decided and their verdicts go to
 * the PLC (Ready off after); the records follow as the recorder stops.
 */
export const capture = (s: StationParts): Component => ({
  name: 'capture',
  start() {
    const { line, config: c } = s;
    // Several PLC-triggered cameras are views of one part: the PLC hears one combined verdict per part.
    s.views = line.triggeredSources.length > 1 ? new PartViews(line.triggeredSources, c.line.deadlineMs, (r) => s.deliver(r)) : null;
    // The PLC's Ready follows the line: while the worker is down, the PLC rejects every part itself.
    line.on('state', (state, why) => {
      s.gate?.setStationReady(state === 'running');
      if (state === 'running') s.log.info({ restarts: line.restarts }, 'line running');
      else if (state !== 'stopped') s.log.error({ state, why }, 'line not deciding');
      publishState(s);
    });
    line.on('result', (r) => {
      // What the part's record says is what happened to it: a verdict the PLC did not get in time
      // is not a pass or a fail, the PLC's default reject took the part (uninspected, with why).
      let settle!: (d: Promise<DeliveryFault | null>) => void;
      const final = new Promise<InspectionResult>((resolve) => {
        settle = (d) =>
          void d.then((fault) => {
            if (fault && r.verdict !== 'uninspected')
              s.log.warn({ source: r.source, seq: r.seq, code: fault.code }, `verdict not delivered: the PLC rejected the part (${fault.message})`);
            resolve(fault ? undeliveredResult(r, fault) : r);
          });
      });
      // Into the recorder's journal first (one synchronous append), then to the PLC: a process
      // killed at any moment after the PLC heard a verdict still leaves that part's record.
      s.recorder.enqueue(r, final);
      settle(s.views?.add(r) ?? s.deliver(r));
      void final.then((f) => {
        s.uns?.publishResult(f);
        s.metrics.observe(f);
        s.o.onResult?.(f);
      });
    });
    line.on('source-error', (source, error) => {
      s.failedSources.set(source, error);
      s.log.error({ source, code: error.code, message: error.message }, 'frame source failed');
    });
    line.begin();
    s.gate?.setStationReady(line.state === 'running');
    publishState(s);
  },
  async stop() {
    await s.line.stop();
    s.views?.flush();
    s.gate?.setStationReady(false);
  },
});
