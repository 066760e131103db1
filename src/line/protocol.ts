import type { FrameImage, GroundTruth } from '../capture/index.js';
import type { Recipe, Thresholds } from '../config/schema.js';
import type { LoadedConfig } from '../config/load.js';
import type { CompactOutputs, DecidedDefect, Reason, Verdict } from '../decision/index.js';
import type { AnomalyMap, DetectionMask, Family } from '../inference/index.js';
import type { ErrorCode, SerializedError } from '../errors/index.js';
import type { CameraStatus } from '../capture/index.js';

/** Per-stage milliseconds of one part. */
export interface Timings {
  /** Trigger → taken off the queue by the inference loop. */
  queue: number;
  preprocess: number;
  inference: number;
  decode: number;
  decision: number;
  /** Reading the recipe's code (crop and decode); absent when the recipe reads none. */
  code?: number;
  /** Trigger → verdict. */
  total: number;
}

export type { CompactOutputs } from '../decision/index.js';

/** Who the part is, from the PLC as of its trigger (plc.tags PartId, Lot, RecipeSelect). */
export interface PartIdentity {
  /** The serial (printable, at most PART_ID_MAX characters). */
  partId?: string;
  /** Lot or production order (printable, at most LOT_MAX characters). */
  lot?: string;
  /** RecipeSelect: the number of the recipe this part is inspected with (0: none the PLC could say). */
  recipeNumber?: number;
  /** The identity is not usable (empty, too long, not valid text): the part is uninspected with this code. */
  error?: 'STN_ERR_PART_ID' | 'STN_ERR_PART_LOT';
}

/** Why a part's verdict did not reach the PLC (whose default reject then took the part): a stable code and what happened. */
export interface DeliveryFault {
  code: ErrorCode;
  message: string;
}

export interface InspectionResult {
  seq: number;
  source: string;
  /** The part's serial and lot from the PLC, when it sends them. */
  partId?: string;
  lot?: string;
  /** The code read from the part in its recipe's code region, when it was read. */
  code?: string;
  recipe: string;
  recipeVersion: number;
  modelSha256: string | null;
  /** Trigger time, ms since the epoch. */
  timestamp: number;
  /** Trigger time on the monotonic clock (monotonicMs): deadlines count from it (absent in rows spooled by older releases). */
  mono?: number;
  decidedAt: number;
  verdict: Verdict;
  errorCode?: string;
  reasons: Reason[];
  defects: DecidedDefect[];
  maxScore: number;
  outputs: CompactOutputs;
  timings: Timings;
  /** For overlays: per-detection masks (aligned with `defects`) and the anomaly heat map. */
  masks?: (DetectionMask | null)[];
  anomalyMap?: AnomalyMap;
  image?: FrameImage;
  /** Source image width and height, when it could be read. */
  imageSize?: [number, number];
  file?: string;
  truth?: GroundTruth;
  requestId?: number;
}

export interface ModelSummary {
  file: string;
  name: string;
  family: Family;
  sha256: string;
  labels: string[];
  inputWidth: number;
  inputHeight: number;
  manifestSource: 'file' | 'detected';
}

export interface WorkerInit {
  config: LoadedConfig;
  /** Recipe versions in force at start, by recipe name. */
  recipeVersions: Record<string, number>;
  /** Thresholds changed since the configuration was read (a restarted worker resumes with them). */
  thresholds?: Record<string, { thresholds: Thresholds; version: number }>;
  /** The recipe every source runs, when the OPC UA server selected one. */
  selectedRecipe?: string;
  /** Automatic mode; false: every part is uninspected until started. */
  running?: boolean;
}

export type ToWorker =
  /** Start capture (after 'ready', once the main thread listens for results). */
  | { type: 'begin' }
  | { type: 'push'; requestId: number; source: string; image: FrameImage; timestamp: number }
  | { type: 'thresholds'; recipe: string; thresholds: Thresholds; version: number }
  /** The PLC's PartSeq changed: triggered sources acquire that part's frame. */
  | { type: 'trigger'; seq: number; at: number; mono: number; part?: PartIdentity }
  /** Every source switches to this recipe from its next frame on. */
  | { type: 'select-recipe'; recipe: string }
  /** Automatic mode: when not running, frames are not inspected (uninspected, a fail-safe reject). */
  | { type: 'run'; running: boolean }
  /** Hot swap: this recipe's new model or preprocessing, loaded beside the old one, takes over from the next frame. */
  | { type: 'swap-recipe'; requestId: number; name: string; recipe: Recipe; version: number }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'ready'; models: ModelSummary[] }
  /** The worker is alive (sent on a timer; a blocked worker stops sending it), with its heap now and then. */
  | { type: 'heartbeat'; heapUsedBytes?: number }
  /** A frame entered the line: it now owes a result (the main thread answers for it if the worker dies). */
  | { type: 'accepted'; source: string; seq: number; timestamp: number; mono: number; recipe: string; recipeVersion: number; partId?: string; lot?: string }
  | { type: 'fatal'; error: SerializedError }
  | { type: 'result'; result: InspectionResult }
  | { type: 'push-rejected'; requestId: number; error: SerializedError }
  | { type: 'source-error'; source: string; error: SerializedError }
  | { type: 'source-ended'; source: string }
  /** A camera's state or counters changed (connecting, streaming, reconnecting…). */
  | { type: 'source-status'; source: string; status: CameraStatus }
  /** Every source has ended and every frame taken in has its result. */
  | { type: 'drained' }
  | { type: 'stopped' }
  /** The answer to swap-recipe: the new model (null when the file was already loaded), or why the old one stays. */
  | { type: 'swapped'; requestId: number; model?: ModelSummary | null; error?: SerializedError };
