/**
 * The overlay, drawn straight into an RGB buffer: anomaly heat map and masks blended, boxes
 * (rejecting findings solid, the rest dashed), labels and a verdict banner in a 5×7 bitmap
 * font. No SVG, no font rendering: a few milliseconds of plain loops instead of tens through
 * librsvg, so recording keeps up with the line.
 */
import type { InspectionResult } from '../line/protocol.js';

/** 5×7 glyphs, one 5-bit row each (most significant bit on the left). Lower case is drawn as upper case. */
const GLYPHS: Record<string, number[]> = {
  '0': [14, 17, 19, 21, 25, 17, 14],
  '1': [4, 12, 4, 4, 4, 4, 14],
  '2': [14, 17, 1, 2, 4, 8, 31],
  '3': [31, 2, 4, 2, 1, 17, 14],
  '4': [2, 6, 10, 18, 31, 2, 2],
  '5': [31, 16, 30, 1, 1, 17, 14],
  '6': [6, 8, 16, 30, 17, 17, 14],
  '7': [31, 1, 2, 4, 8, 8, 8],
  '8': [14, 17, 17, 14, 17, 17, 14],
  '9': [14, 17, 17, 15, 1, 2, 12],
  A: [14, 17, 17, 31, 17, 17, 17],
  B: [30, 17, 17, 30, 17, 17, 30],
  C: [14, 17, 16, 16, 16, 17, 14],
  D: [28, 18, 17, 17, 17, 18, 28],
  E: [31, 16, 16, 30, 16, 16, 31],
  F: [31, 16, 16, 30, 16, 16, 16],
  G: [14, 17, 16, 23, 17, 17, 15],
  H: [17, 17, 17, 31, 17, 17, 17],
  I: [14, 4, 4, 4, 4, 4, 14],
  J: [7, 2, 2, 2, 2, 18, 12],
  K: [17, 18, 20, 24, 20, 18, 17],
  L: [16, 16, 16, 16, 16, 16, 31],
  M: [17, 27, 21, 21, 17, 17, 17],
  N: [17, 17, 25, 21, 19, 17, 17],
  O: [14, 17, 17, 17, 17, 17, 14],
  P: [30, 17, 17, 30, 16, 16, 16],
  Q: [14, 17, 17, 17, 21, 18, 13],
  R: [30, 17, 17, 30, 20, 18, 17],
  S: [15, 16, 16, 14, 1, 1, 30],
  T: [31, 4, 4, 4, 4, 4, 4],
  U: [17, 17, 17, 17, 17, 17, 14],
  V: [17, 17, 17, 17, 17, 10, 4],
  W: [17, 17, 17, 21, 21, 21, 10],
  X: [17, 17, 10, 4, 10, 17, 17],
  Y: [17, 17, 17, 10, 4, 4, 4],
  Z: [31, 1, 2, 4, 8, 16, 31],
  '.': [0, 0, 0, 0, 0, 12, 12],
  _: [0, 0, 0, 0, 0, 0, 31],
  '-': [0, 0, 0, 31, 0, 0, 0],
  '#': [10, 10, 31, 10, 31, 10, 10],
  ':': [0, 12, 12, 0, 12, 12, 0],
  ' ': [0, 0, 0, 0, 0, 0, 0],
};
const UNKNOWN = [31, 17, 17, 17, 17, 17, 31];

type Rgb = [number, number, number];
const COLORS: Rgb[] = [
  [255, 59, 48],
  [255, 149, 0],
  [255, 204, 0],
  [52, 199, 89],
  [0, 199, 190],
  [0, 122, 255],
  [175, 82, 222],
  [255, 45, 85],
];
const BANNER: Record<string, Rgb> = { pass: [31, 157, 85], fail: [214, 69, 69], uninspected: [183, 121, 31] };

/** An RGB image (3 bytes per pixel, row-major) that overlays are drawn into. */
export class Canvas {
  constructor(
    readonly data: Uint8Array,
    readonly width: number,
    readonly height: number,
  ) {}

  /** Blends `c` over pixel (x, y) with opacity `a` in [0, 1]. */
  blend(x: number, y: number, c: Rgb, a: number): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 3,
      d = this.data;
    d[i] += (c[0] - d[i]) * a;
    d[i + 1] += (c[1] - d[i + 1]) * a;
    d[i + 2] += (c[2] - d[i + 2]) * a;
  }

  fillRect(x: number, y: number, w: number, h: number, c: Rgb, a = 1): void {
    const x0 = Math.max(0, Math.round(x)),
      y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w)),
      y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) this.blend(xx, yy, c, a);
  }

  /** A rectangle outline `t` pixels thick; dashed: 5 on, 4 off. */
  strokeRect(x1: number, y1: number, x2: number, y2: number, c: Rgb, t: number, dashed: boolean): void {
    const on = (k: number) => !dashed || k % 9 < 5;
    const [ax, ay, bx, by] = [x1, y1, x2, y2].map(Math.round);
    for (let x = ax; x <= bx; x++) {
      if (!on(x - ax)) continue;
      for (let k = 0; k < t; k++) {
        this.blend(x, ay + k, c, 1);
        this.blend(x, by - k, c, 1);
      }
    }
    for (let y = ay; y <= by; y++) {
      if (!on(y - ay)) continue;
      for (let k = 0; k < t; k++) {
        this.blend(ax + k, y, c, 1);
        this.blend(bx - k, y, c, 1);
      }
    }
  }

  /** Text in the bitmap font at `scale`, with a dark outline so it reads on any background. */
  text(x: number, y: number, s: string, c: Rgb, scale: number, outline = true): void {
    const draw = (ox: number, oy: number, col: Rgb) => {
      let cx = Math.round(x) + ox;
      for (const ch of s.toUpperCase()) {
        const g = GLYPHS[ch] ?? UNKNOWN;
        for (let row = 0; row < 7; row++) {
          for (let bit = 0; bit < 5; bit++) {
            if (g[row] & (16 >> bit)) this.fillRect(cx + bit * scale, Math.round(y) + oy + row * scale, scale, scale, col);
          }
        }
        cx += 6 * scale;
      }
    };
    if (outline)
      for (const [ox, oy] of [
        [-1, 0],
        [1, 0],
        [0, -1],
        [0, 1],
      ])
        draw(ox, oy, [0, 0, 0]);
    draw(0, 0, c);
  }
}

export const textWidth = (s: string, scale: number) => s.length * 6 * scale;

/** A perceptually ordered blue → yellow → red ramp for anomaly scores in [0, 1]. */
export function heat(v: number): Rgb {
  const stops: Rgb[] = [
    [0, 0, 160],
    [0, 160, 255],
    [255, 230, 0],
    [255, 40, 0],
  ];
  const x = Math.max(0, Math.min(1, v)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  return [0, 1, 2].map((k) => Math.round(stops[i][k] + (stops[i + 1][k] - stops[i][k]) * f)) as Rgb;
}

/** The ramp and its opacity at 256 levels, made once (the heat map touches every pixel of its region). */
const HEAT: Rgb[] = Array.from({ length: 256 }, (_, i) => heat(i / 255));
const HEAT_ALPHA = Float32Array.from({ length: 256 }, (_, i) => (40 + 150 * (i / 255)) / 255);

/** Draws everything the station knows about the part onto `cv`. */
export function drawOverlay(cv: Canvas, r: InspectionResult): void {
  const classes = [...new Set(r.defects.map((d) => d.class))];
  const colorOf = (c: string) => COLORS[classes.indexOf(c) % COLORS.length];
  if (r.anomalyMap) {
    const m = r.anomalyMap;
    const [rx, ry, rw, rh] = m.region;
    const x0 = Math.max(0, Math.floor(rx)),
      y0 = Math.max(0, Math.floor(ry));
    const x1 = Math.min(cv.width, Math.ceil(rx + rw)),
      y1 = Math.min(cv.height, Math.ceil(ry + rh));
    for (let y = y0; y < y1; y++) {
      const my = Math.min(m.height - 1, Math.floor(((y - ry) / rh) * m.height));
      for (let x = x0; x < x1; x++) {
        const v = m.data[my * m.width + Math.min(m.width - 1, Math.floor(((x - rx) / rw) * m.width))];
        const k = Math.round(Math.max(0, Math.min(1, v)) * 255);
        cv.blend(x, y, HEAT[k], HEAT_ALPHA[k]);
      }
    }
  }
  if (r.masks) {
    r.defects.forEach((d, k) => {
      const mask = r.masks![k];
      if (!mask || !d.box || !mask.width || !mask.height) return;
      const [bx1, by1, bx2, by2] = d.box;
      const c = colorOf(d.class);
      for (let y = Math.max(0, Math.floor(by1)); y < Math.min(cv.height, Math.ceil(by2)); y++) {
        const my = Math.min(mask.height - 1, Math.floor(((y - by1) / Math.max(1, by2 - by1)) * mask.height));
        for (let x = Math.max(0, Math.floor(bx1)); x < Math.min(cv.width, Math.ceil(bx2)); x++) {
          const mx = Math.min(mask.width - 1, Math.floor(((x - bx1) / Math.max(1, bx2 - bx1)) * mask.width));
          if (mask.data[my * mask.width + mx]) cv.blend(x, y, c, 110 / 255);
        }
      }
    });
  }
  const scale = Math.max(1, Math.round(cv.width / 500));
  for (const d of r.defects) {
    if (!d.box) continue;
    const [x1, y1, x2, y2] = d.box;
    const c = colorOf(d.class);
    cv.strokeRect(x1, y1, x2, y2, c, Math.max(2, scale), !d.rejecting);
    const label = `${d.class} ${d.score.toFixed(2)}`;
    const ty = y1 > 7 * scale + 4 ? y1 - 7 * scale - 3 : y2 + 3;
    cv.text(Math.min(x1, cv.width - textWidth(label, scale)), ty, label, c, scale);
  }
  const banner = `${r.verdict} #${r.seq}${r.errorCode ? ` ${r.errorCode}` : ''}`;
  cv.fillRect(0, 0, Math.min(cv.width, textWidth(banner, scale) + 10), 7 * scale + 8, BANNER[r.verdict] ?? [60, 60, 60], 0.85);
  cv.text(5, 4, banner, [255, 255, 255], scale, false);
}
