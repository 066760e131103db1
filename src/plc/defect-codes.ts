import type { InspectionResult } from '../line/index.js';

/**
 * The DefectCode the PLC receives with a verdict: 0 for none (a pass, or a reject without a
 * rejecting finding such as an uninspected part), else 1 + the index of the top rejecting
 * finding's class in the labels of the model that decided the part. `labelsOf` looks the labels
 * up by model SHA-256, so a model swapped in while running gets its own codes.
 */
export function defectCode(r: InspectionResult, labelsOf: (modelSha256: string) => readonly string[] | undefined): number {
  const top = r.defects.find((d) => d.rejecting);
  if (!top || !r.modelSha256) return 0;
  return (labelsOf(r.modelSha256) ?? []).indexOf(top.class) + 1;
}
