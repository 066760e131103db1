import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll } from 'vitest';
import { plateRecipe, validateConfig } from '../../src/config/index.js';
import { SHIPPED_MODEL } from '../../src/paths.js';
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

/**
 * The configuration of station `id` (data in `dir`) inspecting a PLC-triggered synthetic line
 * (source `cam`) for the simulator `sim`, logged in as its user; `plc` adds to the PLC section,
 * `recipes` replaces the one plate recipe (the source runs `recipe`, default the first).
 */
export function plcStationConfig(
  dir: string,
  id: string,
  sim: LineSimulator,
  o: {
    plc?: Record<string, unknown>;
    line?: Record<string, number>;
    recipes?: Record<string, Record<string, unknown>>;
    /** Further top-level sections (the station's own OPC UA server, …). */
    extra?: Record<string, unknown>;
  } = {},
) {
  const recipes = o.recipes ?? { plate: {} };
  return validateConfig(
    {
      station: { id },
      http: { port: 0 },
      storage: { dataDir: dir },
      line: o.line ?? {},
      plc: { endpoint: sim.endpointUrl, user: { username: 'station', password: PLC_PASSWORD }, ...o.plc },
      sources: [{ name: 'cam', uri: 'synthetic:?seed=42&defectRate=0.3&trigger=plc', recipe: Object.keys(recipes)[0] }],
      recipes: Object.fromEntries(Object.entries(recipes).map(([name, r]) => [name, { ...plateRecipe(SHIPPED_MODEL), keepGood: 0, ...r }])),
      ...o.extra,
    },
    dir,
  );
}
