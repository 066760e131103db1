import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import {
  AttributeIds,
  ClientMonitoredItem,
  ClientSubscription,
  DataType,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  UserTokenType,
  makeBrowsePath,
  type ClientSession,
  type DataValue,
  type OPCUACertificateManager,
  type UserIdentityInfo,
} from 'node-opcua';
import pRetry from 'p-retry';
import { StationError } from '../errors/index.js';
import { LatencyWindow } from '../line/stats.js';
import type { InspectionResult } from '../line/protocol.js';
import { certificateManager } from './pki.js';
import { TAG_NAMES, TAG_TYPES, seqAfter, verdictCodeOf, type TagName } from './tags.js';

export type SecurityModeName = 'SignAndEncrypt' | 'Sign' | 'None';
export type SecurityPolicyName = 'Basic256Sha256' | 'Aes128_Sha256_RsaOaep' | 'None';

export type GateUser =
  | { type: 'username'; username: string; password: string }
  | { type: 'certificate'; certificateFile: string; privateKeyFile: string }
  | { type: 'anonymous' };

export interface GateOptions {
  endpoint: string;
  securityMode: SecurityModeName;
  securityPolicy: SecurityPolicyName;
  user: GateUser;
  /** The station's client PKI folder (own certificate, trusted and rejected peers). */
  pkiDir: string;
  /** Each tag: a NodeId (`ns=2;s=…` or `nsu=URI;s=…`) or a browse path from Objects (`Line/PartSeq`). */
  tags: Record<TagName, string>;
  /** Namespace of browse-path segments without their own `nsu=` prefix. */
  namespaceUri?: string;
  /** Trigger → verdict budget; a result later than this is not written. */
  deadlineMs: number;
  heartbeatMs: number;
  /** Reconnection backoff bounds. */
  reconnectMinMs: number;
  reconnectMaxMs: number;
  applicationUri: string;
  /** Maps a result to the DefectCode tag (1 + class index; 0 none). */
  defectCode: (r: InspectionResult) => number;
}

export type GateState = 'connecting' | 'ready' | 'reconnecting' | 'stopped';

export interface GateCounters {
  triggers: number;
  /** PartSeq jumped by more than one between notifications: parts with no frame (the PLC rejects them). */
  triggersMissed: number;
  written: number;
  /** Results not written because their deadline had passed (the PLC's default reject takes the part). */
  late: number;
  /** Results not written because the link was down; never queued for later. */
  notConnected: number;
  /** Writes that completed, but after the deadline. */
  writtenLate: number;
  writeErrors: number;
  connects: number;
  connectFailures: number;
}

export interface GateEvents {
  /** A part passed the photo-eye: acquire its frame. `at` is when the station heard of it. */
  trigger: [seq: number, at: number];
  state: [GateState];
  error: [Error];
}

interface Link {
  client: OPCUAClient;
  session: ClientSession;
  subscription: ClientSubscription;
  nodes: Record<TagName, string>;
}

/**
 * The reject gate's link to the line PLC over OPC UA (standard services only: Read, Write,
 * TranslateBrowsePathsToNodeIds, subscriptions), secure by default.
 *
 * Delivery rules, because a verdict delivered late is worse than none:
 * - a result is written only while the link is Ready and before its part's deadline;
 *   otherwise it is counted and dropped, and the PLC's default reject takes the part;
 * - nothing is queued across a reconnection: each connection is a fresh client, so no stale
 *   write is replayed later; every result carries its part sequence number regardless;
 * - after (re)connecting: read PartSeq, resume triggers from there, then set Ready.
 *
 *   connecting ──▶ ready ──(link lost)──▶ reconnecting ──(backoff, new client)──▶ ready
 *        ▲                                                                 │
 *        └───────────────────────────── stop() ──▶ stopped ◀──────────────┘
 */
export class RejectGate extends EventEmitter<GateEvents> {
  readonly counters: GateCounters = {
    triggers: 0,
    triggersMissed: 0,
    written: 0,
    late: 0,
    notConnected: 0,
    writtenLate: 0,
    writeErrors: 0,
    connects: 0,
    connectFailures: 0,
  };
  /** Trigger → ResultSeq write acknowledged, per written result. */
  readonly writeLatency = new LatencyWindow(16384);
  /** The result's writes alone (ResultPartSeq/Verdict/DefectCode, then ResultSeq), start to acknowledgement. */
  readonly writeDuration = new LatencyWindow(16384);
  state: GateState = 'connecting';
  lastError: string | null = null;
  private link: Link | null = null;
  private cm: OPCUACertificateManager | null = null;
  private lastPartSeq: number | null = null;
  private resultSeq = 0;
  private heartbeat = 0;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  /** Result writes are chained so that one result's four tags never interleave with another's. */
  private chain: Promise<void> = Promise.resolve();
  private running: Promise<void> | null = null;
  private abort = new AbortController();
  private stationReady = true;

  constructor(readonly o: GateOptions) {
    super();
    if (o.securityMode === 'None' || o.securityPolicy === 'None') {
      if (o.securityMode !== 'None' || o.securityPolicy !== 'None') {
        throw new StationError('STN_ERR_PLC_SECURITY', 'securityMode None and securityPolicy None go together');
      }
    }
  }

  /** Starts connecting in the background; the line runs meanwhile (its parts are rejected by the PLC). */
  async start(): Promise<void> {
    this.cm = await certificateManager(this.o.pkiDir);
    this.running = this.connectLoop();
  }

  /** Resolves once the link is Ready (tests, start-up checks). */
  whenReady(timeoutMs = 30_000): Promise<void> {
    if (this.state === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('state', on);
        reject(new StationError('STN_ERR_PLC_CONNECT', `not ready after ${timeoutMs} ms: ${this.lastError ?? 'no answer'}`));
      }, timeoutMs);
      const on = (s: GateState) => {
        if (s === 'ready') {
          clearTimeout(t);
          this.off('state', on);
          resolve();
        }
      };
      this.on('state', on);
    });
  }

  private setState(s: GateState): void {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }

  private async connectLoop(): Promise<void> {
    await pRetry(
      async () => {
        if (this.abort.signal.aborted) return;
        try {
          await this.connectOnce();
          this.counters.connects++;
        } catch (err) {
          this.counters.connectFailures++;
          this.lastError = (err as Error).message;
          throw err;
        }
      },
      {
        retries: Number.MAX_SAFE_INTEGER,
        factor: 2,
        minTimeout: this.o.reconnectMinMs,
        maxTimeout: this.o.reconnectMaxMs,
        randomize: true,
        signal: this.abort.signal,
      },
    ).catch(() => undefined);
  }

  private userIdentity(): UserIdentityInfo {
    const u = this.o.user;
    switch (u.type) {
      case 'username':
        return { type: UserTokenType.UserName, userName: u.username, password: u.password };
      case 'certificate':
        return {
          type: UserTokenType.Certificate,
          certificateData: readPem(u.certificateFile) as Buffer,
          privateKey: readPem(u.privateKeyFile, true) as string,
        };
      case 'anonymous':
        return { type: UserTokenType.Anonymous };
    }
  }

  private async connectOnce(): Promise<void> {
    const client = OPCUAClient.create({
      applicationName: 'inspection-station',
      applicationUri: this.o.applicationUri,
      securityMode: MessageSecurityMode[this.o.securityMode],
      securityPolicy: SecurityPolicy[this.o.securityPolicy],
      clientCertificateManager: this.cm!,
      endpointMustExist: false,
      keepSessionAlive: true,
      requestedSessionTimeout: 20_000,
      // This class owns reconnection: a dead client is dropped with whatever it had queued.
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    });
    client.on('connection_lost', () => this.lost(client, 'connection lost'));
    client.on('start_reconnection', () => this.lost(client, 'connection lost'));
    try {
      await client.connect(this.o.endpoint);
      const session = await client.createSession(this.userIdentity());
      session.on('keepalive_failure', () => this.lost(client, 'keep-alive failed'));
      session.on('session_closed', () => this.lost(client, 'session closed'));
      const nodes = await this.resolveTags(session);
      const subscription = ClientSubscription.create(session, {
        requestedPublishingInterval: 50,
        requestedLifetimeCount: 120,
        requestedMaxKeepAliveCount: 10,
        maxNotificationsPerPublish: 1000,
        publishingEnabled: true,
        priority: 100,
      });
      // Resynchronise before anything else: parts that passed while we were away are the PLC's.
      const dv = await session.read({ nodeId: nodes.PartSeq, attributeId: AttributeIds.Value });
      this.lastPartSeq = Number(dv.value.value ?? 0) >>> 0;
      this.link = { client, session, subscription, nodes };
      this.monitor(subscription, nodes.PartSeq, (v) => this.onPartSeq(Number(v) >>> 0));
      await this.writeTags({ Ready: this.stationReady });
      this.startHeartbeat();
      this.setState('ready');
    } catch (err) {
      await client.disconnect().catch(() => undefined);
      if (this.link?.client === client) this.link = null;
      throw err;
    }
  }

  private monitor(sub: ClientSubscription, nodeId: string, onValue: (v: unknown) => void): void {
    const item = ClientMonitoredItem.create(
      sub,
      { nodeId, attributeId: AttributeIds.Value },
      { samplingInterval: 0, discardOldest: false, queueSize: 1000 },
      TimestampsToReturn.Both,
    );
    item.on('changed', (dv: DataValue) => onValue(dv.value.value));
  }

  private onPartSeq(seq: number): void {
    const last = this.lastPartSeq;
    this.lastPartSeq = seq;
    if (last === null || !seqAfter(seq, last)) return; // initial value, or a PLC restart to a lower number
    const gap = ((seq - last) >>> 0) - 1;
    if (gap > 0) this.counters.triggersMissed += gap;
    this.counters.triggers++;
    this.emit('trigger', seq, Date.now());
  }

  /** Resolves the configured tags to NodeIds with standard services (Read NamespaceArray, TranslateBrowsePaths). */
  private async resolveTags(session: ClientSession): Promise<Record<TagName, string>> {
    const nsArray = (await session.read({ nodeId: 'ns=0;i=2255', attributeId: AttributeIds.Value })).value.value as string[];
    const nsIndex = (uri: string) => {
      const i = nsArray.indexOf(uri);
      if (i < 0) throw new StationError('STN_ERR_PLC_TAG', `the server has no namespace ${uri}`);
      return i;
    };
    const out = {} as Record<TagName, string>;
    for (const tag of TAG_NAMES) {
      const spec = this.o.tags[tag];
      const nsu = /^nsu=([^;]+);(.*)$/.exec(spec);
      if (nsu) {
        out[tag] = `ns=${nsIndex(nsu[1])};${nsu[2]}`;
        continue;
      }
      if (/^(ns=\d+;)?[isgb]=/.test(spec)) {
        out[tag] = spec;
        continue;
      }
      // Browse path from Objects; unqualified segments are in namespaceUri.
      const def = this.o.namespaceUri ? nsIndex(this.o.namespaceUri) : 0;
      const segs = spec
        .split('/')
        .filter(Boolean)
        .map((s) => (/^\d+:/.test(s) ? s : `${def}:${s}`));
      const res = await session.translateBrowsePath(makeBrowsePath('ObjectsFolder', '/' + segs.join('/')));
      const target = res.targets?.[0]?.targetId;
      if (!res.statusCode.isGood() || !target) throw new StationError('STN_ERR_PLC_TAG', `tag ${tag}: no node at Objects/${spec} (${res.statusCode.name})`);
      out[tag] = target.toString();
    }
    return out;
  }

  private async writeTags(values: Partial<Record<TagName, number | boolean>>): Promise<void> {
    const link = this.link;
    if (!link) throw new StationError('STN_ERR_PLC_CONNECT', 'no link');
    const nodesToWrite = Object.entries(values).map(([tag, value]) => ({
      nodeId: link.nodes[tag as TagName],
      attributeId: AttributeIds.Value,
      value: { value: { dataType: DataType[TAG_TYPES[tag as TagName]], value } },
    }));
    const codes = await link.session.write(nodesToWrite);
    const bad = codes.find((c) => !c.isGood());
    if (bad) throw new StationError('STN_ERR_PLC_TAG', `write refused: ${bad.name}`);
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => {
      if (this.state !== 'ready') return;
      this.heartbeat = (this.heartbeat + 1) >>> 0;
      this.writeTags({ StationHeartbeat: this.heartbeat }).catch((err) => this.lost(this.link?.client, `heartbeat write failed: ${(err as Error).message}`));
    }, this.o.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  /** The link is gone: drop the client (and anything it queued) and reconnect with backoff. */
  private lost(client: OPCUAClient | undefined, why: string): void {
    if (!client || this.link?.client !== client || this.state === 'stopped') return;
    this.lastError = why;
    this.link = null;
    this.stopHeartbeat();
    this.setState('reconnecting');
    void client.disconnect().catch(() => undefined);
    this.running = this.connectLoop();
  }

  /**
   * Hands a result to the PLC. Never awaited by the line: returns at once; the write happens on
   * this gate's chain, checked against the part's deadline before each step.
   */
  deliver(r: InspectionResult): void {
    if (this.state !== 'ready') {
      this.counters.notConnected++;
      return;
    }
    const deadline = r.timestamp + this.o.deadlineMs;
    if (Date.now() > deadline) {
      this.counters.late++;
      return;
    }
    const verdict = verdictCodeOf(r.verdict);
    const code = r.verdict === 'fail' ? this.o.defectCode(r) : 0;
    this.chain = this.chain.then(async () => {
      // Checked again: earlier writes on the chain may have used up this part's time.
      if (this.state !== 'ready') {
        this.counters.notConnected++;
        return;
      }
      if (Date.now() > deadline) {
        this.counters.late++;
        return;
      }
      try {
        const start = performance.now();
        await this.writeTags({ ResultPartSeq: r.seq >>> 0, Verdict: verdict, DefectCode: code });
        this.resultSeq = (this.resultSeq + 1) >>> 0;
        await this.writeTags({ ResultSeq: this.resultSeq });
        const done = Date.now();
        this.writeDuration.add(performance.now() - start);
        this.counters.written++;
        if (done > deadline) this.counters.writtenLate++;
        this.writeLatency.add(done - r.timestamp);
      } catch (err) {
        this.counters.writeErrors++;
        this.lastError = (err as Error).message;
      }
    });
  }

  /**
   * Whether the station is deciding parts (its line worker up). The PLC's Ready follows it: while
   * false, the PLC knows not to wait for verdicts and rejects every part itself.
   */
  setStationReady(ready: boolean): void {
    if (this.stationReady === ready) return;
    this.stationReady = ready;
    if (this.state !== 'ready') return; // written on the next connection
    this.chain = this.chain.then(() =>
      this.writeTags({ Ready: ready }).catch((err) => {
        this.counters.writeErrors++;
        this.lastError = (err as Error).message;
      }),
    );
  }

  /** Ready off (best effort), then close the link. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.abort.abort();
    this.stopHeartbeat();
    await this.chain;
    if (this.link && this.state === 'ready') await this.writeTags({ Ready: false }).catch(() => undefined);
    this.setState('stopped');
    const link = this.link;
    this.link = null;
    if (link) {
      await link.subscription.terminate().catch(() => undefined);
      await link.session.close().catch(() => undefined);
      await link.client.disconnect().catch(() => undefined);
    }
    await this.running;
    await this.cm?.dispose().catch(() => undefined);
  }

  status() {
    return {
      state: this.state,
      stationReady: this.stationReady,
      lastError: this.lastError,
      ...this.counters,
      writeLatencyMs: { p50: this.writeLatency.percentile(50), p99: this.writeLatency.percentile(99) },
    };
  }
}

/** A PEM certificate as DER bytes, or a PEM private key as its text (what node-opcua takes). */
function readPem(file: string, key = false): Buffer | string {
  const text = readFileSync(file, 'utf8');
  if (key) return text;
  const b64 = text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return Buffer.from(b64, 'base64');
}
