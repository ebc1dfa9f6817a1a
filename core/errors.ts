// Runtime errors with stable codes. Every code has an entry in the README's error table.

/** The stable error codes and the HTTP status a push endpoint answers each with. */
export const errorCodes = {
  /** The page token is malformed or its signature does not verify. */
  SERVERPUSH_ERR_BAD_TOKEN: 401,
  /** The cursor is not one this change log could have issued. */
  SERVERPUSH_ERR_BAD_CURSOR: 400,
  /** A request parameter is missing or malformed. */
  SERVERPUSH_ERR_BAD_REQUEST: 400,
  /** A browser on an origin that is not in the `origins` allow-list asked cross-origin. */
  SERVERPUSH_ERR_ORIGIN: 403,
  /** The push instance is closed. */
  SERVERPUSH_ERR_CLOSED: 503,
  /** The same-origin proxy cannot reach the push server, or cannot forward its answer. */
  SERVERPUSH_ERR_PROXY: 502,
  /** The push server sent nothing for the proxy's `timeoutMs`. */
  SERVERPUSH_ERR_PROXY_TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** A runtime failure of serverpush, with a stable `code` and the HTTP `status` it maps to. */
export class PushError extends Error {
  override readonly name = 'PushError';
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.status = errorCodes[code];
  }
}

/** Whether `error` is a `PushError`, optionally with the given code. */
export function isPushError(error: unknown, code?: ErrorCode): error is PushError {
  return error instanceof PushError && (code === undefined || error.code === code);
}
