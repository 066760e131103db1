import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll } from 'vitest';
import { LineSimulator, type SimulatorOptions, trustEachOther } from '../../src/plc/index.js';

/** The password of the simulated PLC's one user, `station`. */
export const PLC_PASSWORD = LineSimulator.generatePassword();

const started: LineSimulator[] = [];
afterAll(async () => {
  for (const s of started.splice(0)) await s.stop();
});

/**
 * A line simulator (the PLC) on a free loopback port with its PKI under `dir/pki-plc`, stopped
 * when the file's tests end; with `trustStation`, it and the station whose data folder and id are
 * given trust each other, as an administrator would set them up once.
 */
export async function lineSimulator(dir: string, o: Partial<SimulatorOptions> = {}, trustStation?: { dataDir: string; id: string }): Promise<LineSimulator> {
  const sim = new LineSimulator({
    port: 0,
    host: '127.0.0.1',
    rate: 10,
    travelMs: 800,
    seed: 42,
    defectRate: 0.3,
    pkiDir: path.join(dir, 'pki-plc'),
    users: [{ username: 'station', password: PLC_PASSWORD }],
    ...o,
  });
  await sim.start();
  started.push(sim);
  if (trustStation) {
    await trustEachOther(
      path.join(trustStation.dataDir, 'pki', 'station'),
      `urn:inspection-station:station:${trustStation.id}`,
      sim.serverCertificateDir,
      sim.certificate(),
    );
  }
  return sim;
}

/** Waits until `check()` holds, polling; throws naming `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
