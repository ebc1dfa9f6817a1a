// Runtime errors with stable codes. Every code has an entry in the README's error table, and a test
// holds the two together.

/** The stable error codes and the HTTP status a push endpoint answers each with. */
export const errorCodes = {
  /** The page token is malformed or its signature does not verify. */
  SERVERPUSH_ERR_BAD_TOKEN: 401,
  /** The cursor is not one this change log could have issued. */
  SERVERPUSH_ERR_BAD_CURSOR: 400,
  /** A request parameter or method is wrong (405 for a method, 426 for a WebSocket GET without the upgrade). */
  SERVERPUSH_ERR_BAD_REQUEST: 400,
  /** A browser on an origin that is not in the `origins` allow-list asked cross-origin. */
  SERVERPUSH_ERR_ORIGIN: 403,
  /** The push instance is closed. */
  SERVERPUSH_ERR_CLOSED: 503,
  /** The same-origin proxy cannot reach the push server, or cannot forward its answer. */
  SERVERPUSH_ERR_PROXY: 502,
  /** The push server sent nothing for the proxy's `timeoutMs`. */
  SERVERPUSH_ERR_PROXY_TIMEOUT: 504,
  /** A bound was reached (pages on one connection, connections from one address…); the message names it. */
  SERVERPUSH_ERR_LIMIT: 429,
  /** The push process holds as many connections or pages as it may: retry after `Retry-After` seconds. */
  SERVERPUSH_ERR_BUSY: 503,
  /** A newer connection of the same page took it over: this one carries nothing any more. */
  SERVERPUSH_ERR_SUPERSEDED: 409,
  /** A reader could not keep up with its messages (a WebSocket closes with 1008 after a `slow` refresh). */
  SERVERPUSH_ERR_SLOW_READER: 429,
  /**
   * The page's update specs cannot be built (an update function threw, a spec is malformed): the
   * app's bug, in the server log. A 4xx, so that the client stops instead of retrying what will
   * fail again.
   */
  SERVERPUSH_ERR_PAGE: 422,
  /** The server failed (`authenticate` threw, …); the details are in the server log only. */
  SERVERPUSH_ERR_INTERNAL: 500,
} as const;

/** A stable error code. */
export type ErrorCode = keyof typeof errorCodes;

/** Options of `new PushError()`. */
export interface PushErrorOptions extends ErrorOptions {
  /** The HTTP status when it is not the code's own, e.g. 405 for `SERVERPUSH_ERR_BAD_REQUEST`. */
  readonly status?: number | undefined;
  /** When a retry may succeed, in seconds: sent as `Retry-After`. */
  readonly retryAfter?: number | undefined;
}

/** A runtime failure of serverpush, with a stable `code` and the HTTP `status` it maps to. */
export class PushError extends Error {
  override readonly name = 'PushError';
  readonly code: ErrorCode;
  readonly status: number;
  /** When a retry may succeed, in seconds (`Retry-After`); `undefined` when no retry helps or no time is known. */
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options?: PushErrorOptions) {
    super(message, options);
    this.code = code;
    this.status = options?.status ?? errorCodes[code];
    this.retryAfter = options?.retryAfter;
  }
}

/** Whether `error` is a `PushError`, optionally with the given code. */
export function isPushError(error: unknown, code?: ErrorCode): error is PushError {
  return error instanceof PushError && (code === undefined || error.code === code);
}

/** What a client is told of a failed request, before its transport frames it: never a stack or a cause. */
export interface Failure {
  readonly status: number;
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    /** Seconds after which a retry may succeed (also sent as `Retry-After` where there are headers). */
    readonly retryAfter?: number;
  };
}

/** The failure to tell a client for `error`: a `PushError` as it is, anything else as an internal error. */
export function failureOf(error: unknown): Failure {
  if (isPushError(error)) {
    const { status, code, message, retryAfter } = error;
    return { status, error: retryAfter === undefined ? { code, message } : { code, message, retryAfter } };
  }
  return { status: 500, error: { code: 'SERVERPUSH_ERR_INTERNAL', message: 'internal error; see the server log' } };
}
