import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { DataType, MessageSecurityMode, OPCUAServer, SecurityPolicy, StatusCodes, Subscription, Variant, type UAObject, type UAVariable } from 'node-opcua';
import { PartGenerator, syntheticSerial } from '../capture/index.js';
import { certificateManager } from './pki.js';
import { ACK_TAG, IDENTITY_TYPES, SIM_FOLDER, SIM_NAMESPACE_URI, TAG_TYPES, VerdictCode, type TagName } from './tags.js';

export interface SimulatorOptions {
  /** 0 picks a free port. */
  port: number;
  host: string;
  /** Parts per second arriving at the photo-eye. */
  rate: number;
  /** Camera → gate travel time. */
  travelMs: number;
  /** The synthetic line the simulator drives (its ground truth). */
  seed: number;
  defectRate: number;
  /** PKI folder of the simulator's server. */
  pkiDir: string;
  users: { username: string; password: string }[];
  /** Security mode None endpoints too (only when asked for). */
  allowInsecure?: boolean;
  /** The station is considered gone when its heartbeat stalls this long. */
  stationHeartbeatTimeoutMs?: number;
  /**
   * The fastest publishing interval the server grants (ms), like PLCs whose minimum is 100 ms or
   * more: a client asking for less is revised up. Process-wide in node-opcua (tests, demos).
   */
  minimumPublishingIntervalMs?: number;
  /** The PLC's clock minus the real one (ms): source timestamps of PLC-owned tags carry it. */
  clockOffsetMs?: number;
  /**
   * Each part's identity, written to PartId, Lot and RecipeSelect before its PartSeq (the write
   * order a PLC must keep). Default: `defaultIdentity` with this run's start as the prefix.
   */
  identity?: (seq: number) => SimulatedIdentity;
  /** A PLC that refuses some result writes (tests): ResultPartSeq for these parts answers BadNotWritable. */
  refuseResult?: (seq: number) => boolean;
}

/** The optional PLC → station tags the simulator serves, with their types. */
const OPTIONAL_INPUTS = { ...IDENTITY_TYPES, [ACK_TAG]: 'UInt32' } as const;
type OptionalInput = keyof typeof OPTIONAL_INPUTS;

/** What the simulated PLC writes for a part (a tag left out keeps its value). */
export interface SimulatedIdentity {
  partId?: string;
  lot?: string;
  recipeSelect?: number;
}

/**
 * The simulator's default identities: serial `SN-<run>-<8 digits>`, lots of 50 parts
 * (`LOT-<run>-<n>`), RecipeSelect 1. `run` is when the simulator started (UTC, YYMMDDhhmmss), so
 * a second run on the same database never gives one serial to two parts. The serial is the one
 * the synthetic line prints on part `seq` when its source has `serials=<run>`.
 */
export function defaultIdentity(seq: number, run: string): SimulatedIdentity {
  return { partId: syntheticSerial(run, seq), lot: `LOT-${run}-${Math.floor((seq - 1) / 50) + 1}`, recipeSelect: 1 };
}

export interface GateCounters {
  /** Parts that reached the gate. */
  parts: number;
  passedGood: number;
  rejectedDefective: number;
  /** Defective parts let through (a pass verdict for that part, in time). */
  escapes: number;
  /** Good parts rejected, for any reason. */
  falseRejects: number;
  /** Results that arrived after their part had passed the gate. */
  late: number;
  /** Parts with no result at all by the gate. */
  missing: number;
  /** Parts rejected without a reject verdict: uninspected, late, missing, or station not ready. */
  failSafeRejects: number;
  /** Results for a part sequence the line never had or had already gated. */
  stale: number;
}

interface Part {
  seq: number;
  at: number;
  defective: boolean;
  result?: { verdict: number; defectCode: number; at: number };
}

/**
 * The line simulator: an OPC UA server that plays the PLC of a conveyor. Parts arrive at a rate
 * (PartSeq +1 at the photo-eye), travel to the reject gate, and the gate rejects by default: a
 * part passes only when a Pass verdict carrying its own sequence number arrived before it
 * reached the gate and the station is Ready. It knows the synthetic line's ground truth, so it
 * counts escapes and false rejects as a quality engineer would.
 */
export class LineSimulator {
  readonly counters: GateCounters = {
    parts: 0,
    passedGood: 0,
    rejectedDefective: 0,
    escapes: 0,
    falseRejects: 0,
    late: 0,
    missing: 0,
    failSafeRejects: 0,
    stale: 0,
  };
  private server: OPCUAServer | null = null;
  private readonly values: Record<TagName, number | boolean> = {
    PartSeq: 0,
    PlcHeartbeat: 0,
    StationHeartbeat: 0,
    Ready: false,
    ResultPartSeq: 0,
    Verdict: 0,
    DefectCode: 0,
    ResultSeq: 0,
  };
  private readonly inFlight = new Map<number, Part>();
  private readonly truth: PartGenerator;
  private timers: NodeJS.Timeout[] = [];
  private gateTimers = new Set<NodeJS.Timeout>();
  private lastStationHeartbeat = { value: -1, at: 0 };
  private variables: Partial<Record<TagName, UAVariable>> = {};
  /** The optional PLC-owned tags a station may read: the part's identity and ResultAck. */
  private optionalVariables: Partial<Record<OptionalInput, UAVariable>> = {};
  /** Whether the PLC acknowledges each result it takes (ResultAck = ResultSeq); tests turn it off. */
  acknowledging = true;
  /** The identity written for each part still in flight (tests compare it with the records). */
  readonly identities = new Map<number, SimulatedIdentity>();
  /** The last results received, with the time from photo-eye to result (for tests and reports). */
  readonly received: { seq: number; verdict: number; defectCode: number; delayMs: number }[] = [];
  endpointUrl = '';

  /** This run's tag in the default serials and lots: the simulator's start, UTC, YYMMDDhhmmss. */
  readonly run = new Date().toISOString().replace(/\D/g, '').slice(2, 14);

  constructor(readonly options: SimulatorOptions) {
    this.truth = new PartGenerator({ seed: options.seed, defectRate: options.defectRate });
  }

  /** A random password for the simulator's user when none is given. */
  static generatePassword(): string {
    return randomBytes(12).toString('base64url');
  }

  async start(): Promise<void> {
    const o = this.options;
    const serverCertificateManager = await certificateManager(path.join(o.pkiDir, 'server'));
    const userCertificateManager = await certificateManager(path.join(o.pkiDir, 'users'));
    const server = new OPCUAServer({
      port: o.port,
      host: o.host,
      hostname: o.host === '0.0.0.0' ? undefined : o.host,
      serverCertificateManager,
      userCertificateManager,
      securityModes: o.allowInsecure ? [MessageSecurityMode.SignAndEncrypt, MessageSecurityMode.None] : [MessageSecurityMode.SignAndEncrypt],
      securityPolicies: o.allowInsecure
        ? [SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep, SecurityPolicy.None]
        : [SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep],
      allowAnonymous: false,
      userManager: { isValidUser: (u: string, p: string) => o.users.some((x) => x.username === u && x.password === p) },
      buildInfo: { productName: 'inspection-station line simulator', manufacturerName: 'inspection-station' },
      serverInfo: { applicationUri: 'urn:inspection-station:line-simulator', productUri: 'urn:inspection-station:line-simulator' },
    });
    if (o.minimumPublishingIntervalMs !== undefined) {
      this.restorePublishing = Subscription.minimumPublishingInterval;
      Subscription.minimumPublishingInterval = o.minimumPublishingIntervalMs;
    }
    await server.initialize();
    this.buildAddressSpace(server);
    await server.start();
    this.server = server;
    this.endpointUrl = server.getEndpointUrl();
    this.timers.push(setInterval(() => this.set('PlcHeartbeat', ((this.values.PlcHeartbeat as number) + 1) >>> 0), 250));
  }

  /** Starts the conveyor: a part at the photo-eye every 1/rate s. */
  startConveyor(): void {
    this.timers.push(setInterval(() => this.photoEye(), 1000 / this.options.rate));
  }

  /** The server's own certificate (DER), for a station that trusts it explicitly. */
  certificate(): Buffer {
    return this.server!.getCertificate();
  }

  get serverCertificateDir(): string {
    return path.join(this.options.pkiDir, 'server');
  }

  /** Stops the conveyor and waits until the parts in flight have reached the gate. */
  async drain(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    while (this.gateTimers.size > 0) await new Promise((r) => setTimeout(r, 20));
  }

  /** Stops the server at once (parts in flight are lost with it, as when a PLC dies). */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const t of this.gateTimers) clearTimeout(t);
    this.gateTimers.clear();
    await this.server?.shutdown(0);
    this.server = null;
    if (this.restorePublishing !== null) Subscription.minimumPublishingInterval = this.restorePublishing;
    this.restorePublishing = null;
  }

  get ready(): boolean {
    return this.values.Ready === true && Date.now() - this.lastStationHeartbeat.at < (this.options.stationHeartbeatTimeoutMs ?? 2000);
  }

  private photoEye(): void {
    const seq = ((this.values.PartSeq as number) + 1) >>> 0;
    const part: Part = { seq, at: Date.now(), defective: this.truth.isDefective(seq) };
    this.inFlight.set(seq, part);
    // The part's identity first, PartSeq last: a station reading them as of PartSeq's change gets this part's.
    const id = this.options.identity ? this.options.identity(seq) : defaultIdentity(seq, this.run);
    this.identities.set(seq, id);
    if (this.identities.size > 10_000) this.identities.delete(this.identities.keys().next().value!);
    if (id.partId !== undefined) this.setOptional('PartId', id.partId);
    if (id.lot !== undefined) this.setOptional('Lot', id.lot);
    if (id.recipeSelect !== undefined) this.setOptional('RecipeSelect', id.recipeSelect);
    this.set('PartSeq', seq);
    const t = setTimeout(() => {
      this.gateTimers.delete(t);
      this.gate(part);
    }, this.options.travelMs);
    this.gateTimers.add(t);
  }

  /** The gate: reject unless a Pass for this very part arrived in time while the station was Ready. */
  private gate(part: Part): void {
    this.inFlight.delete(part.seq);
    const c = this.counters;
    c.parts++;
    const r = part.result;
    const pass = r !== undefined && r.verdict === VerdictCode.PASS && this.ready;
    if (pass) {
      if (part.defective) c.escapes++;
      else c.passedGood++;
    } else {
      if (part.defective) c.rejectedDefective++;
      else c.falseRejects++;
      if (!r) c.missing++;
      if (!r || r.verdict !== VerdictCode.REJECT || !this.ready) c.failSafeRejects++;
    }
    // A result arriving after this point is counted as late in onResult (the part is gone).
    this.gated.add(part.seq);
    if (this.gated.size > 10_000) this.gated.delete(this.gated.values().next().value!);
  }

  private readonly gated = new Set<number>();
  private restorePublishing: number | null = null;

  /** ResultSeq was written: the other result tags are consistent now. */
  private onResult(): void {
    if (this.acknowledging) this.setOptional(ACK_TAG, this.values.ResultSeq as number);
    const seq = this.values.ResultPartSeq as number;
    const part = this.inFlight.get(seq);
    if (part) {
      part.result = { verdict: this.values.Verdict as number, defectCode: this.values.DefectCode as number, at: Date.now() };
      this.received.push({ seq, verdict: part.result.verdict, defectCode: part.result.defectCode, delayMs: part.result.at - part.at });
      if (this.received.length > 100_000) this.received.shift();
    } else if (this.gated.has(seq)) {
      this.counters.late++;
    } else {
      this.counters.stale++;
    }
  }

  /** PLC-owned tags change from the PLC side: subscribers are notified of every change. */
  private set(tag: TagName, value: number | boolean): void {
    this.values[tag] = value;
    this.fromSource(this.variables[tag], TAG_TYPES[tag], value);
  }

  private setOptional(tag: OptionalInput, value: string | number): void {
    this.fromSource(this.optionalVariables[tag], OPTIONAL_INPUTS[tag], value);
  }

  /** A change made by the PLC: its source timestamp is the PLC's own clock (the photo-eye, for PartSeq). */
  private fromSource(variable: UAVariable | undefined, dataType: keyof typeof DataType, value: string | number | boolean): void {
    variable?.setValueFromSource(
      new Variant({ dataType: DataType[dataType], value }),
      StatusCodes.Good,
      new Date(Date.now() + (this.options.clockOffsetMs ?? 0)),
    );
  }

  private buildAddressSpace(server: OPCUAServer): void {
    const addressSpace = server.engine.addressSpace!;
    const ns = addressSpace.registerNamespace(SIM_NAMESPACE_URI);
    const folder: UAObject = ns.addFolder(addressSpace.rootFolder.objects, { browseName: SIM_FOLDER });
    const writable: TagName[] = ['StationHeartbeat', 'Ready', 'ResultPartSeq', 'Verdict', 'DefectCode', 'ResultSeq'];
    for (const tag of Object.keys(TAG_TYPES) as TagName[]) {
      const dataType = DataType[TAG_TYPES[tag]];
      const canWrite = writable.includes(tag);
      this.variables[tag] = ns.addVariable({
        componentOf: folder,
        browseName: tag,
        nodeId: `s=${SIM_FOLDER}.${tag}`,
        dataType: TAG_TYPES[tag],
        accessLevel: canWrite ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
        userAccessLevel: canWrite ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
        // Station-written tags are read through a getter: sampled, not exception-based.
        minimumSamplingInterval: canWrite ? 10 : 0,
        value: canWrite
          ? {
              get: () => new Variant({ dataType, value: this.values[tag] }),
              set: (v: Variant) => {
                if (v.dataType !== dataType) return StatusCodes.BadTypeMismatch;
                if (tag === 'ResultPartSeq' && this.options.refuseResult?.(v.value as number)) return StatusCodes.BadNotWritable;
                this.values[tag] = v.value as number | boolean;
                if (tag === 'ResultSeq') this.onResult();
                if (tag === 'StationHeartbeat') this.lastStationHeartbeat = { value: v.value as number, at: Date.now() };
                return StatusCodes.Good;
              },
            }
          : new Variant({ dataType, value: this.values[tag] }),
      });
    }
    for (const tag of Object.keys(OPTIONAL_INPUTS) as OptionalInput[]) {
      const dataType = OPTIONAL_INPUTS[tag];
      this.optionalVariables[tag] = ns.addVariable({
        componentOf: folder,
        browseName: tag,
        nodeId: `s=${SIM_FOLDER}.${tag}`,
        dataType,
        accessLevel: 'CurrentRead',
        userAccessLevel: 'CurrentRead',
        minimumSamplingInterval: 0,
        value: new Variant({ dataType: DataType[dataType], value: dataType === 'String' ? '' : 0 }),
      });
    }
  }
}
