/**
 * The one error catalogue. Every error Bicycle answers with has a stable code
 * and an HTTP status here; handlers throw BicycleError and one koa middleware
 * turns it into `{ error: { code, message } }`. Errors cross thread boundaries
 * as plain `{ code, message }` (see toErrorData / fromErrorData).
 */
export const ERROR_CATALOGUE = {
  INVALID_ARGUMENT: { status: 400, retryable: false },
  INVALID_JSON: { status: 400, retryable: false },
  UNAUTHENTICATED: { status: 401, retryable: false },
  PERMISSION_DENIED: { status: 403, retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  METHOD_NOT_ALLOWED: { status: 405, retryable: false },
  NOT_IMPLEMENTED: { status: 501, retryable: false },
  SERVICE_NOT_FOUND: { status: 404, retryable: false },
  NODE_NOT_FOUND: { status: 404, retryable: false },
  SERVICE_EXISTS: { status: 409, retryable: false },
  NODE_EXISTS: { status: 409, retryable: false },
  SERVICE_DELETING: { status: 409, retryable: false },
  /** A published port another service already publishes. */
  PORT_IN_USE: { status: 409, retryable: false },
  ILLEGAL_TRANSITION: { status: 409, retryable: false },
  NO_LEADER: { status: 503, retryable: true },
  PROPOSAL_DROPPED: { status: 503, retryable: true },
  UNAVAILABLE: { status: 503, retryable: true },
  TIMEOUT: { status: 504, retryable: true },
  INTERNAL: { status: 500, retryable: false },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface ErrorData {
  code: ErrorCode;
  message: string;
}

export class BicycleError extends Error {
  readonly status: number;
  readonly retryable: boolean;

  constructor(readonly code: ErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BicycleError';
    this.status = ERROR_CATALOGUE[code].status;
    this.retryable = ERROR_CATALOGUE[code].retryable;
  }
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CATALOGUE, code);
}

/** Plain data for postMessage; an unknown error becomes INTERNAL with its message. */
export function toErrorData(error: unknown): ErrorData {
  if (error instanceof BicycleError) return { code: error.code, message: error.message };
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}

export function fromErrorData(data: ErrorData): BicycleError {
  return new BicycleError(isErrorCode(data.code) ? data.code : 'INTERNAL', data.message);
}
