import { createHash, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import {
  DataType,
  MessageSecurityMode,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  Variant,
  nodesets,
  promoteToStateMachine,
  type AddressSpace,
  type UAMethod,
  type UAObject,
  type UAStateMachineEx,
  type UAVariable,
  type ServerSession,
  type ValidUserAsyncFunc,
} from 'node-opcua';
import type { InspectionResult } from '../line/protocol.js';
import { processingMs } from '../line/stats.js';
import { LoginThrottle } from '../api/login-throttle.js';
import { certificateManager } from './pki.js';
import { keepSecureTokensOnMonotonicClock } from './secure-token-clock.js';

const MV_URI = 'http://opcfoundation.org/UA/MachineVision';
export const STATION_NAMESPACE_URI = 'urn:inspection-station:station';

export interface StationServerOptions {
  port: number;
  host: string;
  pkiDir: string;
  users: { username: string; password: string }[];
  /** Off by default: nobody reads or calls anything without a user. */
  allowAnonymous: boolean;
  recipes: readonly string[];
  currentRecipe: string;
  /** Switches the running line to another recipe; rejects for an unknown one. */
  selectRecipe: (name: string) => void;
  /** Automatic mode: the line runs continuously or stops taking frames. */
  setRunning: (running: boolean) => void;
  /** A result that could not be raised (reported, never thrown into the line). */
  onError?: (err: unknown) => void;
}

/**
 * The station as an OPC UA server following OPC 40100-1 (Machine Vision), its Simple Inline
 * subset: a VisionSystem whose VisionStateMachine is Operational with an
 * AutomaticModeStateMachine (StartSingleJob, StartContinuous, Stop, Abort), RecipeManagement
 * with PrepareRecipe to switch the current recipe, ResultReady events carrying PartId and
 * ProcessingTimes, and the station's counters. SignAndEncrypt only; anonymous access off unless
 * configured.
 */
export class StationServer {
  private server: OPCUAServer | null = null;
  private addressSpace: AddressSpace | null = null;
  private visionSystem: UAObject | null = null;
  private auto: UAStateMachineEx | null = null;
  private readonly counters = { inspected: 0, rejected: 0, uninspected: 0 };
  private counterVars: Partial<Record<keyof StationServer['counters'] | 'currentRecipe', UAVariable>> = {};
  endpointUrl = '';

  constructor(readonly o: StationServerOptions) {}

  /** Failed OPC UA logins slow down per user name and per client address, as HTTP logins do. */
  private readonly throttle = new LoginThrottle({ baseMs: 500, maxMs: 60_000 });

  /**
   * The user check: passwords compared in constant time; a name or address that keeps failing is
   * answered only after its wait (and refused without looking at the password while it lasts), so
   * guessing is slow whatever client the attacker uses.
   */
  private checkUser(): ValidUserAsyncFunc {
    const throttle = this.throttle;
    const users = this.o.users;
    return function (this: ServerSession, username, password, callback) {
      const address = this.channel?.remoteAddress ?? 'unknown';
      const wait = throttle.waitMs(username, address);
      const answer = (ok: boolean, delayMs: number) => setTimeout(() => callback(null, ok), delayMs).unref();
      if (wait > 0) {
        throttle.failed(username, address);
        answer(false, Math.min(wait, 5000));
        return;
      }
      const ok = users.some((u) => u.username === username && sameSecret(u.password, password));
      if (ok) throttle.succeeded(username);
      else throttle.failed(username, address);
      answer(ok, ok ? 0 : 200);
    };
  }

  async start(): Promise<void> {
    keepSecureTokensOnMonotonicClock();
    const o = this.o;
    const server = new OPCUAServer({
      port: o.port,
      host: o.host,
      hostname: o.host,
      serverCertificateManager: await certificateManager(path.join(o.pkiDir, 'server')),
      userCertificateManager: await certificateManager(path.join(o.pkiDir, 'users')),
      securityModes: [MessageSecurityMode.SignAndEncrypt],
      securityPolicies: [SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep],
      allowAnonymous: o.allowAnonymous,
      userManager: { isValidUserAsync: this.checkUser() },
      nodeset_filename: [nodesets.standard, nodesets.di, nodesets.machineVision],
      serverInfo: { applicationUri: 'urn:inspection-station:station-server', productUri: 'urn:inspection-station' },
      buildInfo: { productName: 'inspection-station', manufacturerName: 'inspection-station' },
    });
    await server.initialize();
    this.build(server.engine.addressSpace!);
    await server.start();
    this.server = server;
    this.endpointUrl = server.getEndpointUrl();
  }

  async stop(): Promise<void> {
    // Results still arriving from the line are dropped from here on, not raised on a dead space.
    this.addressSpace = null;
    this.visionSystem = null;
    await this.server?.shutdown(0);
    this.server = null;
  }

  /** The server's certificate (DER), for clients that trust it explicitly. */
  certificate(): Buffer {
    return this.server!.getCertificate();
  }

  get serverCertificateDir(): string {
    return path.join(this.o.pkiDir, 'server');
  }

  private build(as: AddressSpace): void {
    this.addressSpace = as;
    const mv = as.getNamespaceIndex(MV_URI);
    const ns = as.registerNamespace(STATION_NAMESPACE_URI);
    const type = as.findObjectType('VisionSystemType', mv)!;
    const vs = type.instantiate({
      browseName: { name: 'VisionSystem', namespaceIndex: ns.index },
      organizedBy: as.rootFolder.objects,
      optionals: ['VisionStateMachine.AutomaticModeStateMachine', 'RecipeManagement', 'ResultManagement'],
    }) as UAObject;
    this.visionSystem = vs;
    // Clients subscribe to ResultReady on the VisionSystem, or on the Server object.
    vs.setEventNotifier(1);
    as.rootFolder.objects.server.addReference({ referenceType: 'HasNotifier', nodeId: vs.nodeId });

    const vsm = promoteToStateMachine(vs.getComponentByName('VisionStateMachine', mv) as UAObject);
    vsm.setState('Operational');
    const autoNode = (vs.getComponentByName('VisionStateMachine', mv) as UAObject).getComponentByName('AutomaticModeStateMachine', mv) as UAObject;
    this.auto = promoteToStateMachine(autoNode);
    this.auto.setState('Ready');
    const bind = (name: string, next: string, running: boolean | null) => {
      const m = autoNode.getMethodByName(name, mv) as UAMethod | null;
      // node-opcua tells promise methods from callback ones by their arity: (inputs, context).
      m?.bindMethod(async (inputs: Variant[], _context: unknown) => {
        // StartSingleJob / StartContinuous carry a RecipeId (third argument): switch to it first.
        const recipeId = running ? (inputs[2]?.value as { id?: string } | null)?.id : undefined;
        if (recipeId) {
          if (!this.o.recipes.includes(recipeId)) return { statusCode: StatusCodes.BadInvalidArgument };
          this.switchRecipe(recipeId);
        }
        if (running !== null) this.o.setRunning(running);
        this.auto!.setState(next);
        return { statusCode: StatusCodes.Good, outputArguments: outputsOf(m, {}) };
      });
    };
    bind('StartContinuous', 'ContinuousExecution', true);
    bind('StartSingleJob', 'SingleExecution', true);
    bind('Stop', 'Ready', false);
    bind('Abort', 'Ready', false);

    // Recipe management (OPC 40100-1): PrepareRecipe(ExternalId, InternalIdIn) → (InternalIdOut, IsCompleted, Error)
    // switches the line's recipe to the one whose name is the ExternalId's id. Stop and Abort take (Cause, CauseDescription).
    const rm = vs.getComponentByName('RecipeManagement', mv) as UAObject;
    const prepare = rm.getMethodByName('PrepareRecipe', mv) as UAMethod;
    prepare.bindMethod(async (args: Variant[], _context: unknown) => {
      const ext = args[0]?.value as { id?: string } | null;
      const name = ext?.id ?? '';
      if (!this.o.recipes.includes(name)) return { statusCode: StatusCodes.BadInvalidArgument };
      this.switchRecipe(name);
      return { statusCode: StatusCodes.Good, outputArguments: outputsOf(prepare, { id: name }) };
    });

    // The station's own facts, beside the VisionSystem.
    const station = ns.addObject({ browseName: 'Station', organizedBy: as.rootFolder.objects });
    // The station's own facts: read-only to every client (only the station changes them).
    const fact = (browseName: string, dataType: 'String' | 'UInt32', value: string | number) =>
      ns.addVariable({
        componentOf: station,
        browseName,
        accessLevel: 'CurrentRead',
        userAccessLevel: 'CurrentRead',
        dataType,
        value: { dataType: DataType[dataType], value },
      });
    this.counterVars.currentRecipe = fact('CurrentRecipe', 'String', this.o.currentRecipe);
    this.counterVars.inspected = fact('Inspected', 'UInt32', 0);
    this.counterVars.rejected = fact('Rejected', 'UInt32', 0);
    this.counterVars.uninspected = fact('Uninspected', 'UInt32', 0);
  }

  private switchRecipe(name: string): void {
    this.o.selectRecipe(name);
    this.counterVars.currentRecipe?.setValueFromSource(new Variant({ dataType: DataType.String, value: name }));
  }

  /** Counts a result and raises ResultReady on the VisionSystem (PartId, ProcessingTimes, ResultState). */
  publish(r: InspectionResult): void {
    try {
      this.raiseResult(r);
    } catch (err) {
      // A failing sink never stops the line: counted, reported once.
      this.publishErrors++;
      this.o.onError?.(err);
    }
  }

  publishErrors = 0;

  private raiseResult(r: InspectionResult): void {
    const as = this.addressSpace;
    if (!as || !this.visionSystem) return;
    this.counters.inspected++;
    if (r.verdict === 'fail') this.counters.rejected++;
    if (r.verdict === 'uninspected') this.counters.uninspected++;
    for (const k of ['inspected', 'rejected', 'uninspected'] as const) {
      this.counterVars[k]?.setValueFromSource(new Variant({ dataType: DataType.UInt32, value: this.counters[k] }));
    }
    const mv = as.getNamespaceIndex(MV_URI);
    const eventType = as.findEventType('ResultReadyEventType', mv)!;
    const construct = (name: string, fields: Record<string, unknown>) => as.constructExtensionObject(as.findDataType(name, mv)!, fields);
    const t = r.timings;
    this.visionSystem.raiseEvent(eventType, {
      resultId: { dataType: DataType.ExtensionObject, value: construct('ResultIdDataType', { id: `${r.source}-${r.seq}-${r.timestamp}` }) },
      partId: {
        dataType: DataType.ExtensionObject,
        value: construct('PartIdDataType', { id: r.partId ?? String(r.seq), description: r.lot ? { text: `lot ${r.lot}` } : undefined }),
      },
      internalRecipeId: { dataType: DataType.ExtensionObject, value: construct('RecipeIdInternalDataType', { id: `${r.recipe}@${r.recipeVersion}` }) },
      resultState: { dataType: DataType.Int32, value: r.verdict === 'pass' ? 1 : r.verdict === 'fail' ? 2 : 0 },
      isSimulated: { dataType: DataType.Boolean, value: false },
      isPartial: { dataType: DataType.Boolean, value: false },
      processingTimes: {
        dataType: DataType.ExtensionObject,
        value: construct('ProcessingTimesDataType', {
          startTime: new Date(r.timestamp),
          endTime: new Date(r.decidedAt),
          acquisitionDuration: t.queue,
          processingDuration: processingMs(t),
        }),
      },
    });
  }
}

/** Output arguments of a method filled with neutral values, the identifiers from `id`. */
function outputsOf(m: UAMethod | null, id: { id?: string }): Variant[] {
  const args = (m?.getOutputArguments() ?? []) as { dataType: { toString(): string }; valueRank: number }[];
  const as = m?.addressSpace;
  return args.map((a) => {
    const dt = as?.findDataType(a.dataType as never);
    const name = dt?.browseName.name ?? '';
    if (name.endsWith('DataType') && as && dt)
      return new Variant({ dataType: DataType.ExtensionObject, value: as.constructExtensionObject(dt, { id: id.id ?? '' }) });
    if (name === 'Boolean') return new Variant({ dataType: DataType.Boolean, value: true });
    if (name === 'Int32') return new Variant({ dataType: DataType.Int32, value: 0 });
    return new Variant({ dataType: DataType.Null });
  });
}

/** Constant-time comparison of two secrets (of any lengths: their digests are compared). */
function sameSecret(a: string, b: string): boolean {
  const h = (x: string) => createHash('sha256').update(x).digest();
  return timingSafeEqual(h(a), h(b));
}
