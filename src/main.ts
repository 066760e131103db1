/**
 * Composition root: the station is an ordered list of components (src/station/components.ts),
 * started in order and stopped in reverse (src/station/lifecycle.ts):
 *
 *   data directory → database → accounts → recipes → line worker → images → recorder →
 *   retention → PLC gate → OPC UA server → MQTT → metrics/health → re-inference → HTTP → capture
 *
 * Secrets are read from `env` before anything starts. Nothing below this reads the environment
 * or the command line; everything is passed in.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { LoadedConfig } from './config/index.js';
import type { InspectionResult, Line } from './line/index.js';
import type { StationMetrics } from './ops/metrics.js';
import type { RejectGate, StationServer } from './plc/index.js';
import { type SelfTest, StationParts, stationComponents } from './station/components.js';
import { startInOrder } from './station/lifecycle.js';
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
  const stop = await startInOrder(stationComponents(s), o.log);
  const { config, line, repo, recorder, accounts, gate, opcua, db, api, url, dataDir, reinferrer, retention, metrics, selfTest, reload } = s;
  return { config, line, repo, recorder, accounts, gate, opcua, db, api, url, dataDir, reinferrer, retention, metrics, selfTest, reload, stop };
}
