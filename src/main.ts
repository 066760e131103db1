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
import type { LoadedConfig } from './config/index.js';
import { modelDocs } from './eval/docs.js';
import { loadModel, type Manifest } from './inference/index.js';
import { Line, PartViews, type InspectionResult } from './line/index.js';
import { createSource, isTriggered } from './capture/index.js';
import { PACKAGE_ROOT } from './paths.js';
import { RejectGate, StationServer, type GateUser } from './plc/index.js';
import type { PlcConfig } from './config/index.js';
import { serializeError, StationError } from './errors/index.js';
import { Reinferrer } from './whatif/index.js';
import type { CandidateModel } from './api/whatif.js';
import { Accounts, Exporter, ImageStore, openDatabase, Recorder, redact, Repository, type Db } from './store/index.js';

export const VERSION: string = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;

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
  /** `http://host:port` when serving. */
  url: string | null;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startStation(o: StationOptions): Promise<Station> {
  const { config, log } = o;
  const dataDir = path.resolve(config.baseDir, config.storage.dataDir);
  const dbUrl = o.databaseUrl ?? config.storage.databaseUrl ?? `file:${path.join(dataDir, 'station.db')}`;
  const db = await openDatabase(dbUrl);
  log.info({ database: redact(dbUrl) }, 'database ready');
  const repo = new Repository(db);
  await repo.ensureStation(config.station);
  const accounts = new Accounts(db);
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

  const line = new Line({ config, recipeVersions });
  let models;
  try {
    models = await line.start();
  } catch (err) {
    await db.$disconnect();
    throw err;
  }
  const modelIds = new Map<string, number>();
  for (const m of models) {
    modelIds.set(m.sha256, await repo.ensureModel(m));
    log.info({ model: m.name, family: m.family, sha256: m.sha256.slice(0, 12), manifest: m.manifestSource }, 'model loaded');
  }

  const images = new ImageStore(path.join(dataDir, 'images'));
  const live = new EventEmitter<{ inspection: [number] }>();
  live.setMaxListeners(100);
  const recorder = new Recorder(repo, images, {
    stationId: config.station.id,
    queueSize: config.storage.queueSize,
    keepGood: (recipe) => config.recipes[recipe]?.keepGood ?? 0,
    modelIds,
    recipeVersionIds,
    // A failing sink is a status, never a stopped line; logged once per kind, counted always.
    onError: onceEach((err: unknown) => log.error({ err }, 'recording failed')),
    onRecorded: (id) => live.emit('inspection', id),
  });
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
    gate.on('state', (state) => log.info({ plc: state, lastError: gate!.lastError }, 'PLC link'));
    await gate.start();
  }
  let opcua: StationServer | null = null;
  if (config.opcua) {
    const env = o.env ?? {};
    const recipes = Object.keys(config.recipes);
    opcua = new StationServer({
      port: config.opcua.port, host: config.opcua.host, pkiDir: path.join(dataDir, 'pki', 'station-server'),
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
  const viewNames = config.sources.filter((s) => isTriggered(createSource(s.name, s.uri, { baseDir: config.baseDir }))).map((s) => s.name);
  const deliver = (r: InspectionResult) => {
    gate?.deliver(r);
    opcua?.publish(r);
  };
  const views = viewNames.length > 1 ? new PartViews(viewNames, config.line.deadlineMs, deliver) : null;
  line.on('result', (r) => {
    if (!views?.add(r)) deliver(r);
    recorder.enqueue(r);
    o.onResult?.(r);
  });
  line.on('source-error', (source, error) => log.error({ source, error }, 'frame source failed'));

  const reinferrer = new Reinferrer(repo, images, { baseDir: config.baseDir, log });
  let api: FastifyInstance | null = null;
  let url: string | null = null;
  if (o.http !== false) {
    const modelLabels = new Map(models.map((m) => [m.file, m.labels]));
    const manifests = new Map<string, Manifest>();
    const recipeModel = (name: string) => (config.recipes[name] ? path.resolve(config.baseDir, config.recipes[name].model) : null);
    api = await buildApi({
      repo, images, line, accounts, recipeVersionIds, live, recipeNames: Object.keys(config.recipes),
      reinferrer, recipeModel,
      candidateModels: () => candidateModels(Object.keys(config.recipes).map((n) => recipeModel(n)!), (file) => Object.keys(config.recipes).filter((n) => recipeModel(n) === file)),
      exporter: new Exporter(db, images, path.join(dataDir, 'exports'), () => [...new Set(models.flatMap((m) => m.labels))]),
      webDir: path.join(PACKAGE_ROOT, 'dist', 'web'),
      secureCookies: false,
      recipeLabels: (name) => {
        const r = config.recipes[name];
        return r ? modelLabels.get(path.resolve(config.baseDir, r.model)) ?? null : null;
      },
      recipeModelDocs: (name) => {
        const r = config.recipes[name];
        if (!r) return null;
        const file = path.resolve(config.baseDir, r.model);
        // The manifest of the model the line runs, read once; card and reports are re-read each time.
        let manifest = manifests.get(file);
        if (!manifest) manifests.set(file, (manifest = loadModel(file).manifest));
        return modelDocs(file, manifest);
      },
      pushKeySha256: config.http.pushKeySha256,
      bodyLimit: config.http.bodyLimit,
      version: VERSION,
      health: () => ({ recorder: { ...recorder.counters, queueDepth: recorder.depth }, station: config.station.id, plc: gate?.status() ?? null, opcua: opcua ? { endpoint: opcua.endpointUrl, publishErrors: opcua.publishErrors } : null }),
    });
    url = await api.listen({ host: config.http.host, port: config.http.port });
    log.info({ url }, 'HTTP listening');
  }

  let stopping: Promise<void> | null = null;
  const stop = () => (stopping ??= (async () => {
    await api?.close();
    await reinferrer.stop();
    await gate?.stop();
    await opcua?.stop();
    await line.stop();
    views?.flush();
    await recorder.flush();
    await db.$disconnect();
  })());

  return { config, line, repo, recorder, accounts, gate, opcua, db, api, url, dataDir, reinferrer, stop };
}

/** The .onnx files in the folders of the station's own models, each with its manifest (or why it cannot load). */
function candidateModels(recipeModels: string[], usedBy: (file: string) => string[]): CandidateModel[] {
  const dirs = [...new Set(recipeModels.map((f) => path.dirname(f)))];
  const out: CandidateModel[] = [];
  for (const dir of dirs) {
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort()) {
      const full = path.join(dir, file);
      try {
        const m = loadModel(full).manifest;
        out.push({ file, path: full, name: m.name, family: m.family, sha256: m.sha256, labels: m.labels, usedBy: usedBy(full) });
      } catch (err) {
        out.push({ file, path: full, name: file, family: '', sha256: '', labels: [], usedBy: usedBy(full), problem: serializeError(err, 'STN_ERR_MODEL_INVALID').message });
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
  if ('certificate' in u) return { type: 'certificate', certificateFile: path.resolve(baseDir, u.certificate), privateKeyFile: path.resolve(baseDir, u.privateKey) };
  const password = u.passwordEnv ? env[u.passwordEnv] : u.password;
  if (password === undefined) throw new StationError('STN_ERR_CONFIG_INVALID', `plc.user: set the password in ${u.passwordEnv ? `the environment variable ${u.passwordEnv}` : 'passwordEnv or password'}`);
  return { type: 'username', username: u.username, password };
}
