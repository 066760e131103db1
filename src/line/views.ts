import type { Verdict } from '../decision/index.js';
import type { DeliveryFault, InspectionResult } from './protocol.js';

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

/** What became of a part's verdict at the PLC: null when it took it, otherwise why not. */
export type Delivery = Promise<DeliveryFault | null>;

/**
 * Collects the views of each part and hands the combined result on once all have arrived, or
 * when `timeoutMs` has passed since the first (the missing ones count as uninspected). Every
 * view hears what became of its part's one verdict at the PLC.
 */
export class PartViews {
  private readonly open = new Map<number, { views: InspectionResult[]; settle: ((d: Delivery) => void)[]; timer: NodeJS.Timeout }>();
  /** Recently decided parts: a view arriving after its part was handed on is not a new part. */
  private readonly done = new Set<number>();
  private readonly views: Set<string>;

  constructor(
    views: readonly string[],
    private readonly timeoutMs: number,
    private readonly emit: (combined: InspectionResult) => Delivery,
  ) {
    this.views = new Set(views);
  }

  /**
   * For a view (held until its part is complete): what became of its part's verdict at the PLC.
   * Null for any other source (the caller delivers it itself).
   */
  add(r: InspectionResult): Delivery | null {
    if (!this.views.has(r.source)) return null;
    if (this.done.has(r.seq))
      return Promise.resolve({ code: 'STN_ERR_VIEW_MISSING', message: `the ${r.source} view came after its part's verdict was decided without it` });
    let part = this.open.get(r.seq);
    if (!part) {
      part = { views: [], settle: [], timer: setTimeout(() => this.finish(r.seq), this.timeoutMs) };
      this.open.set(r.seq, part);
    }
    part.views.push(r);
    const { settle } = part;
    const delivery = new Promise<DeliveryFault | null>((resolve) => settle.push((d) => void d.then(resolve)));
    if (part.views.length >= this.views.size) this.finish(r.seq);
    return delivery;
  }

  private finish(seq: number): void {
    const part = this.open.get(seq);
    if (!part) return;
    clearTimeout(part.timer);
    this.open.delete(seq);
    this.done.add(seq);
    if (this.done.size > 4096) this.done.delete(this.done.values().next().value!);
    const delivery = this.emit(combineViews(part.views, [...this.views]));
    for (const settle of part.settle) settle(delivery);
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
