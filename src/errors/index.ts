/**
 * One registry of stable error codes, `STN_ERR_<AREA>_<WHAT>`. Tests and callers match on the
 * code, never on message text. Errors crossing a worker boundary travel as `{ code, message }`.
 */
export const ErrorCodes = {
  STN_ERR_CONFIG_INVALID: 'the station configuration does not match its schema',
  STN_ERR_CONFIG_PARSE: 'the station configuration is not valid YAML',
  STN_ERR_CONFIG_NOT_FOUND: 'the station configuration file does not exist',
  STN_ERR_CONFIG_RELOAD: 'this station cannot reload its configuration (it was not started from a file)',
  STN_ERR_IMAGE_EMPTY: 'the image has no bytes',
  STN_ERR_IMAGE_CORRUPT: 'the image cannot be decoded',
  STN_ERR_IMAGE_TOO_LARGE: 'the image has more pixels than the station accepts',
  STN_ERR_IMAGE_FORMAT: 'the raw frame does not match its declared size or pixel format',
  STN_ERR_MODEL_NOT_FOUND: 'the model file does not exist',
  STN_ERR_MODEL_INVALID: 'the model file is not a loadable ONNX model',
  STN_ERR_MODEL_MANIFEST: 'the model manifest is missing fields or does not match the model',
  STN_ERR_MODEL_CHECKSUM: 'the model file does not match the sha256 in its manifest',
  STN_ERR_MODEL_FAMILY: 'the model output contract is not one the station decodes',
  STN_ERR_MODEL_OUTPUT: 'the model produced outputs that do not match its contract',
  STN_ERR_INFERENCE_FAILED: 'onnxruntime failed to run the model',
  STN_ERR_SOURCE_URI: 'the frame source URI is not understood',
  STN_ERR_SOURCE_FAILED: 'the frame source failed',
  STN_ERR_CAMERA_NO_FRAME: 'the part was triggered but the camera delivered no frame in time',
  STN_ERR_VIEW_MISSING: 'one camera view of the part did not arrive in time',
  STN_ERR_LINE_DROPPED: 'the frame was dropped because the line was saturated',
  STN_ERR_LINE_DEADLINE: 'the verdict was ready after the part deadline',
  STN_ERR_LINE_WORKER: 'the line worker stopped unexpectedly',
  STN_ERR_LINE_STOPPED: 'the line is not running',
  STN_ERR_RECIPE_UNKNOWN: 'no recipe with that name',
  STN_ERR_STORE_MIGRATION: 'the database migrations could not be applied',
  STN_ERR_STORE_URL: 'DATABASE_URL is not a supported database URL',
  STN_ERR_STORE_WRITE: 'a record could not be written',
  STN_ERR_STORE_QUEUE_FULL: 'the record queue is full',
  STN_ERR_PLC_CONNECT: 'the PLC cannot be reached over OPC UA',
  STN_ERR_PLC_TAG: 'a configured PLC tag does not exist on the server',
  STN_ERR_PLC_SECURITY: 'the OPC UA security settings are not allowed',
  STN_ERR_PKI_NOT_FOUND: 'no such certificate in the store',
  STN_ERR_HTTP_NOT_FOUND: 'no such resource',
  STN_ERR_HTTP_UNAUTHORIZED: 'authentication is required',
  STN_ERR_HTTP_BAD_REQUEST: 'the request is malformed',
  STN_ERR_HTTP_PUSH_DISABLED: 'no http: frame source is configured',
  STN_ERR_HTTP_FORBIDDEN: 'the role of this user or key does not allow this',
  STN_ERR_HTTP_CSRF: "a browser write needs the session's x-csrf-token header",
  STN_ERR_HTTP_LOGIN: 'wrong user name or password',
  STN_ERR_HTTP_CONFLICT: 'the request conflicts with the current state',
  STN_ERR_HTTP_RATE_LIMIT: 'too many requests from this address',
  STN_ERR_RECIPE_CLASS: "the thresholds name a class the recipe's model does not have",
  STN_ERR_RECIPE_RESTART: 'that recipe version differs in more than thresholds; it needs a restart',
  STN_ERR_WHATIF_FLOOR: 'a candidate threshold is below the score from which the line keeps detections',
  STN_ERR_WHATIF_RECIPE: 'name the recipe: the station runs more than one',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class StationError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = ErrorCodes[code],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
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
