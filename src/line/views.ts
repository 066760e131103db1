import type { Verdict } from '../decision/index.js';
import type { InspectionResult } from './protocol.js';

/**
 * One verdict for a part seen by several cameras (top and side, say): every PLC-triggered
 * source is a view of the same part (the trigger's PartSeq), and the part's verdict combines
 * the views. A view that fails fails the part; otherwise a view that could not be inspected
 * makes the part uninspected (a fail-safe reject); only a part whose every view passed passes.
 */
export function combineViews(views: readonly InspectionResult[], expected: readonly string[]): InspectionResult {
  const missing = expected.filter((v) => !views.some((r) => r.source === v));
  const verdicts: Verdict[] = [...views.map((r) => r.verdict), ...missing.map(() => 'uninspected' as const)];
  const verdict: Verdict = verdicts.includes('fail') ? 'fail' : verdicts.includes('uninspected') ? 'uninspected' : 'pass';
  // The view that decided the part leads (its model names the PLC's defect code).
  const first = views.find((r) => r.verdict === verdict) ?? views[0];
  const uninspected = views.find((r) => r.verdict === 'uninspected');
  return {
    ...first,
    source: expected.join('+'),
    verdict,
    ...(verdict === 'uninspected' ? { errorCode: uninspected?.errorCode ?? 'STN_ERR_VIEW_MISSING' } : { errorCode: undefined }),
    reasons: views.flatMap((r) => r.reasons),
    // The code read by whichever view's recipe reads one.
    code: views.find((r) => r.code !== undefined)?.code,
    // Rejecting defects first, so the PLC's defect code names one that rejected the part.
    defects: views.flatMap((r) => r.defects).sort((a, b) => Number(b.rejecting) - Number(a.rejecting)),
    maxScore: Math.max(0, ...views.map((r) => r.maxScore)),
    timestamp: Math.min(...views.map((r) => r.timestamp)),
    mono: views.every((r) => r.mono !== undefined) ? Math.min(...views.map((r) => r.mono!)) : undefined,
    decidedAt: Math.max(...views.map((r) => r.decidedAt)),
    timings: { ...first.timings, total: Math.max(...views.map((r) => r.timings.total)) },
    masks: undefined,
    anomalyMap: undefined,
    image: undefined,
  };
}

/**
 * Collects the views of each part and hands the combined result on once all have arrived, or
 * when `timeoutMs` has passed since the first (the missing ones count as uninspected).
 */
export class PartViews {
  private readonly open = new Map<number, { views: InspectionResult[]; timer: NodeJS.Timeout }>();
  /** Recently decided parts: a view arriving after its part was handed on is not a new part. */
  private readonly done = new Set<number>();
  private readonly views: Set<string>;

  constructor(
    views: readonly string[],
    private readonly timeoutMs: number,
    private readonly emit: (combined: InspectionResult) => void,
  ) {
    this.views = new Set(views);
  }

  /** True when `r` is a view (held until its part is complete); false for any other source. */
  add(r: InspectionResult): boolean {
    if (!this.views.has(r.source)) return false;
    if (this.done.has(r.seq)) return true;
    let part = this.open.get(r.seq);
    if (!part) {
      part = { views: [], timer: setTimeout(() => this.finish(r.seq), this.timeoutMs) };
      this.open.set(r.seq, part);
    }
    part.views.push(r);
    if (part.views.length >= this.views.size) this.finish(r.seq);
    return true;
  }

  private finish(seq: number): void {
    const part = this.open.get(seq);
    if (!part) return;
    clearTimeout(part.timer);
    this.open.delete(seq);
    this.done.add(seq);
    if (this.done.size > 4096) this.done.delete(this.done.values().next().value!);
    this.emit(combineViews(part.views, [...this.views]));
  }

  /** Parts still waiting for a view. */
  get pending(): number {
    return this.open.size;
  }

  /** Hands on whatever is open (at stop). */
  flush(): void {
    for (const seq of [...this.open.keys()]) this.finish(seq);
  }
}
