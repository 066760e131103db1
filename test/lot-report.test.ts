/**
 * The lot report (issue #19, genealogy) from a real demo's records: the PDF read back with
 * Debian's poppler-utils (pdftotext, pdfinfo, pdftoppm), the CSV and JSON parsed, all compared
 * with the database itself.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Station } from '../src/main.js';
import { Lots } from '../src/store/index.js';
import { station as cli, ROOT } from './helpers/cli.js';
import { startTestStation, userWithRole } from './helpers/station.js';
import { tmpDir } from './helpers/tmp.js';

const havePoppler = ['pdftotext', 'pdfinfo', 'pdftoppm'].every((p) => spawnSync(p, ['-v']).error === undefined);
if (!havePoppler) console.warn('lot report tests skipped: needs poppler-utils (apt-get install poppler-utils; .ci/run does)');

interface Row {
  id: number;
  partId: string;
  verdict: string;
}

let data: string;
let lot: string;
/** The lot's records in the database, in capture order. */
let rows: Row[];
let s: Station;
let viewer: { authorization: string };

/** The lot's records as the database holds them (read behind the station's back). */
function dbRows(q: string, ...args: unknown[]): unknown[] {
  const db = new Database(path.join(data, 'station.db'), { readonly: true });
  try {
    return db.prepare(q).all(...args);
  } finally {
    db.close();
  }
}

/** RFC 4180 CSV (quoted cells, doubled quotes, CRLF or LF) as objects keyed by the header row. */
function parseCsv(body: string): Record<string, string>[] {
  const records: string[][] = [];
  let cell = '';
  let rec: string[] = [];
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (quoted && c === '"' && body[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (c === '"') quoted = !quoted;
    else if (quoted || (c !== ',' && c !== '\n' && c !== '\r')) cell += c;
    else {
      rec.push(cell);
      cell = '';
      if (c === ',') continue;
      if (c === '\r' && body[i + 1] === '\n') i++;
      records.push(rec);
      rec = [];
    }
  }
  if (cell !== '' || rec.length) records.push([...rec, cell]);
  const [header, ...rest] = records;
  return rest.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])));
}

const text = (pdf: string) => execFileSync('pdftotext', ['-layout', pdf, '-'], { encoding: 'utf8' });

/** Every page of the PDF rendered to PNG by pdftoppm: the page count pdfinfo gives, and each a real image. */
async function expectEveryPageRenders(pdf: string): Promise<number> {
  const pages = Number(/^Pages:\s+(\d+)$/m.exec(execFileSync('pdfinfo', [pdf], { encoding: 'utf8' }))?.[1]);
  const out = tmpDir();
  execFileSync('pdftoppm', ['-png', '-r', '30', pdf, path.join(out, 'page')]);
  const pngs = readdirSync(out).filter((f) => f.endsWith('.png'));
  expect(pngs).toHaveLength(pages);
  for (const f of pngs) expect((await sharp(path.join(out, f)).metadata()).width).toBeGreaterThan(100);
  return pages;
}

function expectCounts(t: string, r: Row[]) {
  const n = (v: string) => r.filter((x) => x.verdict === v).length;
  expect(t).toContain(`Parts ${r.length} · pass ${n('pass')} · fail ${n('fail')} · uninspected ${n('uninspected')}`);
  expect(t).toContain(`yield ${((n('pass') / r.length) * 100).toFixed(2)} %`);
}

describe.skipIf(!havePoppler)('the lot report', () => {
  beforeAll(async () => {
    data = tmpDir('lot-report-', true);
    const demo = await cli(['demo', '--duration', '12', '--json', '--port', '0', '--rate', '10', '--data', data], { timeoutMs: 90_000 });
    expect(demo.code, demo.stderr).toBe(0);
    // A whole lot of the demo (50 parts) with rejects in it.
    const lots = dbRows(
      "SELECT lot, COUNT(*) AS n, SUM(verdict <> 'pass') AS rejects FROM Inspection GROUP BY lot HAVING n = 50 AND rejects > 0 ORDER BY lot",
    ) as { lot: string }[];
    expect(lots.length).toBeGreaterThan(0);
    lot = lots[0].lot;
    rows = dbRows('SELECT id, partId, verdict FROM Inspection WHERE lot = ? ORDER BY capturedAt, id', lot) as Row[];
    // A station on the demo's data folder serves the HTTP side.
    s = await startTestStation({ sources: [{ name: 'push', uri: 'http:' }], adminPassword: 'lot-report-admin', extra: { storage: { dataDir: data } } });
    viewer = await userWithRole(s, 'viewer');
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
  });

  it('station report lot LOT --out x.pdf: pdftotext finds every serial of the lot and its counts; pdftoppm renders every page', async () => {
    const pdf = path.join(tmpDir(), 'x.pdf');
    // A command of the store only: a loader hook refuses onnxruntime-node and node-opcua.
    const r = await cli(['report', 'lot', lot, '--out', pdf, '--data', data], {
      nodeArgs: ['--import', path.join(ROOT, 'test', 'helpers', 'deny-ort.mjs')],
      env: { STATION_DENY_MODULES: 'onnxruntime-node,node-opcua' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.lines.at(-1)!)).toMatchObject({ lot, format: 'pdf', out: pdf, parts: 50 });
    const t = text(pdf);
    expect(t).toContain(`Lot report: ${lot}`);
    for (const row of rows) expect(t).toContain(row.partId);
    expectCounts(t, rows);
    // The records' chain head at report time: the lot's newest record and its hash.
    const [head] = dbRows('SELECT id, stationId, hash FROM Inspection WHERE lot = ? ORDER BY capturedAt DESC, id DESC LIMIT 1', lot) as {
      id: number;
      stationId: string;
      hash: string | null;
    }[];
    expect(head.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(t.replace(/\s+/g, ' ')).toContain(`chain head at report time: station ${head.stationId}, record #${head.id}, hash ${head.hash}`);
    // The head as printed checks the database: station db verify --head ID:HASH.
    const printed = [...t.matchAll(/--head (\d+:[0-9a-f]{64})/g)].map((m) => m[1]);
    expect(printed).toEqual([`${head.id}:${head.hash}`]);
    const verify = await cli(['db', 'verify', '--data', data, '--head', printed[0]]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    // Every reject has its thumbnail cell: the serial printed under it (the list names it once more).
    const rejects = rows.filter((x) => x.verdict !== 'pass');
    for (const x of rejects) expect(t.split(x.partId).length - 1).toBe(2);
    expect(await expectEveryPageRenders(pdf)).toBeGreaterThanOrEqual(2);
  });

  it('GET /api/lots/:lot/report.pdf answers a viewer with the same PDF content, and the lot page summary counts what the database holds', async () => {
    const res = await s.api!.inject({ method: 'GET', url: `/api/lots/${encodeURIComponent(lot)}/report.pdf`, headers: viewer });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/pdf');
    expect(res.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
    const pdf = path.join(tmpDir(), 'http.pdf');
    writeFileSync(pdf, res.rawPayload);
    const t = text(pdf);
    for (const row of rows) expect(t).toContain(row.partId);
    expectCounts(t, rows);
    await expectEveryPageRenders(pdf);

    const summary = (await s.api!.inject({ method: 'GET', url: `/api/lots/${encodeURIComponent(lot)}`, headers: viewer })).json();
    const byVerdict = (v: string) => rows.filter((x) => x.verdict === v).length;
    expect(summary).toMatchObject({
      lot,
      parts: 50,
      pass: byVerdict('pass'),
      fail: byVerdict('fail'),
      uninspected: byVerdict('uninspected'),
      stations: ['demo-1'],
    });
    const perClass = dbRows(
      'SELECT d.class AS class, COUNT(DISTINCT d.inspectionId) AS parts, COUNT(*) AS findings FROM Defect d JOIN Inspection i ON i.id = d.inspectionId WHERE i.lot = ? AND d.rejecting = 1 GROUP BY d.class',
      lot,
    );
    expect([...summary.rejectsByClass].sort((a, b) => a.class.localeCompare(b.class))).toEqual(perClass);
    // Parts failed by their label: counted from each record's reasons, and on the PDF when there are any.
    const byRule = (rule: string) => dbRows(`SELECT id FROM Inspection WHERE lot = ? AND verdict = 'fail' AND reasons LIKE '%"rule":"${rule}"%'`, lot).length;
    expect(summary.codeRejects).toEqual({ noRead: byRule('no-read'), mismatch: byRule('code-mismatch') });
    if (byRule('no-read') + byRule('code-mismatch') > 0) expect(t).toContain(`no-read (no code could be read): ${byRule('no-read')}`);
    // Anonymous callers get nothing.
    expect((await s.api!.inject({ method: 'GET', url: `/api/lots/${encodeURIComponent(lot)}/report.pdf` })).statusCode).toBe(401);
  });

  it('CSV and JSON carry one row per part with the serials and verdicts of the database, and a reviewer decision once it is made', async () => {
    const reject = rows.find((x) => x.verdict === 'fail') ?? rows.find((x) => x.verdict !== 'pass')!;
    const quality = await userWithRole(s, 'quality');
    const review = await s.api!.inject({
      method: 'POST',
      url: `/api/inspections/${reject.id}/review`,
      headers: quality,
      payload: { label: 'false_reject', note: 'good on re-check' },
    });
    expect(review.statusCode, review.body).toBeLessThan(300);

    const csvRes = await s.api!.inject({ method: 'GET', url: `/api/lots/${encodeURIComponent(lot)}/report.csv`, headers: viewer });
    expect(csvRes.statusCode).toBe(200);
    expect(csvRes.headers['content-type']).toMatch(/^text\/csv/);
    const csv = parseCsv(csvRes.body);
    expect(csv.map((r) => [Number(r.id), r.serial, r.verdict, r.lot])).toEqual(rows.map((r) => [r.id, r.partId, r.verdict, lot]));
    expect(csv.find((r) => Number(r.id) === reject.id)).toMatchObject({ review: 'false_reject', reviewedBy: 'quality', reviewNote: 'good on re-check' });
    expect(csv.filter((r) => r.review !== '')).toHaveLength(1);
    expect(csv.every((r) => r.recipe === 'plate' && r.recipeVersion !== '' && r.model === 'plate-defects')).toBe(true);

    const jsonRes = await s.api!.inject({ method: 'GET', url: `/api/lots/${encodeURIComponent(lot)}/report.json`, headers: viewer });
    expect(jsonRes.statusCode).toBe(200);
    const doc = jsonRes.json();
    expect(doc.summary).toMatchObject({ lot, parts: 50, reviews: { reviewed: 1, falseRejects: 1 } });
    expect(doc.parts.map((p: { id: number; serial: string; verdict: string }) => [p.id, p.serial, p.verdict])).toEqual(
      rows.map((r) => [r.id, r.partId, r.verdict]),
    );
    expect(doc.parts.find((p: { id: number }) => p.id === reject.id).review).toMatchObject({ label: 'false_reject', by: 'quality' });
    // Rejects link their thumbnail by inspection id; a store path never leaves the station.
    expect(jsonRes.body).not.toMatch(/demo-1\/\d{4}-\d{2}-\d{2}\//);
    const withThumb = doc.parts.find((p: { thumbnail: string | null }) => p.thumbnail);
    const img = await s.api!.inject({ method: 'GET', url: withThumb.thumbnail, headers: viewer });
    expect(img.headers['content-type']).toBe('image/jpeg');

    // The PDF shows the decision on the part's line.
    const pdf = path.join(tmpDir(), 'reviewed.pdf');
    expect((await cli(['report', 'lot', lot, '--out', pdf, '--data', data])).code).toBe(0);
    expect(text(pdf)).toMatch(new RegExp(`${reject.partId}.*false_reject \\(quality\\)`));
  });

  it("reads a lot in keyset pages of (capture time, id): small pages give every part once, in the database's order", async () => {
    const lots = new Lots(s.db);
    const summary = (await lots.summary({ lot }))!;
    const seen: number[] = [];
    for await (const page of lots.parts({ lot }, summary.asOfId, { pageSize: 7 })) {
      expect(page.length).toBeLessThanOrEqual(7);
      seen.push(...page.map((p) => p.id));
    }
    expect(seen).toEqual(rows.map((r) => r.id));
    const rejects: number[] = [];
    for await (const page of lots.parts({ lot }, summary.asOfId, { pageSize: 3, rejectsOnly: true })) rejects.push(...page.map((p) => p.id));
    expect(rejects).toEqual(rows.filter((r) => r.verdict !== 'pass').map((r) => r.id));
    // The snapshot: a part of the lot recorded after the summary is in neither.
    expect(summary.asOfId).toBe(Math.max(...rows.map((r) => r.id)));
  });

  it('a reject whose images retention deleted says "image not kept" in its cell', async () => {
    const [gone] = dbRows(
      "SELECT i.id AS id, m.path AS path FROM Inspection i JOIN Image m ON m.inspectionId = i.id AND m.variant = 'thumb' WHERE i.lot = ? AND i.verdict <> 'pass' LIMIT 1",
      lot,
    ) as { id: number; path: string }[];
    rmSync(path.join(data, 'images', gone.path));
    const out = path.join(tmpDir(), 'lot.pdf');
    expect((await cli(['report', 'lot', lot, '--out', out, '--data', data])).code).toBe(0);
    expect(text(out).split('image not kept')).toHaveLength(2);
  });

  it('an unknown lot is 404 STN_ERR_LOT_NOT_FOUND over HTTP, and exit code 2 with the code from the command', async () => {
    for (const route of ['', '/report.pdf', '/report.csv', '/report.json']) {
      const r = await s.api!.inject({ method: 'GET', url: `/api/lots/LOT-NONE${route}`, headers: viewer });
      expect(r.statusCode).toBe(404);
      expect(r.json().code).toBe('STN_ERR_LOT_NOT_FOUND');
    }
    // A lot that exists, but not at that station.
    expect((await s.api!.inject({ method: 'GET', url: `/api/lots/${encodeURIComponent(lot)}?station=other-1`, headers: viewer })).statusCode).toBe(404);
    const tooLong = await s.api!.inject({ method: 'GET', url: `/api/lots/${'L'.repeat(65)}`, headers: viewer });
    expect(tooLong.statusCode).toBe(400);
    const out = path.join(tmpDir(), 'none.pdf');
    const r = await cli(['report', 'lot', 'LOT-NONE', '--out', out, '--data', data]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('STN_ERR_LOT_NOT_FOUND');
    expect(() => readFileSync(out)).toThrow();
  });
});
