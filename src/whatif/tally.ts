/**
 * What-if: the verdict every stored inspection would get under candidate thresholds, compared
 * with the verdict the line gave and with what people (or the source's ground truth) say the
 * part really was. Pure: rows in, counts out; no clock, no I/O. The line decides on the same
 * compact outputs it stores (`decision/`), so a re-decision here is exactly what the line would
 * have done with those thresholds.
 */
import type { Thresholds } from '../config/schema.js';
import { decide, DETECTION_FLOOR, type PartLabel, type Verdict } from '../decision/index.js';
import { StationError } from '../errors/index.js';
import type { WhatIfRow } from '../store/index.js';

export type { WhatIfRow };

/**
 * The verdict under `t`. A part that was not inspected (dropped, late, unreadable) stays
 * uninspected: thresholds cannot change that it had no verdict in time.
 */
export function reDecide(row: Pick<WhatIfRow, 'verdict' | 'outputs'>, t: Thresholds): Verdict {
  if (row.verdict === 'uninspected' || row.outputs.kind === 'none') return row.verdict;
  return decide(row.outputs, t).verdict;
}

/**
 * Refuses thresholds the stored outputs cannot answer for: a detection kept only from
 * DETECTION_FLOOR on cannot tell what a lower threshold would have rejected.
 */
export function checkReplayable(t: Thresholds): void {
  const low = [
    ...(t.default && t.default.minScore < DETECTION_FLOOR ? [`default ${t.default.minScore}`] : []),
    ...Object.entries(t.classes ?? {})
      .filter(([, r]) => r.minScore < DETECTION_FLOOR)
      .map(([c, r]) => `${c} ${r.minScore}`),
  ];
  if (low.length) {
    throw new StationError(
      'STN_ERR_WHATIF_FLOOR',
      `minScore below ${DETECTION_FLOOR} (${low.join(', ')}): the line keeps detections from ${DETECTION_FLOOR} on, so what they would reject is unknown`,
    );
  }
}

export interface FlippedPart {
  id: number;
  capturedAt: string;
  now: Verdict;
  candidate: Verdict;
  maxScore: number;
  label: 'defective' | 'good' | null;
}

export interface WhatIfSummary {
  inspections: number;
  /** Parts whose verdict changes (including fail ↔ uninspected, which re-inference can give). */
  flips: number;
  /** pass → rejected (fail or uninspected) */
  flipsToFail: number;
  /** rejected → pass */
  flipsToPass: number;
  rejectRateNow: number | null;
  rejectRateCandidate: number | null;
  /** Parts with a label (a review, or the source's ground truth). */
  labelled: { total: number; defective: number; good: number; fromReviews: number; fromTruth: number };
  /** Labelled defective parts that pass. */
  escapesNow: number;
  escapesCandidate: number;
  /** Labelled good parts that are rejected (fail or uninspected). */
  falseRejectsNow: number;
  falseRejectsCandidate: number;
}

const rejected = (v: Verdict) => v !== 'pass';
const ratio = (a: number, b: number) => (b ? Math.round((a / b) * 1e6) / 1e6 : null);

/**
 * Counts as rows stream through; keeps the newest `keepFlips` flipped parts for display.
 *
 *   rows (id ascending, in chunks) ──▶ reDecide ──▶ counters
 *                                          └─ flipped? ──▶ ring of the newest keepFlips
 */
export class WhatIfTally {
  private n = 0;
  private rejNow = 0;
  private rejCand = 0;
  private toFail = 0;
  private toPass = 0;
  private flipCount = 0;
  private readonly lab = { total: 0, defective: 0, good: 0, fromReviews: 0, fromTruth: 0 };
  private escNow = 0;
  private escCand = 0;
  private frNow = 0;
  private frCand = 0;
  private readonly ring: FlippedPart[] = [];
  private ringStart = 0;

  constructor(
    private readonly t: Thresholds | null,
    private readonly keepFlips = 100,
  ) {}

  /** Counts one part; `candidate` when it was decided elsewhere (re-inference), else re-decided here. */
  add(row: WhatIfRow, candidate?: Verdict): Verdict {
    const now = row.verdict;
    const cand = candidate ?? reDecide(row, this.t ?? {});
    this.n++;
    if (rejected(now)) this.rejNow++;
    if (rejected(cand)) this.rejCand++;
    if (now !== cand) {
      this.flipCount++;
      if (!rejected(now) && rejected(cand)) this.toFail++;
      if (rejected(now) && !rejected(cand)) this.toPass++;
      this.keep({
        id: row.id,
        capturedAt: row.capturedAt.toISOString(),
        now,
        candidate: cand,
        maxScore: row.maxScore,
        label: row.label ? (row.label.defective ? 'defective' : 'good') : null,
      });
    }
    const l = row.label;
    if (l) {
      this.lab.total++;
      if (l.source === 'review') this.lab.fromReviews++;
      else this.lab.fromTruth++;
      if (l.defective) {
        this.lab.defective++;
        if (!rejected(now)) this.escNow++;
        if (!rejected(cand)) this.escCand++;
      } else {
        this.lab.good++;
        if (rejected(now)) this.frNow++;
        if (rejected(cand)) this.frCand++;
      }
    }
    return cand;
  }

  private keep(f: FlippedPart): void {
    if (this.keepFlips <= 0) return;
    if (this.ring.length < this.keepFlips) this.ring.push(f);
    else {
      this.ring[this.ringStart] = f;
      this.ringStart = (this.ringStart + 1) % this.keepFlips;
    }
  }

  /** The newest kept flips first. */
  flipped(): FlippedPart[] {
    return [...this.ring.slice(this.ringStart), ...this.ring.slice(0, this.ringStart)].reverse();
  }

  summary(): WhatIfSummary {
    return {
      inspections: this.n,
      flips: this.flipCount,
      flipsToFail: this.toFail,
      flipsToPass: this.toPass,
      rejectRateNow: ratio(this.rejNow, this.n),
      rejectRateCandidate: ratio(this.rejCand, this.n),
      labelled: { ...this.lab },
      escapesNow: this.escNow,
      escapesCandidate: this.escCand,
      falseRejectsNow: this.frNow,
      falseRejectsCandidate: this.frCand,
    };
  }
}

/** Two models on the same parts: the line's verdicts against the candidate's, with labels and speed. */
export function compareRun(
  parts: {
    inspectionId: number;
    capturedAt: Date;
    production: { verdict: Verdict; maxScore: number; processingMs: number | null };
    candidate: { verdict: Verdict; latencyMs: number };
    label: PartLabel | null;
  }[],
) {
  const tally = new WhatIfTally(null, 0);
  const prod: number[] = [];
  const cand: number[] = [];
  for (const p of parts) {
    tally.add(
      {
        id: p.inspectionId,
        capturedAt: p.capturedAt,
        verdict: p.production.verdict,
        outputs: { kind: 'none' },
        maxScore: p.production.maxScore,
        label: p.label,
      },
      p.candidate.verdict,
    );
    if (p.production.processingMs !== null) prod.push(p.production.processingMs);
    cand.push(p.candidate.latencyMs);
  }
  const median = (a: number[]) => (a.length ? Math.round(a.sort((x, y) => x - y)[Math.floor((a.length - 1) / 2)] * 100) / 100 : null);
  const s = tally.summary();
  return {
    parts: s.inspections,
    disagree: s.flips,
    candidateRejects: s.flipsToFail,
    candidatePasses: s.flipsToPass,
    rejectRateProduction: s.rejectRateNow,
    rejectRateCandidate: s.rejectRateCandidate,
    labelled: s.labelled,
    escapesProduction: s.escapesNow,
    escapesCandidate: s.escapesCandidate,
    falseRejectsProduction: s.falseRejectsNow,
    falseRejectsCandidate: s.falseRejectsCandidate,
    processingMsP50: { production: median(prod), candidate: median(cand) },
  };
}
