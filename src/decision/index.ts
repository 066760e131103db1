/**
 * The verdict, as a pure function of the model's decoded output and the recipe's thresholds.
 * No clock, no I/O: the same inputs give the same verdict, which is what lets what-if replay
 * history against new thresholds and get exactly what the line would do.
 */
import type { ClassRule, Thresholds } from '../config/schema.js';
import type { ModelOutput } from '../inference/index.js';

export type Verdict = 'pass' | 'fail' | 'uninspected';

export interface Reason {
  rule: 'class' | 'count' | 'anomaly' | 'classification' | 'uninspected';
  class?: string;
  score?: number;
  area?: number;
  count?: number;
  /** The limit that was crossed (minScore, maxCount, anomalyScore). */
  limit?: number;
  code?: string;
}

export interface DecidedDefect {
  class: string;
  score: number;
  box?: [number, number, number, number];
  area?: number;
  /** Whether this finding counts against the part under the recipe. */
  rejecting: boolean;
}

export interface Decision {
  verdict: Verdict;
  reasons: Reason[];
  defects: DecidedDefect[];
  maxScore: number;
}

const DEFAULT_RULE: ClassRule = { minScore: 0.5, minArea: 0, maxCount: 0 };
const DEFAULT_GOOD = ['good', 'ok', 'pass', 'normal'];

export function ruleFor(t: Thresholds, cls: string): Required<ClassRule> {
  const r = t.classes?.[cls] ?? t.default ?? DEFAULT_RULE;
  return { minScore: r.minScore, minArea: r.minArea ?? 0, maxCount: r.maxCount ?? 0 };
}

export function decide(output: ModelOutput, t: Thresholds): Decision {
  switch (output.kind) {
    case 'detection': {
      const counts = new Map<string, { n: number; max: number; area: number }>();
      const defects: DecidedDefect[] = output.detections.map((d) => {
        const r = ruleFor(t, d.class);
        const counts_ = d.score >= r.minScore && d.area >= r.minArea;
        if (counts_) {
          const c = counts.get(d.class) ?? { n: 0, max: 0, area: 0 };
          c.n++;
          c.max = Math.max(c.max, d.score);
          c.area = Math.max(c.area, d.area);
          counts.set(d.class, c);
        }
        return { class: d.class, score: d.score, box: d.box, area: d.area, rejecting: false };
      });
      const reasons: Reason[] = [];
      for (const [cls, c] of counts) {
        const r = ruleFor(t, cls);
        if (c.n > r.maxCount) {
          reasons.push(r.maxCount === 0
            ? { rule: 'class', class: cls, score: c.max, area: c.area, count: c.n, limit: r.minScore }
            : { rule: 'count', class: cls, score: c.max, count: c.n, limit: r.maxCount });
          for (const d of defects) if (d.class === cls && d.score >= r.minScore && (d.area ?? 0) >= r.minArea) d.rejecting = true;
        }
      }
      reasons.sort((a, b) => (b.score ?? 0) - (a.score ?? 0));
      const maxScore = defects.reduce((m, d) => Math.max(m, d.score), 0);
      return { verdict: reasons.length ? 'fail' : 'pass', reasons, defects, maxScore };
    }
    case 'anomaly': {
      const limit = t.anomalyScore ?? 0.5;
      const fail = output.score >= limit;
      return {
        verdict: fail ? 'fail' : 'pass',
        reasons: fail ? [{ rule: 'anomaly', class: 'anomaly', score: output.score, area: output.area, limit }] : [],
        defects: [{ class: 'anomaly', score: output.score, area: output.area, rejecting: fail }],
        maxScore: output.score,
      };
    }
    case 'classification': {
      const good = new Set(t.goodClasses ?? DEFAULT_GOOD);
      const top = output.scores[0];
      const r = top ? ruleFor(t, top.class) : DEFAULT_RULE;
      const fail = !!top && !good.has(top.class) && top.score >= r.minScore;
      const bad = output.scores.filter((s) => !good.has(s.class));
      return {
        verdict: fail ? 'fail' : 'pass',
        reasons: fail ? [{ rule: 'classification', class: top.class, score: top.score, limit: r.minScore }] : [],
        defects: bad.slice(0, 3).map((s) => ({ class: s.class, score: s.score, rejecting: fail && s === top })),
        maxScore: bad.reduce((m, s) => Math.max(m, s.score), 0),
      };
    }
  }
}

/** A part that could not be inspected: fail-safe, the line rejects it. */
export function uninspected(code: string): Decision {
  return { verdict: 'uninspected', reasons: [{ rule: 'uninspected', code }], defects: [], maxScore: 0 };
}
