import bwipjs from 'bwip-js';
import type { GroundTruth, RawImage } from './frame.js';
import { Rng } from './random.js';

/**
 * The synthetic line: a seeded generator of machined plates on a conveyor belt, photographed by
 * a Mono8 camera, with injected defects and their ground truth (class, box, mask). It is the
 * line's digital twin: the demo, the tests, the benchmarks and the shipped model's training set
 * all come from here, so part `n` of seed `s` is the same image on every machine.
 *
 *   +--------------------------------------------------+  belt (dark, woven texture)
 *   |      +-----------------------------------+       |
 *   |      | (o)                           (o) |       |  plate: brushed metal, chamfered
 *   |      |        scratch ----                |       |  edge, four through-holes, light
 *   |      |                 spot *             |       |  gradient, position/angle jitter
 *   |      | (o)                           (o) |       |
 *   |      +-----------------------------------+ [DM]  |  serial label (with `serials`): DataMatrix
 *   +--------------------------------------------------+
 */
export const SYNTHETIC_CLASSES = ['scratch', 'crack', 'spot', 'dent', 'missing_hole'] as const;
export type SyntheticClass = (typeof SYNTHETIC_CLASSES)[number];

export interface SyntheticOptions {
  seed?: number;
  /** Probability that a part carries at least one defect. */
  defectRate?: number;
  width?: number;
  height?: number;
  /**
   * Print each part's serial, `syntheticSerial(serials, index)`, as a DataMatrix on a label at
   * `codeRegion`. Absent: no label (the training set, the model card's parts and every image made
   * before codes stay as they were).
   */
  serials?: string;
}

/**
 * The serial that part `index` of line run `run` carries. The line simulator's PLC writes the
 * same to PartId for that PartSeq (the part index): the PLC tracks the part, the camera sees the
 * label on it, and the two meet only in the station. So the label is not taken from the PLC's
 * PartId: a station that paired a frame with the wrong part's identity would read mismatches.
 */
export function syntheticSerial(run: string, index: number): string {
  return `SN-${run}-${String(index).padStart(8, '0')}`;
}

/**
 * [x, y, width, height] of a synthetic frame that holds the serial label: the bottom right corner
 * of the belt, clear of the plate whatever its jitter. On the plate the shipped detector takes a
 * DataMatrix for cracks and fails every part; here its verdicts are those without the label
 * (400 parts of seed 42 compared).
 */
export function syntheticCodeRegion(width = 512, height = 384): [number, number, number, number] {
  const side = Math.round(60 * (width / 512));
  return [width - side, height - side, side, side];
}

/** Share of labels smeared beyond reading, and of labels that carry another part's serial. */
export const CODE_DAMAGE_RATE = 0.03;
export const CODE_MISLABEL_RATE = 0.01;

/** What the label of a part says and whether it was smeared. */
export interface PrintedCode {
  text: string;
  damaged: boolean;
  /** The label carries the next part's serial, not this one's. */
  mislabelled: boolean;
}

export interface SyntheticPart {
  index: number;
  image: RawImage;
  truth: GroundTruth;
  /** Per pixel: 0 = no defect, k = SYNTHETIC_CLASSES[k - 1]. */
  mask: Uint8Array;
  /** The printed serial label, with `serials`. */
  code?: PrintedCode;
}

const NOISE_SIZE = 1 << 16;

export class PartGenerator {
  readonly width: number;
  readonly height: number;
  readonly seed: number;
  readonly defectRate: number;
  readonly serials: string | undefined;
  private readonly noise: Float32Array;

  constructor(options: SyntheticOptions = {}) {
    this.seed = options.seed ?? 1;
    this.defectRate = options.defectRate ?? 0.2;
    this.width = options.width ?? 512;
    this.height = options.height ?? 384;
    this.serials = options.serials;
    // A table of normal deviates made once: per-pixel Box–Muller would dominate the frame time.
    const rng = new Rng(this.seed ^ 0x9e3779b9);
    this.noise = new Float32Array(NOISE_SIZE);
    for (let i = 0; i < NOISE_SIZE; i++) this.noise[i] = rng.gauss();
  }

  /** Part `index` of this seed; independent of which parts were made before. */
  part(index: number): SyntheticPart {
    const rng = new Rng(hash2(this.seed, index));
    const layout = this.layout(rng);
    const { width: w, height: h } = this;
    const img = new Float32Array(w * h);
    const mask = new Uint8Array(w * h);
    const noise = this.noise;
    let nOff = layout.noiseOffset;
    const n = () => noise[nOff++ & (NOISE_SIZE - 1)];

    // Belt: dark woven texture.
    const beltBase = layout.beltBase;
    for (let y = 0; y < h; y++) {
      const row = y * w;
      const weaveY = ((y >> 2) & 1) * 3;
      for (let x = 0; x < w; x++) img[row + x] = beltBase + weaveY + ((x >> 2) & 1) * 2 + n() * 3;
    }

    // Plate geometry, in image pixels; local frame (u along the long side, v across).
    const scale = w / 512;
    const { cx, cy, pw, ph, ang, holeR } = layout;
    const cos = Math.cos(ang),
      sin = Math.sin(ang);
    const toImage = (u: number, v: number): [number, number] => [cx + u * cos - v * sin, cy + u * sin + v * cos];
    const holes: [number, number][] = [
      [-0.36 * pw, -0.3 * ph],
      [0.36 * pw, -0.3 * ph],
      [-0.36 * pw, 0.3 * ph],
      [0.36 * pw, 0.3 * ph],
    ];

    const defective = layout.defective;
    const classes: SyntheticClass[] = [];
    if (defective) {
      const count = rng.next() < 0.8 ? 1 : 2;
      for (let k = 0; k < count; k++) {
        let c = rng.pick(SYNTHETIC_CLASSES);
        if (c === 'missing_hole' && classes.includes(c)) c = 'scratch';
        classes.push(c);
      }
    }
    const missingHole = classes.includes('missing_hole') ? rng.int(0, 3) : -1;

    // Brushed metal: streaks along u, a light gradient, gain from the lamp.
    const gain = rng.range(0.85, 1.15);
    const base = 150 * gain;
    const gu = rng.range(-0.06, 0.06),
      gv = rng.range(-0.08, 0.08);
    const streakLen = Math.ceil(ph) + 4;
    const streak = new Float32Array(streakLen);
    let s = 0;
    for (let i = 0; i < streakLen; i++) {
      s = 0.7 * s + 0.3 * rng.gauss();
      streak[i] = s;
    }
    const half = Math.hypot(pw, ph) / 2 + 2;
    const x0 = Math.max(0, Math.floor(cx - half)),
      x1 = Math.min(w - 1, Math.ceil(cx + half));
    const y0 = Math.max(0, Math.floor(cy - half)),
      y1 = Math.min(h - 1, Math.ceil(cy + half));
    const hu = pw / 2,
      hv = ph / 2;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const dx = x - cx,
          dy = y - cy;
        const u = dx * cos + dy * sin;
        const v = -dx * sin + dy * cos;
        const edge = Math.min(hu - Math.abs(u), hv - Math.abs(v));
        if (edge < -0.5) continue;
        let val = base + gu * u + gv * v + streak[Math.max(0, Math.min(streakLen - 1, Math.round(v + hv)))] * 7 + n() * 3.5;
        // Chamfer: darker band with a bright highlight at the very edge.
        if (edge < 5) val *= edge < 1.2 ? 1.12 : 0.72 + 0.056 * edge;
        for (let k = 0; k < 4; k++) {
          if (k === missingHole) continue;
          const d = Math.hypot(u - holes[k][0], v - holes[k][1]);
          if (d < holeR) val = 20 + n() * 2;
          else if (d < holeR + 2.2) val = Math.min(255, val + 45);
        }
        const cover = Math.min(1, edge + 0.5);
        const i = y * w + x;
        img[i] = img[i] * (1 - cover) + val * cover;
      }
    }

    // Benign tool marks on about a third of parts: the model must not call them defects.
    if (rng.next() < 0.33) {
      const [ax, ay] = toImage(rng.range(-0.4, 0.4) * pw, rng.range(-0.35, 0.35) * ph);
      const a = rng.range(-0.2, 0.2);
      const len = rng.range(120, 260) * scale;
      this.stroke(
        img,
        null,
        0,
        [
          [ax, ay],
          [ax + Math.cos(a) * len, ay + Math.sin(a) * len],
        ],
        1.0,
        rng.pick([-9, 9]),
      );
    }

    const defects: GroundTruth['defects'] = [];
    for (const c of classes) {
      const classId = SYNTHETIC_CLASSES.indexOf(c) + 1;
      let box: [number, number, number, number] | null;
      if (c === 'missing_hole') {
        const [hx, hy] = toImage(holes[missingHole][0], holes[missingHole][1]);
        const r = holeR + 3;
        box = this.paintDisc(mask, classId, hx, hy, r);
      } else {
        // Keep surface defects on the plate and clear of holes and edges.
        let u = 0,
          v = 0;
        for (let tries = 0; tries < 50; tries++) {
          u = rng.range(-0.38, 0.38) * pw;
          v = rng.range(-0.34, 0.34) * ph;
          if (holes.every(([a, b]) => Math.hypot(u - a, v - b) > holeR + 34 * scale)) break;
        }
        const [px, py] = toImage(u, v);
        box = this.drawDefect(img, mask, classId, c, px, py, rng, scale);
      }
      if (box) defects.push({ class: c, box });
    }

    const code = this.printedCode(index);
    if (code) this.printLabel(img, code, index);

    // Camera: vignetting and sensor noise, then quantise to Mono8.
    const data = new Uint8Array(w * h);
    const vig = rng.range(0.1, 0.2);
    const r2 = (w * w + h * h) / 4;
    for (let y = 0; y < h; y++) {
      const ddy = (y - h / 2) ** 2;
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        const v = img[i] * (1 - vig * (((x - w / 2) ** 2 + ddy) / r2)) + n() * 2;
        data[i] = v < 0 ? 0 : Math.min(v, 255);
      }
    }
    return {
      index,
      image: { kind: 'raw', format: 'Mono8', width: w, height: h, data },
      truth: { defective: defects.length > 0, defects },
      mask,
      ...(code ? { code } : {}),
    };
  }

  /** The region of this generator's frames that holds the serial label (`syntheticCodeRegion`). */
  get codeRegion(): [number, number, number, number] {
    return syntheticCodeRegion(this.width, this.height);
  }

  /**
   * What part `index`'s label says, without rendering it; null without `serials`. Drawn from
   * its own seeded stream, so the part's plate and defects are the same with or without a label.
   */
  printedCode(index: number): PrintedCode | null {
    if (this.serials === undefined) return null;
    const rng = new Rng(hash2(this.seed ^ 0x5eedc0de, index));
    const damaged = rng.next() < CODE_DAMAGE_RATE;
    const mislabelled = rng.next() < CODE_MISLABEL_RATE;
    return { text: syntheticSerial(this.serials, mislabelled ? index + 1 : index), damaged, mislabelled };
  }

  /**
   * A light label with the DataMatrix (bwip-js' module matrix, two pixels a module at 512 wide,
   * a two-module quiet zone), in the bottom right of `codeRegion`. A damaged one gets a grease
   * smear over the left part of the symbol, its finder edge included: no decoder reads it.
   */
  private printLabel(img: Float32Array, code: PrintedCode, index: number): void {
    const { width: w } = this;
    const [{ pixs, pixx, pixy }] = bwipjs.raw('datamatrix', code.text, {}) as { pixs: number[]; pixx: number; pixy: number }[];
    const mod = Math.max(1, Math.round(2 * (w / 512)));
    const quiet = 2 * mod;
    const lw = pixx * mod + 2 * quiet,
      lh = pixy * mod + 2 * quiet;
    const [rx, ry, rw, rh] = this.codeRegion;
    const x0 = rx + rw - lw - Math.round(rw / 8),
      y0 = ry + rh - lh - Math.round(rh / 8);
    for (let y = 0; y < lh; y++) for (let x = 0; x < lw; x++) img[(y0 + y) * w + x0 + x] = 215;
    for (let j = 0; j < pixy; j++) {
      for (let i = 0; i < pixx; i++) {
        if (!pixs[j * pixx + i]) continue;
        for (let dy = 0; dy < mod; dy++) for (let dx = 0; dx < mod; dx++) img[(y0 + quiet + j * mod + dy) * w + x0 + quiet + i * mod + dx] = 30;
      }
    }
    if (!code.damaged) return;
    const rng = new Rng(hash2(this.seed ^ 0x5a3a12, index));
    // A slanted smear from the left edge over 55–70 % of the symbol: modules and finder alike one grey.
    const reach = quiet + rng.range(0.55, 0.7) * pixx * mod;
    const slant = rng.range(-0.3, 0.3);
    for (let y = 0; y < lh; y++) {
      const edge = reach + slant * (y - lh / 2);
      for (let x = 0; x < lw; x++) {
        if (x > edge) continue;
        const i = (y0 + y) * w + x0 + x;
        img[i] = 110;
      }
    }
  }

  /** Whether part `index` is defective, without rendering it (the line simulator's ground truth). */
  isDefective(index: number): boolean {
    return this.layout(new Rng(hash2(this.seed, index))).defective;
  }

  /** The first draws of a part: where it lies and whether it is defective. Shared by part() and isDefective(). */
  private layout(rng: Rng) {
    const scale = this.width / 512;
    return {
      noiseOffset: rng.int(0, NOISE_SIZE - 1),
      beltBase: rng.range(28, 42),
      cx: this.width / 2 + rng.range(-14, 14) * scale,
      cy: this.height / 2 + rng.range(-12, 12) * scale,
      pw: rng.range(330, 350) * scale,
      ph: rng.range(222, 238) * scale,
      ang: rng.range(-0.05, 0.05),
      holeR: rng.range(12, 14) * scale,
      defective: rng.next() < this.defectRate,
    };
  }

  private drawDefect(
    img: Float32Array,
    mask: Uint8Array,
    classId: number,
    c: SyntheticClass,
    px: number,
    py: number,
    rng: Rng,
    scale: number,
  ): [number, number, number, number] | null {
    // Severity: real lines see faint defects near the noise floor as well as obvious ones, which
    // is what makes a threshold a trade-off between escapes and false rejects.
    const sev = rng.range(0.35, 1);
    switch (c) {
      case 'scratch': {
        const a = rng.range(0, Math.PI);
        const len = rng.range(50, 140) * scale;
        const bend = rng.range(-10, 10) * scale;
        const pts: [number, number][] = [];
        for (let k = 0; k <= 12; k++) {
          const t = k / 12 - 0.5;
          const off = bend * (1 - 4 * t * t);
          pts.push([px + Math.cos(a) * t * len - Math.sin(a) * off, py + Math.sin(a) * t * len + Math.cos(a) * off]);
        }
        const amp = sev * (rng.next() < 0.6 ? rng.range(50, 75) : -rng.range(50, 70));
        return this.stroke(img, mask, classId, pts, rng.range(1.8, 3.2) * scale, amp);
      }
      case 'crack': {
        let a = rng.range(0, 2 * Math.PI);
        const pts: [number, number][] = [[px, py]];
        const segs = rng.int(7, 12);
        for (let k = 0; k < segs; k++) {
          a += rng.range(-0.7, 0.7);
          const [lx, ly] = pts[pts.length - 1];
          const step = rng.range(5, 10) * scale;
          pts.push([lx + Math.cos(a) * step, ly + Math.sin(a) * step]);
        }
        const width = rng.range(1.4, 2.2) * scale;
        const amp = -sev * rng.range(75, 100);
        const box = this.stroke(img, mask, classId, pts, width, amp);
        // One branch from the middle on most cracks.
        if (rng.next() < 0.7) {
          const mid = pts[Math.floor(pts.length / 2)];
          let b = a + rng.pick([-1, 1]) * rng.range(0.8, 1.4);
          const br: [number, number][] = [mid];
          for (let k = 0; k < rng.int(2, 4); k++) {
            b += rng.range(-0.5, 0.5);
            const [lx, ly] = br[br.length - 1];
            br.push([lx + Math.cos(b) * 7 * scale, ly + Math.sin(b) * 7 * scale]);
          }
          const bb = this.stroke(img, mask, classId, br, width * 0.8, amp);
          if (box && bb) return [Math.min(box[0], bb[0]), Math.min(box[1], bb[1]), Math.max(box[2], bb[2]), Math.max(box[3], bb[3])];
        }
        return box;
      }
      case 'spot': {
        const rx = rng.range(5, 12) * scale,
          ry = rng.range(5, 12) * scale;
        const amp = -sev * rng.range(50, 75);
        return this.blob(img, mask, classId, px, py, rx, ry, (d2) => amp * Math.exp(-1.2 * d2 * d2));
      }
      case 'dent': {
        const r = rng.range(10, 18) * scale;
        const la = rng.range(0, 2 * Math.PI);
        const lx = Math.cos(la),
          ly = Math.sin(la);
        const amp = sev * rng.range(40, 60);
        return this.blob(img, mask, classId, px, py, r, r, (d2, dx, dy) => {
          const shade = (dx * lx + dy * ly) / Math.max(Math.sqrt(d2), 1e-6);
          return amp * shade * Math.sqrt(d2) * Math.exp(-1.5 * d2) * 1.6 - 15 * Math.exp(-2 * d2);
        });
      }
      default:
        return null;
    }
  }

  /** Draws an anti-aliased polyline of `width`, adding `amp`; marks the mask where visible. */
  private stroke(
    img: Float32Array,
    mask: Uint8Array | null,
    classId: number,
    pts: [number, number][],
    width: number,
    amp: number,
  ): [number, number, number, number] | null {
    const { width: w, height: h } = this;
    const pad = width + 2;
    const xs = pts.map((p) => p[0]),
      ys = pts.map((p) => p[1]);
    const bx0 = Math.max(0, Math.floor(Math.min(...xs) - pad)),
      bx1 = Math.min(w - 1, Math.ceil(Math.max(...xs) + pad));
    const by0 = Math.max(0, Math.floor(Math.min(...ys) - pad)),
      by1 = Math.min(h - 1, Math.ceil(Math.max(...ys) + pad));
    let mx0 = w,
      my0 = h,
      mx1 = -1,
      my1 = -1;
    for (let y = by0; y <= by1; y++) {
      for (let x = bx0; x <= bx1; x++) {
        let best = Infinity;
        for (let k = 1; k < pts.length; k++) best = Math.min(best, segDist(x, y, pts[k - 1], pts[k]));
        const alpha = Math.min(1, Math.max(0, width / 2 + 0.5 - best));
        if (alpha <= 0) continue;
        const i = y * w + x;
        img[i] += amp * alpha;
        if (mask && alpha > 0.3) {
          mask[i] = classId;
          if (x < mx0) mx0 = x;
          if (x > mx1) mx1 = x;
          if (y < my0) my0 = y;
          if (y > my1) my1 = y;
        }
      }
    }
    return mx1 < 0 ? null : [mx0, my0, mx1 + 1, my1 + 1];
  }

  /** An elliptical blob whose intensity is `profile(normalised d², dx, dy)`. */
  private blob(
    img: Float32Array,
    mask: Uint8Array,
    classId: number,
    px: number,
    py: number,
    rx: number,
    ry: number,
    profile: (d2: number, dx: number, dy: number) => number,
  ): [number, number, number, number] | null {
    const { width: w, height: h } = this;
    let mx0 = w,
      my0 = h,
      mx1 = -1,
      my1 = -1;
    const ex = rx * 1.8,
      ey = ry * 1.8;
    for (let y = Math.max(0, Math.floor(py - ey)); y <= Math.min(h - 1, Math.ceil(py + ey)); y++) {
      for (let x = Math.max(0, Math.floor(px - ex)); x <= Math.min(w - 1, Math.ceil(px + ex)); x++) {
        const dx = (x - px) / rx,
          dy = (y - py) / ry;
        const d2 = dx * dx + dy * dy;
        if (d2 > 3.2) continue;
        const delta = profile(d2, dx, dy);
        const i = y * w + x;
        img[i] += delta;
        if (Math.abs(delta) > 12) {
          mask[i] = classId;
          if (x < mx0) mx0 = x;
          if (x > mx1) mx1 = x;
          if (y < my0) my0 = y;
          if (y > my1) my1 = y;
        }
      }
    }
    return mx1 < 0 ? null : [mx0, my0, mx1 + 1, my1 + 1];
  }

  private paintDisc(mask: Uint8Array, classId: number, cx: number, cy: number, r: number): [number, number, number, number] {
    const { width: w, height: h } = this;
    const x0 = Math.max(0, Math.floor(cx - r)),
      x1 = Math.min(w - 1, Math.ceil(cx + r));
    const y0 = Math.max(0, Math.floor(cy - r)),
      y1 = Math.min(h - 1, Math.ceil(cy + r));
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) if (Math.hypot(x - cx, y - cy) <= r) mask[y * w + x] = classId;
    return [x0, y0, x1 + 1, y1 + 1];
  }
}

function segDist(x: number, y: number, a: [number, number], b: [number, number]): number {
  const vx = b[0] - a[0],
    vy = b[1] - a[1];
  const len2 = vx * vx + vy * vy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((x - a[0]) * vx + (y - a[1]) * vy) / len2));
  return Math.hypot(x - a[0] - t * vx, y - a[1] - t * vy);
}

function hash2(a: number, b: number): number {
  let h = Math.imul(a ^ 0x85ebca6b, 0xc2b2ae35) ^ Math.imul(b + 0x27d4eb2f, 0x165667b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 12)) >>> 0;
}
