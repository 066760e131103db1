import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PartGenerator } from '../src/capture/index.js';
import { plateRecipe, validateConfig } from '../src/config/index.js';
import { Line, type InspectionResult } from '../src/line/index.js';
import { startStation, type Station } from '../src/main.js';
import { SHIPPED_MODEL } from '../src/paths.js';
import { tmpDir } from './helpers/tmp.js';

const PUSH_KEY = 'test-push-key-0123456789';
const quiet = pino({ level: 'silent' });
let running: Station | null = null;
afterEach(async () => {
  await running?.stop();
  running = null;
});

interface Opts {
  sources: { name: string; uri: string }[];
  line?: Record<string, number>;
  model?: string;
}

async function station(o: Opts, onResult?: (r: InspectionResult) => void): Promise<Station> {
  const dir = tmpDir();
  const config = validateConfig(
    {
      station: { id: 'test-1' },
      http: { port: 0, pushKeySha256: [createHash('sha256').update(PUSH_KEY).digest('hex')] },
      storage: { dataDir: dir },
      line: { deadlineMs: 10_000, ...o.line },
      sources: o.sources.map((s) => ({ ...s, recipe: 'plate' })),
      recipes: { plate: { ...plateRecipe(o.model ?? SHIPPED_MODEL), keepGood: 0 } },
    },
    dir,
  );
  running = await startStation({ config, log: quiet, onResult });
  return running;
}

/** An API key of a viewer, for reading the records. */
async function viewerKey(s: Station): Promise<Record<string, string>> {
  const u = await s.accounts.createUser(`viewer-${Date.now()}`, 'viewer', 'a-long-password');
  const k = await s.accounts.createApiKey(u.id, 'test', 'viewer');
  return { authorization: `Bearer ${k.key}` };
}

function idle(s: Station): Promise<void> {
  return s.line.whenIdle();
}

describe('the inspection line, end to end on the shipped model', () => {
  it('decides every synthetic part, finds the defects, and records failed parts with images that open', async () => {
    const results: InspectionResult[] = [];
    const s = await station({ sources: [{ name: 'line', uri: 'synthetic:?seed=77&defectRate=0.5&rate=0&count=40&start=500000' }] }, (r) => results.push(r));
    await idle(s);
    await s.recorder.flush();

    expect(results).toHaveLength(40);
    expect(results.every((r) => r.verdict !== 'uninspected')).toBe(true);
    const defective = results.filter((r) => r.truth?.defective);
    const caught = defective.filter((r) => r.verdict === 'fail');
    const good = results.filter((r) => !r.truth?.defective);
    expect(defective.length).toBeGreaterThan(10);
    expect(caught.length / defective.length).toBeGreaterThanOrEqual(0.85);
    expect(good.filter((r) => r.verdict === 'fail').length / good.length).toBeLessThanOrEqual(0.15);

    expect(await s.repo.countInspections()).toBe(40);
    const auth = await viewerKey(s);
    const anonymous = await s.api!.inject({ method: 'GET', url: '/api/inspections' });
    expect(anonymous.statusCode).toBe(401);
    const list = await s.api!.inject({ method: 'GET', url: '/api/inspections?verdict=fail&limit=100', headers: auth });
    expect(list.statusCode).toBe(200);
    const items = list.json().items as { id: number; verdict: string; images: string[]; defects: { class: string }[] }[];
    expect(items.length).toBe(results.filter((r) => r.verdict === 'fail').length);
    const first = items[0];
    expect(first.images.sort()).toEqual(['original', 'overlay', 'thumb']);
    expect(first.defects.length).toBeGreaterThan(0);

    const img = await s.api!.inject({ method: 'GET', url: `/api/inspections/${first.id}/image?variant=overlay`, headers: auth });
    expect(img.statusCode).toBe(200);
    expect(img.headers['content-type']).toBe('image/jpeg');
    const meta = await sharp(img.rawPayload).metadata();
    expect([meta.width, meta.height]).toEqual([512, 384]);
    const again = await s.api!.inject({
      method: 'GET',
      url: `/api/inspections/${first.id}/image?variant=overlay`,
      headers: { ...auth, 'if-none-match': img.headers.etag as string },
    });
    expect(again.statusCode).toBe(304);

    const detail = await s.api!.inject({ method: 'GET', url: `/api/inspections/${first.id}`, headers: auth });
    expect(detail.json()).toMatchObject({ verdict: 'fail', model: { family: 'yolo-detect' }, recipeVersion: { version: 1 } });
    expect(detail.json().timings.inference).toBeGreaterThan(0);

    // Good parts keep no images at keepGood 0.
    const passed = (await s.api!.inject({ method: 'GET', url: '/api/inspections?verdict=pass&limit=1', headers: auth })).json().items[0];
    expect(passed.images).toEqual([]);
  });

  it('answers a pushed frame with its verdict, and turns a corrupt one into an uninspected part without stopping', async () => {
    const s = await station({ sources: [{ name: 'push', uri: 'http:' }] });
    const auth = { authorization: `Bearer ${PUSH_KEY}` };

    const corrupt = await s.api!.inject({
      method: 'POST',
      url: '/api/frames',
      headers: { ...auth, 'content-type': 'image/jpeg' },
      payload: Buffer.from('\xff\xd8\xff\xe0 not really a jpeg'),
    });
    expect(corrupt.statusCode).toBe(200);
    expect(corrupt.json()).toMatchObject({ verdict: 'uninspected', errorCode: 'STN_ERR_IMAGE_CORRUPT' });

    const gen = new PartGenerator({ seed: 3, defectRate: 1 });
    const part = gen.part(12);
    const png = await sharp(part.image.data, { raw: { width: 512, height: 384, channels: 1 } })
      .png()
      .toBuffer();
    const ok = await s.api!.inject({ method: 'POST', url: '/api/frames', headers: { ...auth, 'content-type': 'image/png' }, payload: png });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ verdict: 'fail', seq: 2 });
    expect(ok.json().defects.map((d: { class: string }) => d.class)).toContain(part.truth.defects[0].class);

    await s.recorder.flush();
    expect(await s.repo.countInspections()).toBe(2);
    const rows = (await s.api!.inject({ method: 'GET', url: '/api/inspections', headers: await viewerKey(s) })).json().items;
    expect(rows.map((r: { verdict: string }) => r.verdict)).toEqual(['fail', 'uninspected']);
    expect(rows[1].errorCode).toBe('STN_ERR_IMAGE_CORRUPT');
  });

  it('refuses a pushed frame without a valid key (no anonymous writes)', async () => {
    const s = await station({ sources: [{ name: 'push', uri: 'http:' }] });
    const none = await s.api!.inject({ method: 'POST', url: '/api/frames', headers: { 'content-type': 'image/png' }, payload: Buffer.from([1, 2, 3]) });
    expect(none.statusCode).toBe(401);
    expect(none.json().code).toBe('STN_ERR_HTTP_UNAUTHORIZED');
    const wrong = await s.api!.inject({
      method: 'POST',
      url: '/api/frames',
      headers: { 'content-type': 'image/png', authorization: 'Bearer nope' },
      payload: Buffer.from([1, 2, 3]),
    });
    expect(wrong.statusCode).toBe(401);
    expect(await s.repo.countInspections()).toBe(0);
  });

  it('makes a part whose verdict misses its deadline uninspected, and counts it', async () => {
    const results: InspectionResult[] = [];
    const s = await station({ sources: [{ name: 'line', uri: 'synthetic:?seed=1&rate=0&count=5' }], line: { deadlineMs: 1 } }, (r) => results.push(r));
    await idle(s);
    expect(results.map((r) => r.verdict)).toEqual(Array(5).fill('uninspected'));
    expect(results.every((r) => r.errorCode === 'STN_ERR_LINE_DEADLINE')).toBe(true);
    expect(s.line.counters).toMatchObject({ parts: 5, uninspected: 5, byCode: { STN_ERR_LINE_DEADLINE: 5 } });
  });

  it('drops the oldest frame when the line is saturated: a counted fail-safe reject, never a lost part', async () => {
    const results: InspectionResult[] = [];
    // 400 parts/s into a one-frame queue: capture outruns inference.
    const s = await station({ sources: [{ name: 'line', uri: 'synthetic:?seed=2&rate=400&count=60' }], line: { queueSize: 1 } }, (r) => results.push(r));
    await idle(s);
    await s.recorder.flush();
    expect(results).toHaveLength(60);
    expect(new Set(results.map((r) => r.seq)).size).toBe(60);
    const dropped = results.filter((r) => r.errorCode === 'STN_ERR_LINE_DROPPED');
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped.every((r) => r.verdict === 'uninspected')).toBe(true);
    expect(await s.repo.countInspections()).toBe(60);
  });

  it('replays a folder once, and an unreadable file becomes an uninspected part', async () => {
    const dir = tmpDir();
    const gen = new PartGenerator({ seed: 4, defectRate: 0 });
    for (let i = 0; i < 3; i++) {
      await sharp(gen.part(i).image.data, { raw: { width: 512, height: 384, channels: 1 } })
        .jpeg()
        .toFile(path.join(dir, `p${i}.jpg`));
    }
    writeFileSync(path.join(dir, 'p3.jpg'), Buffer.alloc(0));
    const results: InspectionResult[] = [];
    const s = await station({ sources: [{ name: 'replay', uri: `dir:${dir}` }] }, (r) => results.push(r));
    await idle(s);
    expect(results.map((r) => [r.file, r.verdict === 'uninspected' ? r.errorCode : 'decided'])).toEqual([
      ['p0.jpg', 'decided'],
      ['p1.jpg', 'decided'],
      ['p2.jpg', 'decided'],
      ['p3.jpg', 'STN_ERR_IMAGE_EMPTY'],
    ]);
  });

  it('refuses to start on a model file that is not ONNX, with STN_ERR_MODEL_INVALID', async () => {
    const bad = path.join(tmpDir(), 'bad.onnx');
    writeFileSync(bad, 'not a model');
    await expect(station({ sources: [{ name: 'line', uri: 'synthetic:?count=1' }], model: bad })).rejects.toMatchObject({ code: 'STN_ERR_MODEL_INVALID' });
    running = null;
  });
});

it('ships its model beside a manifest', () => {
  expect(existsSync(SHIPPED_MODEL)).toBe(true);
  expect(existsSync(SHIPPED_MODEL.replace(/\.onnx$/, '.manifest.json'))).toBe(true);
});

/** A line on the shipped model with one source, no station around it. */
function bareLine(name: string, uri: string, line: Record<string, number> = {}): Line {
  const dir = tmpDir();
  const config = validateConfig(
    { station: { id: 'test-1' }, storage: { dataDir: dir }, line, sources: [{ name, uri, recipe: 'plate' }], recipes: { plate: plateRecipe(SHIPPED_MODEL) } },
    dir,
  );
  return new Line({ config, recipeVersions: {} });
}

describe('line worker lifecycle', () => {
  // Regression: stopping a line while its model was still warming up released the onnxruntime
  // session under the running warm-up and aborted the whole process (a cancelled re-inference did this).
  it('stops cleanly while the model is still loading', async () => {
    const line = bareLine('line', 'synthetic:?seed=1&count=5');
    const results: InspectionResult[] = [];
    line.on('result', (r) => results.push(r));
    const started = line.start();
    await line.stop();
    await expect(started).resolves.toHaveLength(1);
    expect(results.length).toBeLessThanOrEqual(5);
  });

  // Regression (power-cut test in CI): a PLC trigger arriving while the line stopped answered
  // every part still in the worker as STN_ERR_LINE_STOPPED; the worker then decided them too, so
  // the PLC heard two verdicts for one part and the second record's images had no row.
  it('answers each part once when a trigger arrives during a graceful stop: the parts in the worker keep their own verdicts', async () => {
    const line = bareLine('cam', 'synthetic:?seed=5&trigger=plc', { deadlineMs: 30_000 });
    const results: InspectionResult[] = [];
    const first = new Promise<void>((resolve) => line.once('result', () => resolve()));
    line.on('result', (r) => results.push(r));
    await line.start();
    line.begin();
    for (let seq = 1; seq <= 6; seq++) line.trigger(seq, Date.now());
    await first;
    // Parts 2…6 are in the worker or its camera now; the stop begins, and the photo-eye sees part 7.
    const stopped = line.stop();
    line.trigger(7, Date.now());
    await stopped;
    const answers = new Map<number, InspectionResult[]>();
    for (const r of results) answers.set(r.seq, [...(answers.get(r.seq) ?? []), r]);
    expect([...answers.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect([...answers].filter(([, rs]) => rs.length > 1).map(([seq]) => seq)).toEqual([]);
    expect(answers.get(7)![0].errorCode).toBe('STN_ERR_LINE_STOPPED');
    // The worker had taken part 2 in before the stop: it is decided, not answered for.
    expect(answers.get(2)![0].errorCode).not.toBe('STN_ERR_LINE_STOPPED');
  });

  // Regression (issue #18): the watchdog measured the worker's silence on the wall clock, so an
  // hour's forward step now and then looked like an hour of silence and restarted a healthy worker.
  it("counts the worker's silence on the monotonic clock: a wall clock jumping forward an hour at every reading restarts nothing", async () => {
    const line = bareLine('line', 'synthetic:?seed=1&count=3', { watchdogMs: 400 });
    await line.start();
    const realNow = Date.now.bind(Date);
    let readings = 0;
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 3_600_000 * ++readings);
    try {
      expect(Date.now() - realNow()).toBeGreaterThan(3_000_000);
      await new Promise((r) => setTimeout(r, 1500)); // a dozen watchdog checks, six heartbeats
    } finally {
      clock.mockRestore();
    }
    expect(line.restarts).toBe(0);
    expect(line.state).toBe('running');
    await line.stop();
  });
});
