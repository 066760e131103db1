/** A registered error: the HTTP status the API answers with, and the default message. */
export interface ErrorDefinition {
  readonly status: number;
  readonly message: string;
}

/**
 * One registry of stable error codes, `STN_ERR_<AREA>_<WHAT>`, each with its HTTP status (as
 * fastify's `createError(code, message, statusCode)`). Tests and callers match on the code, never
 * on message text. Errors crossing a worker boundary travel as `{ code, message }`. Every code is
 * documented in docs/errors.md (test/errors.test.ts checks).
 */
export const ErrorCodes = {
  STN_ERR_INTERNAL: { status: 500, message: 'an unexpected error; the details are in the station log, never in the response' },
  STN_ERR_CONFIG_INVALID: { status: 422, message: 'the station configuration does not match its schema' },
  STN_ERR_CONFIG_PARSE: { status: 422, message: 'the station configuration is not valid YAML' },
  STN_ERR_CONFIG_NOT_FOUND: { status: 422, message: 'the station configuration file does not exist' },
  STN_ERR_CONFIG_RELOAD: { status: 409, message: 'this station cannot reload its configuration (it was not started from a file)' },
  STN_ERR_IMAGE_EMPTY: { status: 422, message: 'the image has no bytes' },
  STN_ERR_IMAGE_CORRUPT: { status: 422, message: 'the image cannot be decoded' },
  STN_ERR_IMAGE_TOO_LARGE: { status: 413, message: 'the image has more pixels than the station accepts' },
  STN_ERR_IMAGE_FORMAT: { status: 422, message: 'the raw frame does not match its declared size or pixel format' },
  STN_ERR_MODEL_NOT_FOUND: { status: 404, message: 'the model file does not exist' },
  STN_ERR_MODEL_INVALID: { status: 422, message: 'the model file is not a loadable ONNX model' },
  STN_ERR_MODEL_MANIFEST: { status: 422, message: 'the model manifest is missing fields or does not match the model' },
  STN_ERR_MODEL_CHECKSUM: { status: 422, message: 'the model file does not match the sha256 in its manifest' },
  STN_ERR_MODEL_FAMILY: { status: 422, message: 'the model output contract is not one the station decodes' },
  STN_ERR_MODEL_OUTPUT: { status: 500, message: 'the model produced outputs that do not match its contract' },
  STN_ERR_INFERENCE_FAILED: { status: 500, message: 'onnxruntime failed to run the model' },
  STN_ERR_SOURCE_URI: { status: 422, message: 'the frame source URI is not understood' },
  STN_ERR_SOURCE_FAILED: { status: 503, message: 'the frame source failed' },
  STN_ERR_CAMERA_NO_FRAME: { status: 503, message: 'the part was triggered but the camera delivered no frame in time' },
  STN_ERR_VIEW_MISSING: { status: 503, message: 'one camera view of the part did not arrive in time' },
  STN_ERR_LINE_DROPPED: { status: 503, message: 'the frame was dropped because the line was saturated' },
  STN_ERR_LINE_DEADLINE: { status: 503, message: 'the verdict was ready after the part deadline, or was not in the PLC by then' },
  STN_ERR_LINE_WORKER: { status: 503, message: 'the line worker stopped unexpectedly' },
  STN_ERR_LINE_STOPPED: { status: 503, message: 'the line is not running' },
  STN_ERR_RECIPE_UNKNOWN: { status: 404, message: 'no recipe with that name' },
  STN_ERR_RECIPE_SELECT: { status: 422, message: "the PLC's RecipeSelect names a recipe number this station does not have" },
  STN_ERR_PART_ID: { status: 422, message: "the PLC's PartId for the part is empty, too long or not valid text" },
  STN_ERR_PART_LOT: { status: 422, message: "the PLC's Lot for the part is empty, too long or not valid text" },
  STN_ERR_LOT_NOT_FOUND: { status: 404, message: 'no record names this lot (at this station)' },
  STN_ERR_CODE_REGION: { status: 422, message: "the recipe's code region does not fit inside the frame" },
  STN_ERR_CODE_READER: { status: 500, message: 'the code reader (zxing-wasm) failed on the part' },
  STN_ERR_STORE_MIGRATION: { status: 500, message: 'the database migrations could not be applied' },
  STN_ERR_STORE_URL: { status: 500, message: 'DATABASE_URL is not a supported database URL' },
  STN_ERR_STORE_CONNECT: { status: 503, message: 'the database cannot be reached or opened' },
  STN_ERR_STORE_WRITE: { status: 503, message: 'a record could not be written' },
  STN_ERR_STORE_QUEUE_FULL: { status: 503, message: 'the record queue is full' },
  STN_ERR_DB_POSTGRES: { status: 422, message: "the station's database is PostgreSQL: back it up with pg_dump, not station db backup" },
  STN_ERR_DB_NOT_FOUND: { status: 404, message: 'the database file does not exist' },
  STN_ERR_DB_BACKUP_FAILED: { status: 500, message: 'the backup could not be written' },
  STN_ERR_DB_CORRUPT: { status: 500, message: 'the database file is damaged (SQLite integrity check failed)' },
  STN_ERR_DB_FOREIGN_KEY: { status: 500, message: 'rows of the database point at rows that do not exist' },
  STN_ERR_DB_CHAIN: { status: 500, message: 'a record or an audit entry was changed, deleted or inserted outside the station: its hash chain is broken' },
  STN_ERR_DB_MIGRATIONS: { status: 500, message: "the database's migration history does not match this release's migrations" },
  STN_ERR_PLC_CONNECT: { status: 503, message: 'the PLC cannot be reached over OPC UA' },
  STN_ERR_PLC_TAG: { status: 500, message: 'a configured PLC tag does not exist on the server' },
  STN_ERR_PLC_SECURITY: { status: 500, message: 'the OPC UA security settings are not allowed' },
  STN_ERR_PLC_CERTIFICATE: { status: 503, message: "the PLC refused this station's certificate: trust it on the PLC" },
  STN_ERR_PLC_UNTRUSTED: { status: 503, message: "this station does not trust the PLC's certificate: trust it with `station pki trust`" },
  STN_ERR_PLC_LOGIN: { status: 503, message: 'the PLC refused the user this station logs in with' },
  STN_ERR_PLC_LOST: { status: 503, message: 'the link to the PLC was lost (it stopped, restarted or the network failed); the station reconnects' },
  STN_ERR_PLC_WRITE: { status: 503, message: "the PLC refused the write of a part's verdict (the part was rejected by the PLC)" },
  STN_ERR_PKI_NOT_FOUND: { status: 404, message: 'no such certificate in the store' },
  STN_ERR_HTTP_NOT_FOUND: { status: 404, message: 'no such resource' },
  STN_ERR_HTTP_UNAUTHORIZED: { status: 401, message: 'authentication is required' },
  STN_ERR_HTTP_BAD_REQUEST: { status: 400, message: 'the request is malformed' },
  STN_ERR_HTTP_PUSH_DISABLED: { status: 404, message: 'no http: frame source is configured' },
  STN_ERR_HTTP_FORBIDDEN: { status: 403, message: 'the role of this user or key does not allow this' },
  STN_ERR_HTTP_CSRF: { status: 403, message: "a browser write needs the session's x-csrf-token header" },
  STN_ERR_HTTP_LOGIN: { status: 401, message: 'wrong user name or password' },
  STN_ERR_HTTP_CONFLICT: { status: 409, message: 'the request conflicts with the current state' },
  STN_ERR_HTTP_LISTEN: { status: 500, message: 'the HTTP address is taken or may not be used' },
  STN_ERR_HTTP_RATE_LIMIT: { status: 429, message: 'too many requests from this address' },
  STN_ERR_HTTP_LOGIN_THROTTLED: { status: 429, message: 'too many failed logins for this user name or from this address; wait and try again' },
  STN_ERR_HTTP_KEY_EXPIRED: { status: 401, message: 'the API key has expired; an admin issues a new one' },
  STN_ERR_HTTP_LIVE_LIMIT: { status: 429, message: 'this user has as many live streams open as the station allows' },
  STN_ERR_ACCOUNT_NAME: { status: 400, message: 'user names are 1 to 64 letters, digits and _ . @ -' },
  STN_ERR_ACCOUNT_PASSWORD: { status: 400, message: 'the password does not meet the policy (12 to 256 characters, not the user name)' },
  STN_ERR_SHIFT_UNKNOWN: { status: 404, message: 'the plant has no shift of that name (configuration plant.shifts)' },
  STN_ERR_REVIEW_UNDO: { status: 409, message: "only a part's latest review can be undone" },
  STN_ERR_REVIEW_CLASS: { status: 400, message: "the review names a class that is not one of the model's labels" },
  STN_ERR_REVIEW_LABEL: {
    status: 400,
    message: 'the review label does not fit the verdict (an escape on a part the station did not pass, a false reject on one it passed)',
  },
  STN_ERR_EXPORT_PATH: { status: 500, message: 'an export would have written outside its folder; the job was stopped' },
  STN_ERR_RECIPE_CLASS: { status: 400, message: "the thresholds name a class the recipe's model does not have" },
  STN_ERR_RECIPE_RESTART: { status: 409, message: 'that recipe version differs in more than thresholds; it needs a restart' },
  STN_ERR_WHATIF_FLOOR: { status: 400, message: 'a candidate threshold is below the score from which the line keeps detections' },
  STN_ERR_WHATIF_RECIPE: { status: 400, message: 'name the recipe: the station runs more than one' },
  STN_ERR_WHATIF_LARGE: { status: 413, message: 'the window holds too many parts to answer at once: start it as a job (POST /api/whatif/jobs)' },
  STN_ERR_WHATIF_BUSY: { status: 429, message: 'a what-if job is running already (one at a time); wait for it or cancel it' },
  STN_ERR_WHATIF_JOB: { status: 404, message: 'no what-if job with this id (jobs are kept in memory for an hour after they end)' },
  STN_ERR_WHATIF_CANCELLED: { status: 409, message: 'the what-if job was cancelled' },
} as const satisfies Record<`STN_ERR_${string}`, ErrorDefinition>;

export type ErrorCode = keyof typeof ErrorCodes;

/** The HTTP status of a code (500 for anything not registered). */
export function statusOf(code: string): number {
  return isErrorCode(code) ? ErrorCodes[code].status : 500;
}

export class StationError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = ErrorCodes[code].message,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /** The HTTP status the API answers this error with. */
  get statusCode(): number {
    return ErrorCodes[this.code].status;
  }

  toJSON(): SerializedError {
    return { code: this.code, message: this.message };
  }
}

export interface SerializedError {
  code: ErrorCode;
  message: string;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ErrorCodes, value);
}

/** Any thrown value as `{ code, message }`; unknown errors keep `fallback` as their code. */
export function serializeError(err: unknown, fallback: ErrorCode): SerializedError {
  if (err instanceof StationError) return err.toJSON();
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return { code: isErrorCode(code) ? code : fallback, message };
}
