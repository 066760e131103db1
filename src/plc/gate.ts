import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
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
import { type ErrorCode, StationError } from '../errors/index.js';
import { LatencyWindow, monotonicMs } from '../line/stats.js';
import type { DeliveryFault, InspectionResult, PartIdentity } from '../line/protocol.js';
import { PlcClock, sourceMs } from './clock.js';
import { keepSecureTokensOnMonotonicClock } from './secure-token-clock.js';
import { certificateManager } from './pki.js';
import { partIdentity } from './identity.js';
import { ACK_TAG, IDENTITY_TAGS, type IdentityTag, TAG_NAMES, TAG_TYPES, seqAfter, verdictCodeOf, type TagName } from './tags.js';

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
  tags: Record<TagName, string> & Partial<Record<IdentityTag | typeof ACK_TAG, string>>;
  /** With tags.ResultAck: how long the PLC may take to acknowledge a result (default 1000 ms). */
  ackTimeoutMs?: number;
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
  /** Where the link says what happened (pino's signature); warnings carry a stable code and what to do. */
  log?: GateLog;
}

export interface GateLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/** The publishing interval the station asks for; a server may revise it (100 ms minimum is common). */
export const REQUESTED_PUBLISHING_INTERVAL_MS = 50;

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

/** The acknowledge handshake's counts (tags.ResultAck): confirmed results, and those not confirmed within ackTimeoutMs (or before the link dropped). */
export interface AckCounters {
  acknowledged: number;
  unacknowledged: number;
}

export interface GateEvents {
  /**
   * A part passed the photo-eye: acquire its frame. `at` is the photo-eye on the station's clock
   * (the PLC's source timestamp of the PartSeq change, corrected by the estimated clock offset),
   * or when the station heard of it when the PLC sends no source timestamp.
   */
  trigger: [seq: number, at: number, mono: number, part?: PartIdentity];
  state: [GateState];
  error: [Error];
}

interface Link {
  client: OPCUAClient;
  session: ClientSession;
  subscription: ClientSubscription;
  nodes: Record<TagName, string> & Partial<Record<IdentityTag | typeof ACK_TAG, string>>;
}

/** How long past a part's deadline a result write the PLC has not answered is given up on (counted as not delivered). */
const UNANSWERED_WRITE_MS = 5000;

/** How many of an identity tag's latest values are kept to find the one a trigger goes with. */
const IDENTITY_HISTORY = 32;

/**
 * The reject gate's link to the line PLC over OPC UA (standard services only: Read, Write,
 * TranslateBrowsePathsToNodeIds, subscriptions), secure by default.
 *
 * Delivery rules, because a verdict delivered late is worse than none:
 * - a result is written only while the link is Ready and before its part's deadline;
 *   otherwise it is counted and dropped, and the PLC's default reject takes the part; deliver()
 *   says so, and the part is recorded as uninspected with that fault's code;
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
  readonly ack: AckCounters = { acknowledged: 0, unacknowledged: 0 };
  /** ResultSeq write → the PLC's ResultAck for it. */
  readonly ackLatency = new LatencyWindow(4096);
  /** Results written and not yet acknowledged, oldest first (ResultSeq, when written on the monotonic clock). */
  private awaitingAck: { seq: number; mono: number }[] = [];
  /** Trigger → ResultSeq write acknowledged, per written result. */
  readonly writeLatency = new LatencyWindow(16384);
  /** The result's writes alone (ResultPartSeq/Verdict/DefectCode, then ResultSeq), start to acknowledgement. */
  readonly writeDuration = new LatencyWindow(16384);
  state: GateState = 'connecting';
  lastError: string | null = null;
  /** The stable code of `lastError` (what went wrong with the link), null while it is fine. */
  lastErrorCode: ErrorCode | null = null;
  /** The PLC's clock against the station's (PartSeq and heartbeat source timestamps). */
  readonly clock = new PlcClock();
  /** Photo-eye (PLC source timestamp, on the station's clock) → the station hearing of the part. */
  readonly triggerDelay = new LatencyWindow(4096);
  /** What the server granted for the subscription (it may revise what the station asks for). */
  subscription: {
    requestedPublishingIntervalMs: number;
    revisedPublishingIntervalMs: number | null;
    revisedQueueSize: number | null;
    revisedSamplingIntervalMs: number | null;
  } = {
    requestedPublishingIntervalMs: REQUESTED_PUBLISHING_INTERVAL_MS,
    revisedPublishingIntervalMs: null,
    revisedQueueSize: null,
    revisedSamplingIntervalMs: null,
  };
  private lastLogged: string | null = null;
  private link: Link | null = null;
  private cm: OPCUACertificateManager | null = null;
  private lastPartSeq: number | null = null;
  /** Each configured identity tag's latest values, oldest first, with their PLC source times. */
  private identity = new Map<IdentityTag, { value: unknown; src: number | null }[]>();
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
    // A wall clock stepped forward must not expire the secure channel's keys (and drop the link).
    if (!keepSecureTokensOnMonotonicClock())
      o.log?.warn({ code: 'STN_ERR_PLC_CONNECT' }, 'node-opcua changed its token stack: a wall clock stepped forward may drop the PLC link once');
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
    if (s === 'ready') {
      this.lastError = null;
      this.lastErrorCode = null;
      this.lastLogged = null;
    }
    this.state = s;
    this.emit('state', s);
  }

  /** Records what went wrong with the link; warns once per kind of problem until the link is ready again. */
  private problem(code: ErrorCode, message: string, details: object = {}): void {
    this.lastError = message;
    this.lastErrorCode = code;
    if (this.lastLogged === code) return;
    this.lastLogged = code;
    this.o.log?.warn({ code, endpoint: this.o.endpoint, ...details }, message);
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
          const p = this.classify(err);
          this.problem(p.code, p.message, { cause: (err as Error).message });
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
        requestedPublishingInterval: REQUESTED_PUBLISHING_INTERVAL_MS,
        requestedLifetimeCount: 120,
        requestedMaxKeepAliveCount: 10,
        maxNotificationsPerPublish: 1000,
        publishingEnabled: true,
        priority: 100,
      });
      // Resynchronise before anything else: parts that passed while we were away are the PLC's.
      const dv = await session.read({ nodeId: nodes.PartSeq, attributeId: AttributeIds.Value });
      this.lastPartSeq = Number(dv.value.value ?? 0) >>> 0;
      await whenStarted(subscription);
      // A new link may be to a PLC that restarted with another clock: estimate it afresh.
      this.clock.reset();
      this.link = { client, session, subscription, nodes };
      const partSeq = this.monitor(subscription, nodes.PartSeq, (dv, fresh) => this.onPartSeq(Number(dv.value.value) >>> 0, dv, fresh));
      // The PLC's heartbeat is a clock sample twice a second or more, between parts too.
      this.monitor(subscription, nodes.PlcHeartbeat, (dv, fresh) => {
        const src = sourceMs(dv.sourceTimestamp);
        if (fresh && src !== null) this.clock.sample(src, monotonicMs());
      });
      this.identity = new Map();
      for (const tag of IDENTITY_TAGS) {
        const nodeId = nodes[tag];
        if (!nodeId) continue;
        const history: { value: unknown; src: number | null }[] = [];
        this.identity.set(tag, history);
        this.monitor(subscription, nodeId, (dv) => {
          history.push({ value: dv.statusCode.isGood() ? dv.value.value : null, src: sourceMs(dv.sourceTimestamp) });
          if (history.length > IDENTITY_HISTORY) history.shift();
        });
      }
      this.awaitingAck = [];
      const ackNode = nodes[ACK_TAG];
      if (ackNode)
        this.monitor(subscription, ackNode, (dv) => {
          // The first value is what the PLC acknowledged before this link (older than any awaited).
          if (dv.statusCode.isGood()) this.onAck(Number(dv.value.value) >>> 0);
        });
      await this.noteRevision(subscription, partSeq);
      await this.writeTags({ Ready: this.stationReady });
      this.startHeartbeat();
      this.setState('ready');
    } catch (err) {
      await client.disconnect().catch(() => undefined);
      if (this.link?.client === client) this.link = null;
      throw err;
    }
  }

  /**
   * Watches a tag; `fresh` is false for the first notification, the value as it already was
   * (its source timestamp is when it last changed, not now: no clock sample).
   */
  private monitor(sub: ClientSubscription, nodeId: string, onValue: (dv: DataValue, fresh: boolean) => void): ClientMonitoredItem {
    const item = ClientMonitoredItem.create(
      sub,
      { nodeId, attributeId: AttributeIds.Value },
      { samplingInterval: 0, discardOldest: false, queueSize: 1000 },
      TimestampsToReturn.Both,
    );
    let fresh = false;
    item.on('changed', (dv: DataValue) => {
      onValue(dv, fresh);
      fresh = true;
    });
    return item;
  }

  /**
   * What the server made of the subscription the station asked for: logged, in health, and a
   * warning when the publishing interval was raised (a trigger may then wait up to one interval
   * before the station hears it; the deadline still counts from the photo-eye).
   */
  private async noteRevision(sub: ClientSubscription, item: ClientMonitoredItem): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      item.once('initialized', () => {
        clearTimeout(t);
        resolve();
      });
    });
    const p = item.monitoringParameters;
    this.subscription = {
      requestedPublishingIntervalMs: REQUESTED_PUBLISHING_INTERVAL_MS,
      revisedPublishingIntervalMs: sub.publishingInterval ?? null,
      revisedQueueSize: p?.queueSize ?? null,
      revisedSamplingIntervalMs: p?.samplingInterval ?? null,
    };
    const revised = this.subscription.revisedPublishingIntervalMs;
    if (revised !== null && revised > REQUESTED_PUBLISHING_INTERVAL_MS) {
      this.o.log?.warn(
        { endpoint: this.o.endpoint, ...this.subscription },
        `the PLC revised the publishing interval from ${REQUESTED_PUBLISHING_INTERVAL_MS} to ${revised} ms: a trigger may wait up to ${revised} ms before the station hears it, and that time counts against each part's deadline`,
      );
    } else this.o.log?.info({ endpoint: this.o.endpoint, ...this.subscription }, 'PLC subscription');
  }

  private onPartSeq(seq: number, dv: DataValue, fresh: boolean): void {
    // The PLC's clock is mapped onto the monotonic clock, not the wall clock: a wall clock stepped
    // by NTP on either side changes neither the offset estimate nor any part's deadline.
    const arrival = monotonicMs();
    const src = sourceMs(dv.sourceTimestamp);
    if (fresh && src !== null) this.clock.sample(src, arrival);
    const last = this.lastPartSeq;
    this.lastPartSeq = seq;
    if (last === null || !seqAfter(seq, last)) return; // initial value, or a PLC restart to a lower number
    const gap = ((seq - last) >>> 0) - 1;
    if (gap > 0) this.counters.triggersMissed += gap;
    this.counters.triggers++;
    // The part's deadline runs from the photo-eye, not from when the station heard of it.
    const mono = this.clock.toStation(src, arrival);
    this.triggerDelay.add(arrival - mono);
    const at = Date.now() - (arrival - mono);
    if (this.identity.size === 0) {
      this.emit('trigger', seq, at, mono);
      return;
    }
    // The identity tags' changes may come after PartSeq's in the same notification message (the
    // server lists monitored items in its own order): the part's identity is read once they are in.
    const identity = this.identity;
    setImmediate(() => this.emit('trigger', seq, at, mono, this.identityAt(identity, src)));
  }

  /**
   * The identity a part had at its trigger: each tag's latest value written no later than the
   * PartSeq change (by the PLC's source timestamps; the PLC writes them before PartSeq), or its
   * latest value when the server sends no timestamps.
   */
  private identityAt(identity: Map<IdentityTag, { value: unknown; src: number | null }[]>, partSeqSrc: number | null): PartIdentity {
    const values: Partial<Record<IdentityTag, unknown>> = {};
    for (const [tag, history] of identity) {
      let pick = history.at(-1);
      if (partSeqSrc !== null) {
        for (let i = history.length - 1; i >= 0; i--) {
          const h = history[i];
          pick = h;
          if (h.src === null || h.src <= partSeqSrc) break;
        }
      }
      values[tag] = pick?.value ?? null;
    }
    return partIdentity(values);
  }

  /** What a failed connection attempt means, with what to do about it. */
  private classify(err: unknown): { code: ErrorCode; message: string } {
    const m = (err as Error)?.message ?? String(err);
    if (err instanceof StationError) return { code: err.code, message: err.message };
    if (
      /BadCertificateUntrusted|server Certificate verification failed|BadCertificate(Invalid|Revoked|TimeInvalid|HostNameInvalid|UriInvalid)/.test(m) &&
      /server/i.test(m)
    ) {
      return {
        code: 'STN_ERR_PLC_UNTRUSTED',
        message: `this station does not trust the PLC's certificate (${m.split('\n')[0]}): check it and trust it with \`station pki trust <thumbprint> --dir ${this.o.pkiDir}\` (it is listed by \`station pki list --dir ${this.o.pkiDir}\`)`,
      };
    }
    if (/BadSecurityChecksFailed|rejected by server|disconnected by third party|BadCertificate|BadSecurityPolicyRejected/.test(m)) {
      return {
        code: 'STN_ERR_PLC_CERTIFICATE',
        message: `the PLC refused this station's certificate (thumbprint ${this.ownThumbprint() ?? 'unknown'}, file ${path.join(this.o.pkiDir, 'own', 'certs', 'client_certificate.pem')}): trust it on the PLC — on the line simulator, \`station pki trust ${this.ownThumbprint() ?? 'inspection-station'} --dir <its --pki folder>/server\` (${m.split('\n')[0]})`,
      };
    }
    if (/BadUserAccessDenied|BadIdentityToken|BadUserSignatureInvalid/.test(m)) {
      return { code: 'STN_ERR_PLC_LOGIN', message: `the PLC refused the station's user (${m.split('\n')[0]}): check plc.user and the PLC's user list` };
    }
    return {
      code: 'STN_ERR_PLC_CONNECT',
      message: `the PLC does not answer at ${this.o.endpoint} (${m.split('\n')[0].trim()}): is it running, and is the endpoint right?`,
    };
  }

  /** SHA-1 thumbprint of the station's own client certificate, as OPC UA tools show it. */
  private ownThumbprint(): string | null {
    try {
      const pem = readFileSync(path.join(this.o.pkiDir, 'own', 'certs', 'client_certificate.pem'), 'utf8');
      return new X509Certificate(pem).fingerprint.replaceAll(':', '').toLowerCase();
    } catch {
      return null;
    }
  }

  /** Resolves the configured tags to NodeIds with standard services (Read NamespaceArray, TranslateBrowsePaths). */
  private async resolveTags(session: ClientSession): Promise<Link['nodes']> {
    const nsArray = (await session.read({ nodeId: 'ns=0;i=2255', attributeId: AttributeIds.Value })).value.value as string[];
    const nsIndex = (uri: string) => {
      const i = nsArray.indexOf(uri);
      if (i < 0) throw new StationError('STN_ERR_PLC_TAG', `the server has no namespace ${uri}`);
      return i;
    };
    const out = {} as Link['nodes'];
    for (const tag of [...TAG_NAMES, ...IDENTITY_TAGS, ACK_TAG]) {
      const spec = this.o.tags[tag];
      if (spec === undefined) continue;
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

  /** The PLC took every result up to ResultSeq `ack`. */
  private onAck(ack: number): void {
    const now = monotonicMs();
    while (this.awaitingAck.length && !seqAfter(this.awaitingAck[0].seq, ack)) {
      this.ackLatency.add(now - this.awaitingAck.shift()!.mono);
      this.ack.acknowledged++;
    }
  }

  /** Results the PLC has not acknowledged in time are counted (health degrades), and no longer awaited. */
  private expireAcks(all = false): void {
    const limit = monotonicMs() - (this.o.ackTimeoutMs ?? 1000);
    while (this.awaitingAck.length && (all || this.awaitingAck[0].mono < limit)) {
      this.awaitingAck.shift();
      this.ack.unacknowledged++;
    }
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => {
      this.expireAcks();
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
    this.problem('STN_ERR_PLC_LOST', `the link to the PLC was lost (${why}): it stopped, restarted or the network failed; reconnecting`);
    this.link = null;
    this.stopHeartbeat();
    // A result written on a link that is gone will not be acknowledged on the next one.
    this.expireAcks(true);
    this.setState('reconnecting');
    void client.disconnect().catch(() => undefined);
    this.running = this.connectLoop();
  }

  /**
   * Hands a result to the PLC. Never awaited by the line: the write happens on this gate's chain,
   * checked against the part's deadline before each step. The promise says what became of it:
   * null once the PLC took it (written, even if the write ended past the deadline: counted
   * writtenLate, and the PLC's own gate decides whether it still counted), or the fault that kept
   * it from the PLC, whose default reject then took the part. It never rejects.
   */
  deliver(r: InspectionResult): Promise<DeliveryFault | null> {
    if (this.state !== 'ready') {
      this.counters.notConnected++;
      return Promise.resolve(notReady(this.state));
    }
    // On the monotonic clock: a wall clock stepped by NTP neither hides a late verdict nor invents one.
    const since = r.mono ?? monotonicMs() - (Date.now() - r.timestamp);
    const deadline = since + this.o.deadlineMs;
    if (monotonicMs() > deadline) {
      this.counters.late++;
      return Promise.resolve(tooLate(this.o.deadlineMs, 'before its write could start'));
    }
    const verdict = verdictCodeOf(r.verdict);
    const code = r.verdict === 'fail' ? this.o.defectCode(r) : 0;
    return new Promise((resolve) => {
      let answered = false;
      const answer = (fault: DeliveryFault | null) => {
        if (answered) return;
        answered = true;
        clearTimeout(unanswered);
        resolve(fault);
      };
      // A write the PLC never answers (a link dying without a word) is not waited for forever.
      const unanswered = setTimeout(
        () => answer(tooLate(this.o.deadlineMs, `the PLC had not answered its write ${UNANSWERED_WRITE_MS} ms after it`)),
        Math.max(0, deadline - monotonicMs()) + UNANSWERED_WRITE_MS,
      );
      unanswered.unref();
      this.chain = this.chain.then(async () => {
        // Checked again: earlier writes on the chain may have used up this part's time.
        if (this.state !== 'ready') {
          this.counters.notConnected++;
          return answer(notReady(this.state));
        }
        if (monotonicMs() > deadline) {
          this.counters.late++;
          return answer(tooLate(this.o.deadlineMs, 'while earlier results were being written'));
        }
        try {
          const start = performance.now();
          await this.writeTags({ ResultPartSeq: r.seq >>> 0, Verdict: verdict, DefectCode: code });
          this.resultSeq = (this.resultSeq + 1) >>> 0;
          // Awaited from before the write: the PLC may acknowledge before the write's response is read.
          const awaited = this.link?.nodes[ACK_TAG] ? { seq: this.resultSeq, mono: monotonicMs() } : null;
          if (awaited) this.awaitingAck.push(awaited);
          try {
            await this.writeTags({ ResultSeq: this.resultSeq });
          } catch (err) {
            if (awaited) this.awaitingAck = this.awaitingAck.filter((a) => a !== awaited);
            throw err;
          }
          const done = monotonicMs();
          this.writeDuration.add(performance.now() - start);
          this.counters.written++;
          if (done > deadline) this.counters.writtenLate++;
          this.writeLatency.add(done - since);
          answer(null);
        } catch (err) {
          this.counters.writeErrors++;
          this.lastError = (err as Error).message;
          answer({ code: 'STN_ERR_PLC_WRITE', message: `the PLC refused the verdict's write: ${(err as Error).message}` });
        }
      });
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
      lastErrorCode: this.lastErrorCode,
      ...this.counters,
      writeLatencyMs: { p50: this.writeLatency.percentile(50), p99: this.writeLatency.percentile(99) },
      subscription: { ...this.subscription },
      /** Station clock minus PLC clock (ms): how deadlines are anchored at the photo-eye. */
      clockOffsetMs: this.clock.offsetMs === null ? null : Math.round(this.clock.offsetMs + Date.now() - monotonicMs()),
      /** Photo-eye → the station hearing of the part (ms): the publishing cycle and the network. */
      triggerDelayMs: { p50: this.triggerDelay.percentile(50), p99: this.triggerDelay.percentile(99) },
      /** The acknowledge handshake, when tags.ResultAck is configured (null otherwise): counts, ResultSeq written → acknowledged (ms), waiting now. */
      ack: this.o.tags[ACK_TAG]
        ? {
            ...this.ack,
            awaiting: this.awaitingAck.length,
            latencyMs: { p50: this.ackLatency.percentile(50), p99: this.ackLatency.percentile(99) },
          }
        : null,
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

/** Resolves once the server has created the subscription (its revised parameters are known then). */
function whenStarted(sub: ClientSubscription, timeoutMs = 5000): Promise<void> {
  // node-opcua's placeholder ids (0xc0cac01a pending, …1b terminated, …1c terminating) are not real ones.
  if (sub.subscriptionId && (sub.subscriptionId < 0xc0cac01a || sub.subscriptionId > 0xc0cac01c)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new StationError('STN_ERR_PLC_CONNECT', `the PLC did not create the subscription within ${timeoutMs} ms`)), timeoutMs);
    sub.once('started', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** A result that was not written because its part's deadline had passed. */
function tooLate(deadlineMs: number, when: string): DeliveryFault {
  return { code: 'STN_ERR_LINE_DEADLINE', message: `the verdict was not in the PLC within the ${deadlineMs} ms deadline (${when})` };
}

/** A result that was not written because the link to the PLC was not Ready. */
function notReady(state: GateState): DeliveryFault {
  return { code: 'STN_ERR_PLC_LOST', message: `the verdict was not written: the link to the PLC was ${state}` };
}
