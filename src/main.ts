/**
 * Composition root: the station is an ordered list of components (src/station/components.ts),
 * started in order and stopped in reverse (src/station/lifecycle.ts). Secrets are read from
 * `env` before anything starts. Nothing below this reads the environment or the command line;
 * everything is passed in.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { LoadedConfig } from './config/index.js';
import type { InspectionResult, Line } from './line/index.js';
import type { StationMetrics } from './ops/metrics.js';
import type { RejectGate, StationServer } from './plc/index.js';
import * as component from './station/components.js';
import { type SelfTest, StationParts } from './station/components.js';
import { type Component, startInOrder } from './station/lifecycle.js';
import { reloadStation } from './station/reload.js';
import type { ReloadResult } from './station/reload-plan.js';
import { resolveSecrets } from './station/secrets.js';
import type { Accounts, Db, Recorder, Repository, Retention } from './store/index.js';
import type { Reinferrer } from './whatif/index.js';

export { processFacts } from './station/facts.js';
export type { ReloadResult } from './station/reload-plan.js';
export type { SelfTest } from './station/components.js';
export { VERSION } from './station/version.js';

export interface StationOptions {
  config: LoadedConfig;
  /** The database URL the command chose (DATABASE_URL, …); else the config's, else SQLite in dataDir. */
  databaseUrl?: string;
  /** Serve HTTP (false for some tests). */
  http?: boolean;
  log: Logger;
  /** Called for every result after it is counted (the demo's live line). */
  onResult?: (r: InspectionResult) => void;
  /** Environment variables the configuration may name (PLC, OPC UA and MQTT passwords). */
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
  /** Graceful stop: the parts in flight are decided and reach the PLC, every record is flushed, then the rest. */
  stop(): Promise<void>;
}

/** Starts every component in order; on a failure stops what had started and rejects with a coded StationError. */
export async function startStation(o: StationOptions): Promise<Station> {
  const secrets = resolveSecrets(o.config, o.env ?? {});
  const s = new StationParts(o, secrets);
  s.reload = (actor) => reloadStation(s, o.configFile, actor);
  const c = o.config;
  const components: Component[] = [
    component.dataDirectory(s), // 0700, tightened if it was open
    component.database(s), // migrated; the station row
    component.accountsAndSelfTest(s), // audit of the start, the demo's admin
    component.recipes(s), // a stored version per recipe
    component.lineWorker(s), // the worker thread, every model loaded and warmed up
    component.imageStore(s), // image files, encoded in a niced child process
    component.recorder(s), // records through a bounded queue, a spool when the database is down
    component.retention(s), // image age, size and free-space limits
    ...(c.plc ? [component.plcGate(s)] : []), // the reject gate: the PLC hears each verdict first
    ...(c.opcua ? [component.opcuaServer(s)] : []), // the station's own Machine Vision server
    ...(c.mqtt ? [component.mqtt(s)] : []), // results and state on the broker
    component.metricsAndHealth(s),
    component.reinference(s), // candidate models over stored images
    ...(o.http !== false ? [component.http(s)] : []), // the API and the gallery
    component.capture(s), // last: frames flow once everything that hears results is wired; stopped first
  ];
  const stop = await startInOrder(components, o.log);
  const { config, line, repo, recorder, accounts, gate, opcua, db, api, url, dataDir, reinferrer, retention, metrics, selfTest, reload } = s;
  return { config, line, repo, recorder, accounts, gate, opcua, db, api, url, dataDir, reinferrer, retention, metrics, selfTest, reload, stop };
}
