import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { InspectionResult } from '../src/line/index.js';
import { startStation, type Station } from '../src/main.js';
import { LOT_MAX, PART_ID_MAX, partIdentity, type SimulatedIdentity, VerdictCode } from '../src/plc/index.js';
import { lineSimulator, plcStationConfig, until } from './helpers/plc.js';
import { tmpDir } from './helpers/tmp.js';

const quiet = pino({ level: 'silent' });
const stations: Station[] = [];
afterEach(async () => {
  for (const s of stations.splice(0)) await s.stop();
});

describe("a part's identity from the PLC, checked where it is read", () => {
  it('keeps a good serial and lot as they are, and names what makes one unusable', () => {
    expect(partIdentity({ PartId: 'SN-1', Lot: 'L-7', RecipeSelect: 2 })).toEqual({ partId: 'SN-1', lot: 'L-7', recipeNumber: 2 });
    // Too long: cut to the column, kept printable, the part uninspected.
    const long = partIdentity({ PartId: 'x'.repeat(PART_ID_MAX + 1) });
    expect(long.error).toBe('STN_ERR_PART_ID');
    expect(long.partId).toHaveLength(PART_ID_MAX);
    // Invalid UTF-8 in a String tag arrives as U+FFFD; control characters are not a serial either.
    expect(partIdentity({ PartId: 'SN-\uFFFD1' })).toEqual({ partId: 'SN-?1', error: 'STN_ERR_PART_ID' });
    expect(partIdentity({ PartId: 'SN-\u00001' }).error).toBe('STN_ERR_PART_ID');
    expect(partIdentity({ PartId: null }).error).toBe('STN_ERR_PART_ID');
    expect(partIdentity({ PartId: 'SN-1', Lot: '   ' })).toEqual({ partId: 'SN-1', lot: '   ', error: 'STN_ERR_PART_LOT' });
    expect(partIdentity({ Lot: 'L'.repeat(LOT_MAX + 1) }).error).toBe('STN_ERR_PART_LOT');
    // A serial and a lot that are both bad: the serial's code (the first the PLC has to mend).
    expect(partIdentity({ PartId: '', Lot: '' }).error).toBe('STN_ERR_PART_ID');
    // RecipeSelect that is not a UInt16 selects no recipe (0).
    expect(partIdentity({ RecipeSelect: 'two' }).recipeNumber).toBe(0);
    expect(partIdentity({ RecipeSelect: 70_000 }).recipeNumber).toBe(0);
    // Tags not configured: nothing.
    expect(partIdentity({})).toEqual({});
  });
});

/** What the simulated PLC writes: two recipes in turn, and now and then an identity a station must refuse. */
function identity(seq: number): SimulatedIdentity & { expect: { recipe: string; code?: string } } {
  const good = { partId: `SN-${String(seq).padStart(6, '0')}`, lot: `LOT-${Math.ceil(seq / 20)}`, recipeSelect: seq % 2 === 1 ? 1 : 2 };
  const recipe = good.recipeSelect === 1 ? 'odd' : 'even';
  switch (seq % 10) {
    case 3:
      return { ...good, partId: 'X'.repeat(PART_ID_MAX + 72), expect: { recipe, code: 'STN_ERR_PART_ID' } };
    case 5:
      return { ...good, lot: '', expect: { recipe, code: 'STN_ERR_PART_LOT' } };
    case 7:
      // A number no recipe has: the source's own recipe names the record.
      return { ...good, recipeSelect: 9, expect: { recipe: 'odd', code: 'STN_ERR_RECIPE_SELECT' } };
    case 9:
      // A lone surrogate goes on the wire as the bytes of U+FFFD: what invalid UTF-8 decodes to.
      return { ...good, partId: `SN-\uD800-${seq}`, expect: { recipe, code: 'STN_ERR_PART_ID' } };
    default:
      return { ...good, expect: { recipe } };
  }
}

describe('part identity and recipe selection over OPC UA', () => {
  it('records each part with the serial, lot and recipe the PLC gave it, rejects unusable identities fail-safe, and finds a part by serial and a lot', async () => {
    const dir = tmpDir();
    const sim = await lineSimulator(dir, { travelMs: 2500, identity }, { dataDir: dir, id: 'ident-1' });
    const config = plcStationConfig(dir, 'ident-1', sim, {
      line: { deadlineMs: 2000 },
      plc: { tags: { PartId: 'Line/PartId', Lot: 'Line/Lot', RecipeSelect: 'Line/RecipeSelect' } },
      recipes: { odd: { number: 1 }, even: { number: 2 } },
    });
    const results: InspectionResult[] = [];
    const s = await startStation({ config, log: quiet, onResult: (r) => results.push(r) });
    stations.push(s);
    await s.gate!.whenReady();
    sim.startConveyor();
    await until('40 parts', () => results.length >= 40, 60_000);
    await sim.drain();
    await s.recorder.flush();

    const records = new Map((await s.repo.listInspections({ limit: 500 })).items.map((i) => [i.partSeq, i]));
    expect(records.size).toBe(results.length);
    const seen = new Set<string>();
    for (const r of results) {
      const want = identity(r.seq);
      const rec = records.get(r.seq)!;
      expect({ seq: r.seq, recipe: rec.recipe }).toEqual({ seq: r.seq, recipe: want.expect.recipe });
      if (want.expect.code) {
        seen.add(want.expect.code);
        expect({ seq: r.seq, verdict: rec.verdict, code: rec.errorCode }).toEqual({ seq: r.seq, verdict: 'uninspected', code: want.expect.code });
        // What arrived is kept, printable and cut to the column.
        expect(rec.partId!.length).toBeLessThanOrEqual(PART_ID_MAX);
        expect(rec.partId).not.toMatch(/[\uFFFD\uD800]/);
      } else {
        expect({ seq: r.seq, partId: rec.partId, lot: rec.lot }).toEqual({ seq: r.seq, partId: want.partId, lot: want.lot });
        expect(rec.errorCode === null || rec.errorCode === 'STN_ERR_LINE_DEADLINE').toBe(true);
      }
    }
    expect([...seen].sort()).toEqual(['STN_ERR_PART_ID', 'STN_ERR_PART_LOT', 'STN_ERR_RECIPE_SELECT']);
    // The PLC heard UNINSPECTED (a fail-safe reject) for every part with an unusable identity.
    for (const got of sim.received) {
      if (identity(got.seq).expect.code) expect({ seq: got.seq, verdict: got.verdict }).toEqual({ seq: got.seq, verdict: VerdictCode.UNINSPECTED });
    }

    // Genealogy through the API: a serial finds its one inspection, a lot finds all of its parts.
    const u = await s.accounts.createUser('viewer-ident', 'viewer', 'a-long-password');
    const auth = { authorization: `Bearer ${(await s.accounts.createApiKey(u.id, 'test', 'viewer')).key}` };
    const part = results.find((r) => !identity(r.seq).expect.code)!;
    const bySerial = await s.api!.inject({ method: 'GET', url: `/api/inspections?partId=${identity(part.seq).partId}`, headers: auth });
    expect(bySerial.statusCode).toBe(200);
    expect(bySerial.json().items.map((i: { partSeq: number }) => i.partSeq)).toEqual([part.seq]);
    const lot = identity(part.seq).lot!;
    const byLot = await s.api!.inject({ method: 'GET', url: `/api/inspections?lot=${lot}&limit=500`, headers: auth });
    const inLot = [...records.values()].filter((i) => i.lot === lot).map((i) => i.partSeq);
    expect(
      byLot
        .json()
        .items.map((i: { partSeq: number }) => i.partSeq)
        .sort(),
    ).toEqual(inLot.sort());
    expect((await s.api!.inject({ method: 'GET', url: `/api/inspections?partId=${'x'.repeat(PART_ID_MAX + 1)}`, headers: auth })).statusCode).toBe(400);
    const csv = await s.api!.inject({ method: 'GET', url: `/api/inspections.csv?partId=${identity(part.seq).partId}`, headers: auth });
    expect(csv.body.split('\n')[0]).toMatch(/,partId,lot,code,review$/);
    expect(csv.body.split('\n')[1]).toContain(`,${identity(part.seq).partId},${lot}`);
  }, 120_000);
});
