import path from 'node:path';
import {
  AttributeIds,
  ClientMonitoredItem,
  ClientSubscription,
  DataType,
  VariantArrayType,
  constructEventFilter,
  resolveNodeId,
  type Variant,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
  makeBrowsePath,
  type ClientSession,
} from 'node-opcua';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { plateRecipe, validateConfig } from '../src/config/index.js';
import type { InspectionResult } from '../src/line/index.js';
import { startStation, type Station } from '../src/main.js';
import { SHIPPED_MODEL } from '../src/paths.js';
import { certificateManager, listCertificates, rejectCertificate, trustEachOther } from '../src/plc/index.js';
import { lineSimulator, plcStationConfig, until } from './helpers/plc.js';
import { tmpDir } from './helpers/tmp.js';

const MV = 'http://opcfoundation.org/UA/MachineVision';
let station: Station | null = null;
let client: OPCUAClient | null = null;
afterEach(async () => {
  await client?.disconnect();
  client = null;
  await station?.stop();
  station = null;
});

async function start(results: InspectionResult[]): Promise<{ dir: string; s: Station }> {
  const dir = tmpDir();
  const config = validateConfig(
    {
      station: { id: 'mv-test' },
      http: { port: 0 },
      storage: { dataDir: dir },
      opcua: { port: 0, users: [{ username: 'operator', passwordEnv: 'MV_TEST_PASSWORD' }] },
      sources: [{ name: 'cam', uri: 'synthetic:?seed=5&defectRate=0.3&rate=10', recipe: 'plate' }],
      recipes: {
        plate: { ...plateRecipe(SHIPPED_MODEL), keepGood: 0 },
        'plate-strict': { ...plateRecipe(SHIPPED_MODEL), keepGood: 0, thresholds: { default: { minScore: 0.2 } } },
      },
    },
    dir,
  );
  station = await startStation({ config, log: pino({ level: 'silent' }), env: { MV_TEST_PASSWORD: 's3cret-pw' }, onResult: (r) => results.push(r) });
  return { dir, s: station };
}

async function connect(dir: string, s: Station, user: { userName: string; password: string } | null): Promise<ClientSession> {
  const pki = path.join(dir, 'pki', 'mv-client');
  await trustEachOther(pki, 'urn:mv-test-client', s.opcua!.serverCertificateDir, s.opcua!.certificate());
  const cm = await certificateManager(pki);
  client = OPCUAClient.create({
    applicationUri: 'urn:mv-test-client',
    applicationName: 'mv-test-client',
    clientCertificateManager: cm,
    securityMode: MessageSecurityMode.SignAndEncrypt,
    securityPolicy: SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
  });
  // No retry: the server reads its trusted folder again when it has changed, so the trust decides this first handshake.
  await client.connect(s.opcua!.endpointUrl);
  return client.createSession(user ? { type: UserTokenType.UserName, ...user } : { type: UserTokenType.Anonymous });
}

async function nodeAt(session: ClientSession, ns: string[], browsePath: string): Promise<string> {
  const path = browsePath.replace(/MV:/g, `${ns.indexOf(MV)}:`).replace(/ST:/g, `${ns.indexOf('urn:inspection-station:station')}:`);
  const r = await session.translateBrowsePath(makeBrowsePath('ObjectsFolder', path));
  if (!r.statusCode.isGood()) throw new Error(`${browsePath}: ${r.statusCode.name}`);
  return r.targets![0].targetId.toString();
}

/** Calls a method with each declared input argument filled: extension objects by `{ id }`, others empty. */
async function call(session: ClientSession, objectId: string, methodId: string, id = ''): Promise<string> {
  const def = await session.getArgumentDefinition(resolveNodeId(methodId));
  const inputArguments = await Promise.all(
    (def.inputArguments ?? []).map(async (a) => {
      if (a.dataType.namespace === 0) {
        if (a.valueRank === 1) return { dataType: DataType.Variant, arrayType: VariantArrayType.Array, value: [] };
        return { dataType: a.dataType.value as number, value: a.dataType.value === DataType.String ? '' : 0 };
      }
      return { dataType: DataType.ExtensionObject, value: await session.constructExtensionObject(a.dataType, { id }) };
    }),
  );
  return (await session.call({ objectId, methodId, inputArguments })).statusCode.name;
}

/** The server's namespace array and the Machine Vision namespace index in it. */
async function namespaces(session: ClientSession): Promise<{ ns: string[]; mv: number }> {
  const ns = (await session.read({ nodeId: 'ns=0;i=2255', attributeId: AttributeIds.Value })).value.value as string[];
  return { ns, mv: ns.indexOf(MV) };
}

/** A subscription to the VisionSystem's ResultReady events: `fields` (after EventType) of each event go to `onEvent`. */
async function resultReadyEvents(session: ClientSession, ns: string[], fields: string[], onEvent: (values: Variant[]) => void): Promise<ClientSubscription> {
  const sub = ClientSubscription.create(session, {
    requestedPublishingInterval: 100,
    requestedMaxKeepAliveCount: 5,
    requestedLifetimeCount: 60,
    publishingEnabled: true,
    maxNotificationsPerPublish: 100,
    priority: 1,
  });
  await new Promise<void>((resolve) => sub.once('started', () => resolve()));
  const item = ClientMonitoredItem.create(
    sub,
    { nodeId: await nodeAt(session, ns, '/ST:VisionSystem'), attributeId: AttributeIds.EventNotifier },
    { samplingInterval: 0, queueSize: 1000, discardOldest: true, filter: constructEventFilter(['EventType', ...fields]) },
  );
  item.on('changed', (values: Variant[]) => onEvent(values.slice(1)));
  return sub;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the station as an OPC UA server (Machine Vision, Simple Inline)', () => {
  it('switches the running line to another recipe when PrepareRecipe is called', async () => {
    const results: InspectionResult[] = [];
    const { dir, s } = await start(results);
    const session = await connect(dir, s, { userName: 'operator', password: 's3cret-pw' });
    const { ns, mv } = await namespaces(session);
    expect(mv).toBeGreaterThan(0);
    const state = await session.read({
      nodeId: await nodeAt(session, ns, '/ST:VisionSystem/MV:VisionStateMachine/CurrentState'),
      attributeId: AttributeIds.Value,
    });
    expect(state.value.value.text).toBe('Operational');

    await sleep(500);
    expect(s.opcua!.publishErrors).toBe(0);
    expect(results.length).toBeGreaterThan(0);
    expect(results.every((r) => r.recipe === 'plate')).toBe(true);

    const rm = await nodeAt(session, ns, '/ST:VisionSystem/MV:RecipeManagement');
    const prepare = await nodeAt(session, ns, '/ST:VisionSystem/MV:RecipeManagement/MV:PrepareRecipe');
    const externalId = await session.constructExtensionObject(resolveNodeId(`ns=${mv};i=3002`), { id: 'plate-strict' });
    const productId = await session.constructExtensionObject(resolveNodeId(`ns=${mv};i=3003`), { id: 'plate' });
    const res = await session.call({
      objectId: rm,
      methodId: prepare,
      inputArguments: [
        { dataType: DataType.ExtensionObject, value: externalId },
        { dataType: DataType.ExtensionObject, value: productId },
      ],
    });
    expect(res.statusCode.name).toBe('Good');
    const switchedAt = Date.now();
    await sleep(800);
    const after = results.filter((r) => r.timestamp > switchedAt + 100);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((r) => r.recipe === 'plate-strict')).toBe(true);
    const current = await session.read({ nodeId: await nodeAt(session, ns, '/ST:Station/ST:CurrentRecipe'), attributeId: AttributeIds.Value });
    expect(current.value.value).toBe('plate-strict');

    // An unknown recipe is refused and changes nothing.
    const unknown = await session.call({
      objectId: rm,
      methodId: prepare,
      inputArguments: [
        { dataType: DataType.ExtensionObject, value: await session.constructExtensionObject(resolveNodeId(`ns=${mv};i=3002`), { id: 'nope' }) },
        { dataType: DataType.ExtensionObject, value: productId },
      ],
    });
    expect(unknown.statusCode.name).toBe('BadInvalidArgument');
  });

  it('stops inspecting on Stop (parts become uninspected, a fail-safe reject) and resumes on StartContinuous', async () => {
    const results: InspectionResult[] = [];
    const { dir, s } = await start(results);
    const session = await connect(dir, s, { userName: 'operator', password: 's3cret-pw' });
    const { ns } = await namespaces(session);
    const auto = await nodeAt(session, ns, '/ST:VisionSystem/MV:VisionStateMachine/MV:AutomaticModeStateMachine');
    const stop = await nodeAt(session, ns, '/ST:VisionSystem/MV:VisionStateMachine/MV:AutomaticModeStateMachine/MV:Stop');
    const startC = await nodeAt(session, ns, '/ST:VisionSystem/MV:VisionStateMachine/MV:AutomaticModeStateMachine/MV:StartContinuous');
    expect(await call(session, auto, stop)).toBe('Good');
    const stoppedAt = Date.now();
    await sleep(600);
    const stopped = results.filter((r) => r.timestamp > stoppedAt + 100);
    expect(stopped.length).toBeGreaterThan(0);
    expect(stopped.every((r) => r.verdict === 'uninspected' && r.errorCode === 'STN_ERR_LINE_STOPPED')).toBe(true);
    expect(await call(session, auto, startC, 'plate')).toBe('Good');
    const startedAt = Date.now();
    await sleep(600);
    expect(results.filter((r) => r.timestamp > startedAt + 100).every((r) => r.verdict !== 'uninspected')).toBe(true);
  });

  it('raises a ResultReady event for every part, carrying its PartId and result state', async () => {
    const results: InspectionResult[] = [];
    const { dir, s } = await start(results);
    const session = await connect(dir, s, { userName: 'operator', password: 's3cret-pw' });
    const { ns, mv } = await namespaces(session);
    const events: { partId: string; state: number }[] = [];
    const sub = await resultReadyEvents(session, ns, [`${mv}:PartId`, `${mv}:ResultState`], (f) => events.push({ partId: f[0].value?.id, state: f[1].value }));
    await sleep(1500);
    await sub.terminate();
    expect(events.length).toBeGreaterThan(3);
    const bySeq = new Map(results.map((r) => [String(r.seq), r]));
    for (const e of events) {
      const r = bySeq.get(e.partId)!;
      expect(r).toBeDefined();
      expect(e.state).toBe(r.verdict === 'pass' ? 1 : r.verdict === 'fail' ? 2 : 0);
    }
  });

  it("carries the PLC's serial as ResultReady's PartId and its lot as the description, for parts the PLC triggered", async () => {
    const dir = tmpDir();
    const sim = await lineSimulator(dir, { travelMs: 2500 }, { dataDir: dir, id: 'mv-ident' });
    const config = plcStationConfig(dir, 'mv-ident', sim, {
      line: { deadlineMs: 2000 },
      plc: { tags: { PartId: 'Line/PartId', Lot: 'Line/Lot' } },
      extra: { opcua: { port: 0, users: [{ username: 'operator', passwordEnv: 'MV_TEST_PASSWORD' }] } },
    });
    const results: InspectionResult[] = [];
    station = await startStation({ config, log: pino({ level: 'silent' }), env: { MV_TEST_PASSWORD: 's3cret-pw' }, onResult: (r) => results.push(r) });
    await station.gate!.whenReady();
    const session = await connect(dir, station, { userName: 'operator', password: 's3cret-pw' });
    const { ns, mv } = await namespaces(session);
    const events: { id: string; description: string | null }[] = [];
    const sub = await resultReadyEvents(session, ns, [`${mv}:PartId`], (f) =>
      events.push({ id: f[0].value?.id, description: f[0].value?.description?.text ?? null }),
    );
    sim.startConveyor();
    await until('10 ResultReady events', () => events.length >= 10, 60_000);
    await sub.terminate();
    await sim.drain();
    const bySerial = new Map(results.map((r) => [r.partId, r]));
    for (const e of events) {
      const r = bySerial.get(e.id);
      expect(r, `an event for ${e.id}`).toBeDefined();
      expect(e.id).toMatch(/^SN-\d{12}-\d{8}$/);
      expect(e.description).toBe(`lot ${r!.lot}`);
    }
    await sim.stop();
  }, 120_000);

  it('counts every part in the Station object (Inspected, Rejected, Uninspected)', async () => {
    const results: InspectionResult[] = [];
    const { dir, s } = await start(results);
    const session = await connect(dir, s, { userName: 'operator', password: 's3cret-pw' });
    const { ns } = await namespaces(session);
    await sleep(800);
    const read = async (name: string) =>
      (await session.read({ nodeId: await nodeAt(session, ns, `/ST:Station/ST:${name}`), attributeId: AttributeIds.Value })).value.value as number;
    const [inspected, rejected, uninspected] = [await read('Inspected'), await read('Rejected'), await read('Uninspected')];
    const seen = results.filter((r) => r.decidedAt <= Date.now());
    expect(inspected).toBeGreaterThan(5);
    expect(inspected).toBeLessThanOrEqual(seen.length);
    expect(rejected).toBeLessThanOrEqual(seen.filter((r) => r.verdict === 'fail').length);
    expect(uninspected).toBeLessThanOrEqual(seen.filter((r) => r.verdict === 'uninspected').length);
    expect(s.opcua!.publishErrors).toBe(0);
  });

  it('refuses a client whose certificate was moved back to rejected, at its next connection, without a restart', async () => {
    const { dir, s } = await start([]);
    const session = await connect(dir, s, { userName: 'operator', password: 's3cret-pw' });
    await session.close();
    await client!.disconnect();
    const trusted = listCertificates(s.opcua!.serverCertificateDir).filter((e) => e.state === 'trusted');
    expect(trusted).toHaveLength(1);
    const revoked = rejectCertificate(s.opcua!.serverCertificateDir, trusted[0].file);
    expect(revoked).toMatch(/\.(pem|der)$/);
    await expect(client!.connect(s.opcua!.endpointUrl)).rejects.toThrow();
  }, 60_000);

  it('refuses anonymous sessions by default', async () => {
    const { dir, s } = await start([]);
    await expect(connect(dir, s, null)).rejects.toThrow();
  });

  it('refuses a wrong password', async () => {
    const { dir, s } = await start([]);
    await expect(connect(dir, s, { userName: 'operator', password: 'guess' })).rejects.toThrow();
  });
});

describe('the station OPC UA server against a client that misbehaves', () => {
  it('keeps its own counters read-only to clients (security finding 7: Inspected was writable)', async () => {
    const { dir, s } = await start([]);
    const session = await connect(dir, s, { userName: 'operator', password: 's3cret-pw' });
    const { ns } = await namespaces(session);
    for (const name of ['Inspected', 'Rejected', 'Uninspected', 'CurrentRecipe']) {
      const nodeId = await nodeAt(session, ns, `/ST:Station/ST:${name}`);
      const value = name === 'CurrentRecipe' ? { dataType: DataType.String, value: 'forged' } : { dataType: DataType.UInt32, value: 999_999 };
      const code = await session.write({ nodeId, attributeId: AttributeIds.Value, value: { value } });
      expect(code.name, name).toMatch(/^Bad(NotWritable|UserAccessDenied)$/);
      const level = await session.read({ nodeId, attributeId: AttributeIds.UserAccessLevel });
      expect(level.value.value & 2, `${name} UserAccessLevel has no CurrentWrite bit`).toBe(0);
    }
    const inspected = await session.read({ nodeId: await nodeAt(session, ns, '/ST:Station/ST:Inspected'), attributeId: AttributeIds.Value });
    expect(inspected.value.value).toBeLessThan(999_999);
  });

  it('slows repeated wrong passwords (security finding 11: 20 guesses in 1.8 s were not slowed)', async () => {
    const { dir, s } = await start([]);
    await connect(dir, s, { userName: 'operator', password: 's3cret-pw' });
    const t0 = Date.now();
    for (let i = 0; i < 8; i++) {
      await expect(client!.createSession({ type: UserTokenType.UserName, userName: 'operator', password: `guess-${i}` })).rejects.toThrow();
    }
    // 3 free failures, then waits of 0.5, 1, 2, 4 s (capped per answer at 5 s): far beyond 8 quick refusals.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4000);
  }, 60_000);
});
