import { existsSync } from 'node:fs';
import path from 'node:path';
import bwipjs from 'bwip-js';
import sharp from 'sharp';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PartGenerator, syntheticSerial, type FrameImage } from '../src/capture/index.js';
import { prepareCodeReader, readCode, ZXING_READER_WASM } from '../src/codes/index.js';
import { plateRecipe, validateConfig } from '../src/config/index.js';
import { codeReasons } from '../src/decision/index.js';
import { Line, type InspectionResult } from '../src/line/index.js';
import { SHIPPED_MODEL } from '../src/paths.js';
import { reDecide } from '../src/whatif/index.js';
import { ROOT } from './helpers/cli.js';
import { tmpDir } from './helpers/tmp.js';

// The station runs air-gapped: any attempt at the network (zxing-wasm's default fetches its
// .wasm from jsDelivr) is recorded and fails, so every read below proves the local file is used.
const fetched: string[] = [];
beforeAll(async () => {
  globalThis.fetch = ((url: unknown) => {
    fetched.push(String(url));
    throw new Error(`no network in this test: ${String(url)}`);
  }) as typeof fetch;
  await prepareCodeReader();
});
afterEach(() => expect(fetched).toEqual([]));

/** A bwip-js code as a PNG, placed at (x, y) on a mid-grey 320 × 240 frame. */
async function frameWith(bcid: string, text: string, x: number, y: number): Promise<{ image: FrameImage; size: [number, number] }> {
  const code = await bwipjs.toBuffer({
    bcid,
    text,
    scale: 2,
    ...(bcid === 'code128' ? { height: 12 } : {}),
    paddingwidth: 6,
    paddingheight: 6,
    backgroundcolor: 'FFFFFF',
  });
  const png = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#6e6e6e' } })
    .composite([{ input: code, left: x, top: y }])
    .png()
    .toBuffer();
  return { image: { kind: 'encoded', data: png }, size: [320, 240] };
}

describe('the code reader (zxing-wasm, loaded from node_modules)', () => {
  it('loads its WebAssembly from the file shipped in the zxing-wasm package', () => {
    expect(path.relative(ROOT, ZXING_READER_WASM)).toBe(path.join('node_modules', 'zxing-wasm', 'dist', 'reader', 'zxing_reader.wasm'));
    expect(existsSync(ZXING_READER_WASM)).toBe(true);
  });

  it('reads DataMatrix, QR and Code 128 codes made by bwip-js, in the region only', async () => {
    const dm = await frameWith('datamatrix', 'SN-7-00000042', 20, 30);
    expect(await readCode(dm.image, dm.size, { symbology: 'DataMatrix', region: [10, 20, 120, 120] })).toBe('SN-7-00000042');
    const qr = await frameWith('qrcode', 'LOT-3/part 17', 150, 60);
    expect(await readCode(qr.image, qr.size, { symbology: 'QRCode', region: [140, 50, 170, 170] })).toBe('LOT-3/part 17');
    const c128 = await frameWith('code128', 'A1B2-9931', 40, 150);
    expect(await readCode(c128.image, c128.size, { symbology: 'Code128', region: [30, 140, 280, 90] })).toBe('A1B2-9931');
    // The QR code is there, but not in this region: nothing is read.
    expect(await readCode(qr.image, qr.size, { symbology: 'QRCode', region: [0, 0, 140, 140] })).toBeNull();
    // Another symbology than the recipe's is not read either.
    expect(await readCode(dm.image, dm.size, { symbology: 'QRCode', region: [10, 20, 120, 120] })).toBeNull();
  });

  it("reads the synthetic line's labels on raw Mono8 frames, and none of the smeared ones", async () => {
    const gen = new PartGenerator({ seed: 42, serials: '261202023105' });
    let smeared = 0;
    for (let index = 1; index <= 80; index++) {
      const part = gen.part(index);
      const text = await readCode(part.image, [gen.width, gen.height], { symbology: 'DataMatrix', region: gen.codeRegion });
      expect({ index, text }).toEqual({ index, text: part.code!.damaged ? null : part.code!.text });
      if (part.code!.damaged) smeared++;
    }
    expect(smeared).toBeGreaterThan(0);
    // The label is drawn from its own seeded stream: the plate is the same with or without it.
    const plain = new PartGenerator({ seed: 42 }).part(9);
    expect(plain.truth).toEqual(gen.part(9).truth);
    expect(plain.code).toBeUndefined();
  });

  it('refuses a region outside the frame with STN_ERR_CODE_REGION', async () => {
    const dm = await frameWith('datamatrix', 'SN-1', 0, 0);
    await expect(readCode(dm.image, dm.size, { symbology: 'DataMatrix', region: [300, 200, 40, 40] })).rejects.toMatchObject({ code: 'STN_ERR_CODE_REGION' });
  });
});

describe('reasons from the code', () => {
  it('a no-read rejects unless ignored; a code that is not the PLC serial rejects unless matching is off; without a serial nothing is compared', () => {
    const rules = { noRead: 'reject', matchPartId: true } as const;
    expect(codeReasons(null, 'SN-1', rules)).toEqual([{ rule: 'no-read' }]);
    expect(codeReasons(null, 'SN-1', { ...rules, noRead: 'ignore' })).toEqual([]);
    expect(codeReasons('SN-2', 'SN-1', rules)).toEqual([{ rule: 'code-mismatch' }]);
    expect(codeReasons('SN-2', 'SN-1', { ...rules, matchPartId: false })).toEqual([]);
    expect(codeReasons('SN-2', undefined, rules)).toEqual([]);
    expect(codeReasons('SN-1', 'SN-1', rules)).toEqual([]);
  });
});

describe('the code stage on the line', () => {
  const RUN = 'T0';
  const gen = new PartGenerator({ seed: 42, defectRate: 0, serials: RUN });
  const find = (want: (c: NonNullable<ReturnType<PartGenerator['printedCode']>>) => boolean) => {
    for (let i = 1; i < 1000; i++) if (want(gen.printedCode(i)!)) return i;
    throw new Error('no such part');
  };
  const readable = find((c) => !c.damaged && !c.mislabelled);
  const smeared = find((c) => c.damaged && !c.mislabelled);
  const mislabelled = find((c) => c.mislabelled && !c.damaged);

  let running: Line | null = null;
  afterEach(async () => {
    await running?.stop();
    running = null;
  });

  /** A PLC-triggered synthetic line (no defects, labels with RUN) whose plate recipe reads the label with `code`; each seq triggered with its serial. */
  async function inspect(seqs: number[], code: Record<string, unknown>): Promise<Map<number, InspectionResult>> {
    const dir = tmpDir();
    const config = validateConfig(
      {
        station: { id: 'codes-1' },
        storage: { dataDir: dir },
        line: { deadlineMs: 30_000 },
        sources: [{ name: 'cam', uri: `synthetic:?seed=42&defectRate=0&trigger=plc&serials=${RUN}`, recipe: 'plate' }],
        recipes: { plate: { ...plateRecipe(SHIPPED_MODEL), code: { symbology: 'DataMatrix', region: gen.codeRegion, ...code } } },
      },
      dir,
    );
    const line = new Line({ config, recipeVersions: {} });
    running = line;
    const results = new Map<number, InspectionResult>();
    const all = new Promise<void>((resolve) =>
      line.on('result', (r: InspectionResult) => {
        results.set(r.seq, r);
        if (results.size === seqs.length) resolve();
      }),
    );
    await line.start();
    line.begin();
    for (const seq of seqs) line.trigger(seq, Date.now(), undefined, { partId: syntheticSerial(RUN, seq) });
    await all;
    return results;
  }

  it('passes a part whose code is its serial and keeps the code; fails a smeared label as no-read and a wrong one as code-mismatch; what-if keeps both', async () => {
    const r = await inspect([readable, smeared, mislabelled], {});
    const ok = r.get(readable)!;
    expect({ verdict: ok.verdict, code: ok.code, reasons: ok.reasons }).toEqual({ verdict: 'pass', code: syntheticSerial(RUN, readable), reasons: [] });
    expect(ok.timings.code).toBeGreaterThan(0);

    const noRead = r.get(smeared)!;
    expect({ verdict: noRead.verdict, code: noRead.code, reasons: noRead.reasons }).toEqual({
      verdict: 'fail',
      code: undefined,
      reasons: [{ rule: 'no-read' }],
    });
    const wrong = r.get(mislabelled)!;
    expect({ verdict: wrong.verdict, code: wrong.code, reasons: wrong.reasons }).toEqual({
      verdict: 'fail',
      code: syntheticSerial(RUN, mislabelled + 1),
      reasons: [{ rule: 'code-mismatch' }],
    });
    // Re-deciding the stored outputs under thresholds that pass everything the model saw: still rejected.
    const lenient = { default: { minScore: 1, maxCount: 100 } };
    expect(reDecide(noRead, lenient)).toBe('fail');
    expect(reDecide(wrong, lenient)).toBe('fail');
    expect(reDecide(ok, lenient)).toBe('pass');
  }, 60_000);

  it("with noRead: 'ignore' a smeared label passes the part, without a code", async () => {
    const r = await inspect([smeared], { noRead: 'ignore' });
    const p = r.get(smeared)!;
    expect({ verdict: p.verdict, code: p.code, reasons: p.reasons }).toEqual({ verdict: 'pass', code: undefined, reasons: [] });
  }, 60_000);

  it('a code region outside the frame leaves every part uninspected with STN_ERR_CODE_REGION, and the line goes on', async () => {
    const r = await inspect([readable, smeared], { region: [480, 350, 60, 60] });
    for (const seq of [readable, smeared]) {
      const p = r.get(seq)!;
      expect({ seq, verdict: p.verdict, errorCode: p.errorCode, reasons: p.reasons }).toEqual({
        seq,
        verdict: 'uninspected',
        errorCode: 'STN_ERR_CODE_REGION',
        reasons: [{ rule: 'uninspected', code: 'STN_ERR_CODE_REGION' }],
      });
      // Its frame travels with it: the part is recorded with its images.
      expect(p.image).toBeDefined();
    }
  }, 60_000);
});
