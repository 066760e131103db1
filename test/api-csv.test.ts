/**
 * `GET /api/inspections.csv`: the listing's filters, streamed from the database in keyset pages
 * (issue #16: station and line were silently ignored, and up to 100 000 rows were buffered).
 */
import { execFile } from 'node:child_process';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Station } from '../src/main.js';
import { startTestStation, userWithRole } from './helpers/station.js';

let s: Station;
let viewer: { authorization: string };

/** `n` inspections of one station, written in bulk (createMany) straight into the database. */
async function seed(stationId: string, n: number, first = 0, at = Date.parse('2026-11-20T08:00:00Z')) {
  const chunk = 2000;
  for (let i = 0; i < n; i += chunk) {
    const rows = Array.from({ length: Math.min(chunk, n - i) }, (_, k) => {
      const seq = first + i + k;
      const t = new Date(at + seq * 1000);
      return {
        stationId,
        partSeq: BigInt(seq),
        source: 'seed',
        capturedAt: t,
        decidedAt: t,
        verdict: seq % 7 === 0 ? 'fail' : 'pass',
        reasons: [],
        outputs: { kind: 'anomaly', score: 0.1 },
        maxScore: seq % 7 === 0 ? 0.9 : 0.1,
        timings: { total: 5 },
        latencyMs: 5,
        recipeName: 'plate',
      };
    });
    await s.db.inspection.createMany({ data: rows });
  }
}

beforeAll(async () => {
  s = await startTestStation({ sources: [{ name: 'push', uri: 'http:' }], adminPassword: 'csv-admin-password', http: { rateLimitPerMinute: 100_000 } });
  viewer = await userWithRole(s, 'viewer');
  await s.db.station.createMany({
    data: [
      { id: 'press-a', name: 'Press A', line: 'L1' },
      { id: 'press-b', name: 'Press B', line: 'L2' },
    ],
  });
  await seed('press-a', 30);
  await seed('press-b', 20, 1000);
}, 60_000);
afterAll(async () => s?.stop());

const csvIds = async (query: string) => {
  const r = await s.api!.inject({ method: 'GET', url: `/api/inspections.csv${query}`, headers: viewer });
  expect(r.statusCode, r.body).toBe(200);
  const [header, ...lines] = r.body.trim().split('\n');
  expect(header.split(',')[1]).toBe('station');
  return lines.map((l) => l.split(','));
};

describe('the CSV download', () => {
  it('honours station and line like the listing does (regression: issue #16, both were ignored)', async () => {
    const a = await csvIds('?station=press-a&line=L1');
    expect(a).toHaveLength(30);
    expect(new Set(a.map((c) => c[1]))).toEqual(new Set(['press-a']));
    const b = await csvIds('?line=L2');
    expect(b).toHaveLength(20);
    expect(new Set(b.map((c) => c[1]))).toEqual(new Set(['press-b']));
    expect(await csvIds('?station=press-a&line=L2')).toHaveLength(0);
    // The same rows as the JSON listing with the same filters, newest first.
    const listed = (await s.api!.inject({ method: 'GET', url: '/api/inspections?station=press-a&line=L1&limit=500', headers: viewer })).json();
    expect(a.map((c) => Number(c[0]))).toEqual(listed.items.map((i: { id: number }) => i.id));
  });

  it('writes a cell that looks like a spreadsheet formula as text', async () => {
    await s.db.station.create({ data: { id: '=HYPERLINK("http://x")', name: 'evil', line: 'L9' } });
    await seed('=HYPERLINK("http://x")', 1, 5000);
    const [row] = await csvIds('?line=L9');
    expect(row[1]).toBe(`"'=HYPERLINK(""http://x"")"`);
  });

  it('honours verdict, minScore, reviewed and the time range', async () => {
    const fails = await csvIds('?station=press-a&verdict=fail');
    expect(fails.length).toBe(5); // seq 0, 7, 14, 21, 28
    expect(fails.every((c) => c[4] === 'fail')).toBe(true);
    expect(await csvIds('?station=press-a&minScore=0.5')).toHaveLength(5);
    expect(await csvIds('?station=press-b&reviewed=true')).toHaveLength(0);
    expect(await csvIds('?station=press-a&from=2026-11-20T08:00:10Z&to=2026-11-20T08:00:20Z')).toHaveLength(10);
  });

  it('streams 100 000 rows with flat memory: pages from the database, written as they come', async () => {
    await seed('press-a', 100_000, 10_000, Date.parse('2026-11-21T00:00:00Z'));
    // Measured from a collected heap: the seeding's garbage is not the download's.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const settle = async () => {
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const mb = (x: number) => Math.round((x / 1024 / 1024) * 10) / 10;

    /** Downloads with curl (its own process, the body dropped as it arrives; inject would collect it) while sampling memory. */
    async function download(query: string) {
      await settle();
      const before = process.memoryUsage();
      let peakHeap = before.heapUsed;
      let peakRss = before.rss;
      const sampler = setInterval(() => {
        const m = process.memoryUsage();
        peakHeap = Math.max(peakHeap, m.heapUsed);
        peakRss = Math.max(peakRss, m.rss);
      }, 10);
      const out = await new Promise<string>((resolve, reject) =>
        execFile(
          'curl',
          [
            '-sS',
            '-o',
            '/dev/null',
            '-H',
            `authorization: ${viewer.authorization}`,
            '-w',
            '%{http_code} %{time_starttransfer} %{time_total} %{size_download}',
            `${s.url}/api/inspections.csv${query}`,
          ],
          (err, stdout) => (err ? reject(err) : resolve(stdout)),
        ),
      );
      clearInterval(sampler);
      await settle();
      const after = process.memoryUsage();
      const [status, firstByteS, totalS, bytes] = out.split(' ').map(Number);
      expect(status).toBe(200);
      return { firstByteS, totalS, bytes, before, after, peakHeap, peakRss };
    }

    const small = await download('?station=press-a&to=2026-11-21T05:33:20Z'); // the first 10 000 of the new rows and the 30 old ones
    const big = await download('?station=press-a');
    for (const [name, r] of [
      ['10 030 rows', small],
      ['100 030 rows', big],
    ] as const) {
      console.log(
        `CSV ${name}: ${mb(r.bytes)} MB in ${r.totalS} s (first byte after ${r.firstByteS} s); heap before ${mb(r.before.heapUsed)} MB, peak ${mb(r.peakHeap)} MB (+${mb(r.peakHeap - r.before.heapUsed)}), after ${mb(r.after.heapUsed)} MB; RSS before ${mb(r.before.rss)} MB, peak ${mb(r.peakRss)} MB (+${mb(r.peakRss - r.before.rss)}), after ${mb(r.after.rss)} MB`,
      );
    }
    // The station keeps answering while a reader that takes the rows as fast as they come drains
    // 100 000 of them (inject: no socket, so no backpressure to pause the pages). Before the pages
    // waited for a turn of the event loop, nothing else ran until the last row: health answered after.
    const order: string[] = [];
    const drained = s.api!.inject({ method: 'GET', url: '/api/inspections.csv?station=press-a', headers: viewer }).then((r) => {
      expect(r.statusCode).toBe(200);
      order.push('csv');
    });
    const health = new Promise((r) => setTimeout(r, 200)).then(() => fetch(`${s.url}/api/health`)).then((r) => order.push(`health ${r.status}`));
    await Promise.all([drained, health]);
    expect(order).toEqual(['health 200', 'csv']);

    expect(big.bytes).toBeGreaterThan(9 * small.bytes);
    // The first page goes out long before the last is read.
    expect(big.firstByteS).toBeLessThan(big.totalS / 4);
    // Ten times the rows, not ten times the memory: the peak is one page's worth plus garbage not yet collected.
    expect(big.peakHeap - big.before.heapUsed).toBeLessThan(3 * (small.peakHeap - small.before.heapUsed) + 64 * 1024 * 1024);
    // Nothing of the download stays behind once it is sent.
    expect(big.after.heapUsed - big.before.heapUsed).toBeLessThan(16 * 1024 * 1024);
  }, 240_000);
});
