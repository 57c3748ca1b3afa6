/**
 * The one error catalogue. Every error Bicycle answers with has a stable code
 * and an HTTP status here; handlers throw BicycleError and one koa middleware
 * turns it into `{ error: { code, message } }`. Errors cross thread boundaries
 * as plain `{ code, message, name?, stack? }` (see toErrorData / fromErrorData).
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
  /** The cluster a node joins presents a CA other than the one its join token names (another cluster's token, or someone in between). */
  CA_MISMATCH: { status: 409, retryable: false },
  SERVICE_DELETING: { status: 409, retryable: false },
  /** A published port another service already publishes. */
  PORT_IN_USE: { status: 409, retryable: false },
  ILLEGAL_TRANSITION: { status: 409, retryable: false },
  /** A rollback of a service with no earlier spec version (or to the version it runs). */
  NO_PREVIOUS_VERSION: { status: 409, retryable: false },
  /** A rollback to a spec version the service does not have (any more). */
  VERSION_NOT_FOUND: { status: 404, retryable: false },
  /** More replicas than deployment.maxReplicas in the whole cluster. */
  REPLICA_LIMIT: { status: 409, retryable: false },
  /** An Idempotency-Key (or request id) already used for a different request. */
  IDEMPOTENCY_KEY_REUSED: { status: 422, retryable: false },
  /** GET /events from an index the log no longer holds (compacted into a snapshot); the message names the oldest it can serve. */
  EVENTS_COMPACTED: { status: 410, retryable: false },
  /** No secret of that name. */
  SECRET_NOT_FOUND: { status: 404, retryable: false },
  /** A secret of that name exists already (`secret update` changes its value). */
  SECRET_EXISTS: { status: 409, retryable: false },
  /** A secret that services use cannot be removed; the message names them. */
  SECRET_IN_USE: { status: 409, retryable: false },
  /** This node has no secrets key (or it is not the cluster's): it cannot seal or open secret values. */
  SECRETS_KEY_UNAVAILABLE: { status: 503, retryable: false },
  /** No API token with that accessor id or name. */
  TOKEN_NOT_FOUND: { status: 404, retryable: false },
  /** An API token of that name exists already. */
  TOKEN_EXISTS: { status: 409, retryable: false },
  /** POST or GET /debug/links on a daemon started without --debug-links; the message says how to turn it on. */
  DEBUG_LINKS_DISABLED: { status: 409, retryable: false },
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
  /**
   * What the error was before it became data (SqliteError, TypeError, …):
   * set for an unexpected error, or a BicycleError with such a cause. A
   * BicycleError of its own (NO_LEADER, SERVICE_EXISTS) carries only code and
   * message: it is an answer, not a fault.
   */
  name?: string;
  /** Where that error was thrown, in the thread that threw it (for the log; never sent to a client). */
  stack?: string;
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

/**
 * Plain data for postMessage (structured clone keeps a plain object's fields,
 * but an error that is not a native Error, such as better-sqlite3's
 * SqliteError, arrives as `{ code }` alone). An unknown error becomes
 * INTERNAL with its name, message and stack.
 */
export function toErrorData(error: unknown): ErrorData {
  if (error instanceof BicycleError) {
    const data: ErrorData = { code: error.code, message: error.message };
    const cause = error.cause;
    if (cause instanceof Error) {
      data.name = cause.name;
      if (cause.stack) data.stack = cause.stack;
    }
    return data;
  }
  if (error instanceof Error) {
    const data: ErrorData = { code: 'INTERNAL', message: error.message, name: error.name };
    if (error.stack) data.stack = error.stack;
    return data;
  }
  if (typeof error === 'object' && error !== null) {
    const o = error as { name?: unknown; message?: unknown; stack?: unknown };
    const data: ErrorData = { code: 'INTERNAL', message: typeof o.message === 'string' ? o.message : safeJson(error) };
    if (typeof o.name === 'string') data.name = o.name;
    if (typeof o.stack === 'string') data.stack = o.stack;
    return data;
  }
  return { code: 'INTERNAL', message: String(error) };
}

/**
 * The error again, on the receiving side: a BicycleError with the code and
 * message; an original name and stack come back as its `cause`, so logging
 * it (or passing it on with toErrorData) keeps them.
 */
export function fromErrorData(data: ErrorData): BicycleError {
  const code = isErrorCode(data.code) ? data.code : 'INTERNAL';
  if (data.name === undefined && data.stack === undefined) return new BicycleError(code, data.message);
  const cause = new Error(data.message);
  cause.name = data.name ?? 'Error';
  cause.stack = data.stack ?? `${cause.name}: ${data.message}`;
  return new BicycleError(code, data.message, { cause });
}

/** One line for a log: `SqliteError: database is locked`, or `NO_LEADER: no leader is elected yet`. */
export function describeError(data: ErrorData): string {
  return `${data.name ?? data.code}: ${data.message}`;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
