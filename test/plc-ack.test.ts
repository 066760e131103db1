import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startStation, type Station } from '../src/main.js';
import { lineSimulator, plcStationConfig, until } from './helpers/plc.js';
import { tmpDir } from './helpers/tmp.js';

const quiet = pino({ level: 'silent' });
const stations: Station[] = [];
afterEach(async () => {
  for (const s of stations.splice(0)) await s.stop();
});

describe('the result acknowledge handshake (ResultAck)', () => {
  it('counts the results the PLC acknowledges, and degrades health when it stops acknowledging', async () => {
    const dir = tmpDir();
    const sim = await lineSimulator(dir, { travelMs: 1500 }, { dataDir: dir, id: 'ack-1' });
    const config = plcStationConfig(dir, 'ack-1', sim, {
      line: { deadlineMs: 1200 },
      plc: { tags: { ResultAck: 'Line/ResultAck' }, ackTimeoutMs: 300, heartbeatMs: 100 },
    });
    const s = await startStation({ config, log: quiet });
    stations.push(s);
    const gate = s.gate!;
    await gate.whenReady();
    sim.startConveyor();
    await until('10 results written', () => gate.counters.written >= 10, 30_000);
    // Acknowledged as the PLC takes them; nothing overdue, health clean.
    await until('10 acknowledged', () => gate.ack.acknowledged >= 10);
    expect(gate.ack.unacknowledged).toBe(0);
    const health = async () => (await s.api!.inject({ method: 'GET', url: '/api/health' })).json() as { status: string; problems: string[] };
    expect((await health()).problems.filter((p) => p.includes('ResultAck'))).toEqual([]);

    // The PLC stops acknowledging: each result written from now on is overdue after 300 ms.
    sim.acknowledging = false;
    const acked = gate.ack.acknowledged;
    await until('5 unacknowledged', () => gate.ack.unacknowledged >= 5, 30_000);
    // At most the results already on their way when it stopped were still acknowledged.
    expect(gate.ack.acknowledged - acked).toBeLessThanOrEqual(2);
    const h = await health();
    expect(h.status).toBe('degraded');
    expect(h.problems.some((p) => /results not acknowledged \(ResultAck\)/.test(p))).toBe(true);
    await sim.drain();
  }, 90_000);
});
