import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Station } from '../src/main.js';
import { plateRecipe, validateConfig } from '../src/config/index.js';
import { dayStart, shiftAt, type PlantClock } from '../src/config/plant.js';
import { SHIPPED_MODEL } from '../src/paths.js';
import { bucketOf } from '../src/store/repository.js';
import { station as cli } from './helpers/cli.js';
import { login, startTestStation, userWithRole } from './helpers/station.js';
import { tmpDir } from './helpers/tmp.js';

const berlin: PlantClock = {
  timeZone: 'Europe/Berlin',
  shifts: [
    { name: 'early', start: '06:00' },
    { name: 'late', start: '14:00' },
    { name: 'night', start: '22:00' },
  ],
};
const iso = (ms: number) => new Date(ms).toISOString();
const at = (s: string) => Date.parse(s);

describe("the plant's clock", () => {
  it("puts each hour in the plant's shift and day, across the changes to and from summer time", () => {
    // Winter (UTC+1): 04:30 local is the night shift that began at 22:00 local the day before.
    expect(shiftAt(berlin, at('2026-01-15T03:30:00Z'))).toEqual({ name: 'night', start: at('2026-01-14T21:00:00Z') });
    expect(shiftAt(berlin, at('2026-01-15T05:00:00Z'))).toEqual({ name: 'early', start: at('2026-01-15T05:00:00Z') });
    // Summer (UTC+2): the early shift starts at 04:00 UTC.
    expect(shiftAt(berlin, at('2026-07-01T04:00:00Z'))).toEqual({ name: 'early', start: at('2026-07-01T04:00:00Z') });
    expect(shiftAt(berlin, at('2026-07-01T03:59:00Z')).name).toBe('night');
    // The night of 28–29 March 2026 loses an hour (02:00 → 03:00): it began at 21:00 UTC and the early shift at 04:00 UTC.
    expect(shiftAt(berlin, at('2026-03-29T02:00:00Z'))).toEqual({ name: 'night', start: at('2026-03-28T21:00:00Z') });
    expect(shiftAt(berlin, at('2026-03-29T04:00:00Z'))).toEqual({ name: 'early', start: at('2026-03-29T04:00:00Z') });
    // Days start at local midnight: 22:00 UTC in summer, 23:00 UTC in winter.
    expect(iso(dayStart(berlin, at('2026-07-01T10:00:00Z')))).toBe('2026-06-30T22:00:00.000Z');
    expect(iso(dayStart(berlin, at('2026-12-03T23:30:00Z')))).toBe('2026-12-03T23:00:00.000Z');
    // The statistics' buckets follow it; hours stay UTC hours.
    expect(bucketOf(new Date('2026-01-15T03:00:00Z'), 'shift', berlin)).toEqual({ start: new Date('2026-01-14T21:00:00Z'), shift: 'night' });
    expect(bucketOf(new Date('2026-07-01T23:00:00Z'), 'day', berlin).start.toISOString()).toBe('2026-07-01T22:00:00.000Z');
    expect(bucketOf(new Date('2026-07-01T23:40:00Z'), 'hour', berlin).start.toISOString()).toBe('2026-07-01T23:00:00.000Z');
    // Without a configured zone: UTC, shifts from 06, 14 and 22 h.
    expect(bucketOf(new Date('2026-07-01T05:00:00Z'), 'shift')).toEqual({ start: new Date('2026-06-30T22:00:00Z'), shift: 'night' });
  });

  it('takes a zone with whole-hour offsets and shifts on the hour; refuses an unknown zone, a half-hour zone, and two shifts at one time', () => {
    const config = (plant: object) =>
      validateConfig(
        { station: { id: 'p' }, plant, sources: [{ name: 'cam', uri: 'synthetic:?count=1', recipe: 'plate' }], recipes: { plate: plateRecipe(SHIPPED_MODEL) } },
        process.cwd(),
      );
    expect(config({}).plant).toEqual({
      timeZone: 'UTC',
      shifts: [expect.objectContaining({ name: 'early', start: '06:00' }), expect.anything(), expect.anything()],
    });
    expect(
      config({
        timeZone: 'America/Chicago',
        shifts: [
          { name: 'day', start: '07:00' },
          { name: 'swing', start: '19:00' },
        ],
      }).plant.timeZone,
    ).toBe('America/Chicago');
    const refused = (plant: object) => {
      try {
        config(plant);
      } catch (err) {
        return (err as { code: string; message: string }).code + ' ' + (err as Error).message;
      }
      return 'accepted';
    };
    expect(refused({ timeZone: 'Mars/Olympus_Mons' })).toMatch(/STN_ERR_CONFIG_INVALID.*plant\.timeZone.*not an IANA time zone/s);
    expect(refused({ timeZone: 'Asia/Kolkata' })).toMatch(/STN_ERR_CONFIG_INVALID.*5\.5 h from UTC/s);
    expect(refused({ shifts: [{ name: 'a', start: '06:30' }] })).toMatch(/STN_ERR_CONFIG_INVALID.*plant\.shifts\.0\.start/s);
    expect(
      refused({
        shifts: [
          { name: 'a', start: '06:00' },
          { name: 'b', start: '06:00' },
        ],
      }),
    ).toMatch(/two shifts start at 06:00/);
  });
});

describe("the plant's clock on a station", () => {
  let s: Station | null = null;
  afterAll(async () => s?.stop());

  it("counts the yield per the plant's shifts and days in its zone, and tells the gallery the zone and the shift now", async () => {
    s = await startTestStation({ sources: [{ name: 'line', uri: 'synthetic:?seed=3&defectRate=0.3&rate=0&count=6' }], extra: { plant: berlin } });
    await s.line.whenIdle();
    await s.recorder.flush();
    const viewer = await userWithRole(s, 'viewer');
    const now = Date.now();
    const plant = (await s.api!.inject({ method: 'GET', url: '/api/plant', headers: viewer })).json();
    expect(plant).toMatchObject({ timeZone: 'Europe/Berlin', shifts: berlin.shifts });
    expect(plant.now).toEqual({
      shift: shiftAt(berlin, now).name,
      shiftStart: iso(shiftAt(berlin, now).start),
      dayStart: iso(dayStart(berlin, now)),
    });
    const shifts = (await s.api!.inject({ method: 'GET', url: '/api/stats/yield?bucket=shift', headers: viewer })).json().buckets;
    // Six parts made just now: one bucket, the Berlin shift they were made in, by name.
    expect(shifts).toEqual([expect.objectContaining({ start: iso(shiftAt(berlin, now).start), shift: shiftAt(berlin, now).name, parts: 6 })]);
    const days = (await s.api!.inject({ method: 'GET', url: '/api/stats/yield?bucket=day', headers: viewer })).json().buckets;
    expect(days).toEqual([expect.objectContaining({ start: iso(dayStart(berlin, now)), parts: 6 })]);
    const csv = (await s.api!.inject({ method: 'GET', url: '/api/stats/yield.csv?bucket=shift', headers: viewer })).body.trim().split('\n');
    expect(csv[0].split(',').slice(0, 3)).toEqual(['start', 'shift', 'parts']);
    expect(csv[1].split(',').slice(0, 3)).toEqual([iso(shiftAt(berlin, now).start), shiftAt(berlin, now).name, '6']);
  }, 60_000);

  it('reports the shift: its parts, yield, rejects by class, the highest-scoring rejects and the causes of fail-safe rejects; as JSON, as a PDF and from the command line', async () => {
    // The viewer the test before made.
    const viewer = { authorization: `Bearer ${(await login(s!, 'viewer', 'viewer-password')).body.token}` };
    const now = Date.now();
    const rep = (await s!.api!.inject({ method: 'GET', url: '/api/reports/shift', headers: viewer })).json();
    const fails = await s!.db.inspection.findMany({ where: { verdict: 'fail' }, orderBy: [{ maxScore: 'desc' }, { id: 'asc' }], select: { id: true } });
    const counts = { pass: await s!.db.inspection.count({ where: { verdict: 'pass' } }), fail: fails.length };
    expect(rep.shift).toMatchObject({ name: shiftAt(berlin, now).name, from: iso(shiftAt(berlin, now).start) });
    expect(rep).toMatchObject({ timeZone: 'Europe/Berlin', running: true, totals: { parts: 6, ...counts } });
    expect(rep.totals.yield).toBeCloseTo(counts.pass / 6, 4);
    expect(rep.facts.topRejects.map((r: { id: number }) => r.id)).toEqual(fails.slice(0, 10).map((f) => f.id));
    const classes = await s!.db.defect.groupBy({ by: ['class'], where: { rejecting: true }, _count: { _all: true } });
    expect(Object.fromEntries(rep.rejectsByClass.map((c: { class: string; count: number }) => [c.class, c.count]))).toEqual(
      Object.fromEntries(classes.map((c) => [c.class, c._count._all])),
    );
    // A shift the plant does not have: 404 with its code.
    const none = await s!.api!.inject({ method: 'GET', url: '/api/reports/shift?shift=graveyard', headers: viewer });
    expect([none.statusCode, none.json().code]).toEqual([404, 'STN_ERR_SHIFT_UNKNOWN']);
    // Yesterday's early shift: nothing made then.
    const y = new Date(dayStart(berlin, now) - 12 * 3_600_000);
    const day = `${y.getUTCFullYear()}-${String(y.getUTCMonth() + 1).padStart(2, '0')}-${String(y.getUTCDate()).padStart(2, '0')}`;
    const past = (await s!.api!.inject({ method: 'GET', url: `/api/reports/shift?date=${day}&shift=early`, headers: viewer })).json();
    expect(past).toMatchObject({ running: false, totals: { parts: 0 }, shift: { date: day, name: 'early' } });

    const pdf = await s!.api!.inject({ method: 'GET', url: '/api/reports/shift.pdf', headers: viewer });
    expect(pdf.headers['content-type']).toBe('application/pdf');
    expect(pdf.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
    if (spawnSync('pdftotext', ['-v']).error === undefined) {
      const text = spawnSync('pdftotext', ['-layout', '-', '-'], { input: pdf.rawPayload }).stdout.toString();
      expect(text).toContain(`Shift report: ${rep.shift.date}, ${rep.shift.name} shift`);
      expect(text).toContain(`Parts 6 · pass ${counts.pass} · fail ${counts.fail}`);
      expect(text).toContain('Europe/Berlin');
    }
    // The command line reads the same database (UTC clock without --config): the same six parts.
    const out = path.join(tmpDir(), 'shift.json');
    const run = await cli(['report', 'shift', '--data', s!.config.storage.dataDir, '--out', out]);
    expect(run.code, run.stderr).toBe(0);
    const fromCli = JSON.parse(readFileSync(out, 'utf8'));
    expect(fromCli).toMatchObject({ timeZone: 'UTC', totals: { parts: 6, ...counts } });
  }, 60_000);
});
