import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { plateRecipe, validateConfig } from '../src/config/index.js';
import { combineViews, type InspectionResult } from '../src/line/index.js';
import { startStation, type Station } from '../src/main.js';
import { SHIPPED_MODEL } from '../src/paths.js';
import { certificateManager, LineSimulator, trustCertificate, trustEachOther, verdictCodeOf } from '../src/plc/index.js';
import { tmpDir } from './helpers/tmp.js';

const quiet = pino({ level: 'silent' });
const PASSWORD = LineSimulator.generatePassword();
const stations: Station[] = [];
const sims: LineSimulator[] = [];
afterEach(async () => {
  for (const s of stations.splice(0)) await s.stop();
  for (const s of sims.splice(0)) await s.stop();
});

async function simulator(
  dir: string,
  o: { port?: number; rate?: number; travelMs?: number; refuseResult?: (seq: number) => boolean } = {},
): Promise<LineSimulator> {
  const sim = new LineSimulator({
    port: o.port ?? 0,
    host: '127.0.0.1',
    rate: o.rate ?? 10,
    travelMs: o.travelMs ?? 800,
    seed: 42,
    defectRate: 0.3,
    pkiDir: path.join(dir, 'pki', 'plc-sim'),
    users: [{ username: 'station', password: PASSWORD }],
    refuseResult: o.refuseResult,
  });
  await sim.start();
  sims.push(sim);
  return sim;
}

/** What an administrator does once: each side trusts the other's certificate explicitly. */
function trustBoth(dir: string, sim: LineSimulator): Promise<void> {
  return trustEachOther(path.join(dir, 'pki', 'station'), 'urn:inspection-station:station:plc-test', sim.serverCertificateDir, sim.certificate());
}

async function station(
  dir: string,
  endpoint: string,
  o: { password?: string; onResult?: (r: InspectionResult) => void; sources?: { name: string; uri: string; recipe: string }[] } = {},
): Promise<Station> {
  const config = validateConfig(
    {
      station: { id: 'plc-test' },
      http: { port: 0 },
      storage: { dataDir: dir },
      line: { deadlineMs: 400 },
      plc: { endpoint, user: { username: 'station', password: o.password ?? PASSWORD }, reconnectMinMs: 100, reconnectMaxMs: 500, heartbeatMs: 200 },
      sources: o.sources ?? [{ name: 'cam', uri: 'synthetic:?seed=42&defectRate=0.3&trigger=plc', recipe: 'plate' }],
      recipes: { plate: { ...plateRecipe(SHIPPED_MODEL), keepGood: 0 } },
    },
    dir,
  );
  const s = await startStation({ config, log: quiet, onResult: o.onResult });
  stations.push(s);
  return s;
}

/** Every result the PLC received is the station's verdict for that very part, before its gate. */
function expectOwnVerdicts(received: LineSimulator['received'], results: Map<number, InspectionResult>): void {
  for (const got of received) {
    const r = results.get(got.seq)!;
    expect(r).toBeDefined();
    expect(got.verdict).toBe(verdictCodeOf(r.verdict));
    expect(got.delayMs).toBeLessThan(800);
    if (r.verdict === 'fail') expect(got.defectCode).toBeGreaterThan(0);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the reject gate against the line simulator (SignAndEncrypt, user name and password)', () => {
  it('passes good parts and rejects defective ones, with every verdict on its own part and in time', async () => {
    const dir = tmpDir();
    const sim = await simulator(dir);
    await trustBoth(dir, sim);
    const results = new Map<number, InspectionResult>();
    const s = await station(dir, sim.endpointUrl, { onResult: (r) => results.set(r.seq, r) });
    await s.gate!.whenReady(20_000);
    sim.startConveyor();
    await sleep(4000);
    await sim.drain();

    const c = sim.counters;
    expect(c.parts).toBeGreaterThanOrEqual(30);
    // Nothing arrived after its part had passed the gate, nothing for a part the PLC never had,
    // and every part without a result is one the station itself refused to deliver (counted).
    expect(c.late + c.stale).toBe(0);
    expect(c.missing).toBe(s.gate!.counters.late + s.gate!.counters.notConnected + s.gate!.counters.triggersMissed);
    expect(c.passedGood + c.rejectedDefective + c.escapes + c.falseRejects).toBe(c.parts);
    expect(c.rejectedDefective).toBeGreaterThan(0);
    expect(c.passedGood).toBeGreaterThan(0);
    // Every result the PLC received is the station's verdict for that very part, within the budget.
    expect(sim.received.length).toBe(c.parts - c.missing);
    expectOwnVerdicts(sim.received, results);
    // Escapes can only come from the model's own misses.
    const escapes = [...results.values()].filter((r) => r.truth?.defective && r.verdict === 'pass').length;
    expect(c.escapes).toBe(escapes);
    expect(c.failSafeRejects).toBe([...results.values()].filter((r) => r.verdict === 'uninspected').length);
    expect(s.gate!.counters.writeErrors).toBe(0);
  });

  it('two cameras on one part: the PLC gets one verdict per part, failing when either view fails; each view is recorded', async () => {
    const dir = tmpDir();
    const sim = await simulator(dir, { rate: 5 });
    await trustBoth(dir, sim);
    const results = new Map<string, InspectionResult>();
    const s = await station(dir, sim.endpointUrl, {
      onResult: (r) => results.set(`${r.source}#${r.seq}`, r),
      // The side camera sees more defects than the PLC's ground truth knows of: its rejects must reach the gate.
      sources: [
        { name: 'top', uri: 'synthetic:?seed=42&defectRate=0.3&trigger=plc', recipe: 'plate' },
        { name: 'side', uri: 'synthetic:?seed=7&defectRate=0.5&trigger=plc', recipe: 'plate' },
      ],
    });
    await s.gate!.whenReady(20_000);
    sim.startConveyor();
    await sleep(4000);
    await sim.drain();
    await s.recorder.flush();

    expect(sim.received.length).toBeGreaterThanOrEqual(10);
    let sideOnly = 0;
    for (const got of sim.received) {
      const top = results.get(`top#${got.seq}`)!,
        side = results.get(`side#${got.seq}`)!;
      const expected = combineViews([top, side], ['top', 'side']).verdict;
      expect(got.verdict).toBe(verdictCodeOf(expected));
      if (top.verdict === 'pass' && side.verdict === 'fail') sideOnly++;
    }
    expect(sideOnly).toBeGreaterThan(0);
    expect(sim.counters.late + sim.counters.stale).toBe(0);
    // One write per part, not per view.
    const seqs = sim.received.map((g) => g.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    await expect.poll(() => s.gate!.counters.written).toBe(seqs.length);
    expect(await s.db.inspection.count({ where: { partSeq: { in: seqs }, source: 'top' } })).toBe(seqs.length);
    expect(await s.db.inspection.count({ where: { partSeq: { in: seqs }, source: 'side' } })).toBe(seqs.length);
  });

  it('survives the PLC being killed and restarted: nothing late, nothing stale, Ready again', async () => {
    const dir = tmpDir();
    const first = await simulator(dir);
    await trustBoth(dir, first);
    const port = Number(new URL(first.endpointUrl).port);
    const results: InspectionResult[] = [];
    const s = await station(dir, first.endpointUrl, { onResult: (r) => results.push(r) });
    await s.gate!.whenReady(20_000);
    first.startConveyor();
    await sleep(1500);
    // Kill the PLC mid-run: parts in flight die with it.
    await first.stop();
    sims.splice(sims.indexOf(first), 1);
    await sleep(300);
    expect(s.gate!.state).toBe('reconnecting');
    await sleep(1000);
    const second = await simulator(dir, { port });
    const restartAt = Date.now();
    await s.gate!.whenReady(20_000);
    second.startConveyor();
    await sleep(2500);
    await second.drain();

    const c = second.counters;
    expect(c.parts).toBeGreaterThanOrEqual(15);
    // No old result replayed into the new run, none after its part's gate.
    expect(c.stale).toBe(0);
    expect(c.late).toBe(0);
    const after = new Map(results.filter((r) => r.timestamp >= restartAt).map((r) => [r.seq, r]));
    expectOwnVerdicts(second.received, after);
    expect(s.gate!.counters.connects).toBe(2);
  });
});

describe('a verdict the PLC did not take', () => {
  it("records it as what happened to the part: uninspected, with the PLC's refusal, never a pass or a fail the PLC did not get", async () => {
    const dir = tmpDir();
    // Every fourth part's result write is refused by the PLC (BadNotWritable): its gate rejects that part by default.
    const refused = (seq: number) => seq % 4 === 0;
    const sim = await simulator(dir, { refuseResult: refused });
    await trustBoth(dir, sim);
    const results = new Map<number, InspectionResult>();
    const s = await station(dir, sim.endpointUrl, { onResult: (r) => results.set(r.seq, r) });
    await s.gate!.whenReady(20_000);
    sim.startConveyor();
    await sleep(4000);
    await sim.drain();
    await s.recorder.flush();

    const seqs = [...results.keys()];
    const refusedSeqs = seqs.filter(refused);
    expect(refusedSeqs.length).toBeGreaterThanOrEqual(5);
    const rows = await s.db.inspection.findMany({
      where: { partSeq: { in: seqs } },
      select: { partSeq: true, verdict: true, errorCode: true, _count: { select: { images: true } } },
    });
    expect(rows.length).toBe(seqs.length);
    for (const row of rows) {
      const seq = Number(row.partSeq);
      const r = results.get(seq)!;
      // The record and what every listener heard agree.
      expect([row.verdict, row.errorCode ?? null]).toEqual([r.verdict, r.errorCode ?? null]);
      if (refused(seq)) {
        // The part's fate at the gate: the PLC's default reject (a part already too late was never written).
        expect(row.verdict).toBe('uninspected');
        expect(['STN_ERR_PLC_WRITE', 'STN_ERR_LINE_DEADLINE']).toContain(row.errorCode);
        // Like every fail-safe reject it keeps its images, though good parts keep none here (keepGood 0).
        expect(row._count.images).toBeGreaterThan(0);
      } else expect(row.errorCode).not.toBe('STN_ERR_PLC_WRITE');
    }
    const writeRefused = rows.filter((row) => row.errorCode === 'STN_ERR_PLC_WRITE').length;
    expect(writeRefused).toBeGreaterThan(0);
    expect(s.gate!.counters.writeErrors).toBe(writeRefused);
    // The PLC rejected by default exactly the parts the records call uninspected.
    expect(sim.counters.failSafeRejects).toBe(rows.filter((row) => row.verdict === 'uninspected').length);
    expect(sim.counters.escapes).toBe([...results.values()].filter((r) => r.truth?.defective && r.verdict === 'pass').length);
  });
});

describe('OPC UA security', () => {
  it('refuses an untrusted station certificate, then accepts it once trusted, without a restart', async () => {
    const dir = tmpDir();
    const sim = await simulator(dir);
    // The station trusts the PLC, but the PLC does not know the station yet.
    const stCm = await certificateManager(path.join(dir, 'pki', 'station'));
    await stCm.trustCertificate(sim.certificate());
    await stCm.dispose();
    const s = await station(dir, sim.endpointUrl);
    await sleep(2500);
    expect(s.gate!.state).not.toBe('ready');
    const rejected = path.join(sim.serverCertificateDir, 'rejected');
    expect(existsSync(rejected) && readdirSync(rejected).length).toBe(1);
    const moved = trustCertificate(sim.serverCertificateDir, readdirSync(rejected)[0]);
    expect(moved).toMatch(/\.(pem|der)$/);
    // The PLC reads its trusted folder again at the next handshake; the gate retries on its own reconnect interval.
    await s.gate!.whenReady(60_000);
  }, 90_000);

  it('does not trust an unknown PLC certificate', async () => {
    const dir = tmpDir();
    const sim = await simulator(dir);
    const s = await station(dir, sim.endpointUrl);
    await sleep(2500);
    expect(s.gate!.state).not.toBe('ready');
    expect(readdirSync(path.join(dir, 'pki', 'station', 'rejected')).length).toBe(1);
  });

  it('refuses a wrong password', async () => {
    const dir = tmpDir();
    const sim = await simulator(dir);
    await trustBoth(dir, sim);
    const s = await station(dir, sim.endpointUrl, { password: 'wrong-password' });
    await sleep(2500);
    expect(s.gate!.state).not.toBe('ready');
    expect(s.gate!.lastError).toMatch(/BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid|denied|rejected/i);
  });
});
