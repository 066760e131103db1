/**
 * What-if: the verdict every stored inspection would get under candidate thresholds (tally.ts,
 * pure), threshold suggestions (suggest.ts), runs over the store (run.ts) and re-inference of a
 * candidate model over stored originals (reinfer.ts).
 */
export { checkReplayable, compareRun, reDecide, WhatIfTally, type FlippedPart, type WhatIfRow, type WhatIfSummary } from './tally.js';
export { suggestThresholds, type SuggestTarget, type Suggestion, type ClassSuggestion } from './suggest.js';
export { runWhatIf, runSuggest, type WhatIfProgress, type WhatIfQuery, type WhatIfResult } from './run.js';
export { Reinferrer, type ReinferenceJob, type ReinferenceRequest } from './reinfer.js';
export { WhatIfJobs, type WhatIfJobView, type WhatIfJobState } from './jobs.js';
