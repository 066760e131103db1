import type { InspectionResult } from '../line/index.js';

/**
 * DefectCode values for a part rejected by its code alone (no rejecting finding): out of the
 * range any model's labels reach (1 + index), so a PLC can send such a part to relabelling
 * instead of scrap.
 */
export const CODE_DEFECT = { 'no-read': 900, 'code-mismatch': 901 } as const;

/**
 * The DefectCode the PLC receives with a verdict: 0 for none (a pass, or a reject without a
 * rejecting finding such as an uninspected part), else 1 + the index of the top rejecting
 * finding's class in the labels of the model that decided the part; a part its code alone failed
 * gets CODE_DEFECT's value. `labelsOf` looks the labels up by model SHA-256, so a model swapped in
 * while running gets its own codes.
 */
export function defectCode(r: InspectionResult, labelsOf: (modelSha256: string) => readonly string[] | undefined): number {
  const top = r.defects.find((d) => d.rejecting);
  if (!top) {
    const code = r.reasons?.find((x) => x.rule === 'no-read' || x.rule === 'code-mismatch');
    return code ? CODE_DEFECT[code.rule as keyof typeof CODE_DEFECT] : 0;
  }
  if (!r.modelSha256) return 0;
  return (labelsOf(r.modelSha256) ?? []).indexOf(top.class) + 1;
}
