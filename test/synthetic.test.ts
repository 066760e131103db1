import { describe, expect, it } from 'vitest';
import { PartGenerator, SYNTHETIC_CLASSES } from '../src/capture/index.js';

describe('the synthetic line', () => {
  it('makes the same part for the same seed and index, whatever was made before', () => {
    const a = new PartGenerator({ seed: 5 }),
      b = new PartGenerator({ seed: 5 });
    b.part(0);
    b.part(1);
    expect(Buffer.from(a.part(2).image.data).equals(Buffer.from(b.part(2).image.data))).toBe(true);
    expect(Buffer.from(a.part(2).image.data).equals(Buffer.from(a.part(3).image.data))).toBe(false);
  });

  it('injects defects at about the requested rate, of every class, with boxes and masks that agree', () => {
    const g = new PartGenerator({ seed: 9, defectRate: 0.5 });
    let defective = 0;
    const classes = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = g.part(i);
      if (p.truth.defective) defective++;
      for (const d of p.truth.defects) {
        classes.add(d.class);
        const [x1, y1, x2, y2] = d.box;
        expect(x2).toBeGreaterThan(x1);
        expect(y2).toBeGreaterThan(y1);
        // the mask has pixels of this class inside the box
        const id = SYNTHETIC_CLASSES.indexOf(d.class as never) + 1;
        let inside = 0;
        for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) if (p.mask[y * g.width + x] === id) inside++;
        expect(inside).toBeGreaterThan(0);
      }
      if (!p.truth.defective) expect(p.mask.every((v) => v === 0)).toBe(true);
    }
    expect(defective).toBeGreaterThan(80);
    expect(defective).toBeLessThan(120);
    expect([...classes].sort()).toEqual([...SYNTHETIC_CLASSES].sort());
  });

  it('varies position and lighting between good parts', () => {
    const g = new PartGenerator({ seed: 1, defectRate: 0 });
    const means = [0, 1, 2, 3].map((i) => g.part(i).image.data.reduce((a, b) => a + b, 0) / (g.width * g.height));
    expect(new Set(means.map((m) => Math.round(m))).size).toBeGreaterThan(1);
  });

  it('knows whether a part is defective without rendering it (ground truth for the line simulator)', () => {
    const g = new PartGenerator({ seed: 13, defectRate: 0.3 });
    for (let i = 0; i < 60; i++) expect(g.isDefective(i)).toBe(g.part(i).truth.defective);
  });
});
