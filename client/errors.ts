// The errors the browser client reports, each with a stable code.
//
// Codes, and what the client does about each:
//
// | code                            | when                                                 | client      |
// | ------------------------------- | ---------------------------------------------------- | ----------- |
// | SERVERPUSH_ERR_BAD_TOKEN        | server: 401, the page token does not verify           | stops       |
// | SERVERPUSH_ERR_BAD_CURSOR       | server: 400, the cursor is not one the server issued  | stops       |
// | SERVERPUSH_ERR_BAD_REQUEST      | server: 400, a parameter is missing or malformed      | stops       |
// | SERVERPUSH_ERR_PAGE             | server: 422, the page's update specs cannot be built  | stops       |
// | SERVERPUSH_ERR_SUPERSEDED       | server: 409, a newer connection took the page over    | stops       |
// | SERVERPUSH_ERR_LIMIT            | server: 429, a bound was reached (the message names it)| waits out   |
// |                                 |                                                       | retryAfter, |
// |                                 |                                                       | else stops  |
// | SERVERPUSH_ERR_BUSY             | server: 503, the push process is full                 | waits out   |
// |                                 |                                                       | retryAfter  |
// | SERVERPUSH_ERR_CLOSED           | server: 503, the push instance is shutting down       | retries     |
// | SERVERPUSH_ERR_HTTP             | client: an error status whose body names no code      | 4xx: stops; |
// |                                 | (a proxy's 502 page, a 404 from a wrong `base`)       | else retries|
// | SERVERPUSH_ERR_NETWORK          | client: the request failed without a response         | retries     |
// | SERVERPUSH_ERR_BAD_RESPONSE     | client: a 2xx that is neither 204 nor JSON with a     | retries     |
// |                                 | `messages` array (a captive portal's HTML page)       |             |
// | SERVERPUSH_ERR_NO_TRANSPORT     | client: no offered transport works in this browser    | stops       |
// | SERVERPUSH_ERR_TIMEOUT          | client: a transport did not connect in connectTimeoutMs | next transport |
//
// Server codes are passed through as the response body names them, so a newer server's codes
// arrive unchanged. A refusal that says when to retry (`retryAfter`, in seconds) is retried after
// that wait (and no sooner than the backoff), whatever its status; a page of a shared connection
// refused so rejoins the connection after it. Errors that stop the client are dispatched as `serverpush:error`; errors the
// client retries ride on the `serverpush:connection` event of the `reconnecting` state.

import type { ErrorCode } from '../core/errors.ts';

/** The codes the client produces itself. */
export type ClientErrorCode =
  | 'SERVERPUSH_ERR_HTTP'
  | 'SERVERPUSH_ERR_NETWORK'
  | 'SERVERPUSH_ERR_BAD_RESPONSE'
  | 'SERVERPUSH_ERR_NO_TRANSPORT'
  | 'SERVERPUSH_ERR_TIMEOUT';

/**
 * Every code a `PushClientError` can carry: the server's, the client's own, or (the open end) a
 * code a newer server added.
 */
// `string & {}` keeps the known codes offered by editors while admitting unknown ones.
export type PushClientErrorCode = ErrorCode | ClientErrorCode | (string & {});

/** A failure of the browser client or of a request it made, with a stable `code`. */
export class PushClientError extends Error {
  override readonly name = 'PushClientError';
  readonly code: PushClientErrorCode;
  /** The HTTP status of the response that failed, if there was a response. */
  readonly status: number | undefined;
  /** Seconds the server asked to wait before retrying (`Retry-After`), if it said. */
  readonly retryAfter: number | undefined;

  constructor(code: PushClientErrorCode, message: string, status?: number, cause?: unknown, retryAfter?: number) {
    // `cause` is where browsers put their own wording of a network error, which differs by browser.
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/**
 * Whether retrying cannot help, so the client stops: a 4xx, unless the server said when to retry
 * (`retryAfter`: a limit or a busy server, which pass).
 */
export function stopsClient(error: PushClientError): boolean {
  const { status } = error;
  return status !== undefined && status >= 400 && status < 500 && error.retryAfter === undefined;
}

/** A `retryAfter` the server sent, when it is a sensible number of seconds (at most an hour). */
export function retryAfterOf(value: unknown): number | undefined {
  return typeof value === 'number' && value >= 0 && value <= 3_600 ? value : undefined;
}

/** Whether `error` is a `PushClientError`, optionally with the given code. */
export function isPushClientError(error: unknown, code?: PushClientErrorCode): error is PushClientError {
  return error instanceof PushClientError && (code === undefined || error.code === code);
}

const serverCode = /^SERVERPUSH_ERR_[A-Z0-9_]+$/;

/**
 * The error an error status stands for: the server's `{ error: { code, message } }` body when
 * it has one, else `SERVERPUSH_ERR_HTTP`.
 */
export function errorFromResponse(status: number, text: string): PushClientError {
  const body = parseJson(text);
  const error = isObject(body) ? body['error'] : undefined;
  if (isObject(error)) {
    const { code, message, retryAfter } = error;
    if (typeof code === 'string' && serverCode.test(code)) {
      const text = typeof message === 'string' ? message : code;
      return new PushClientError(code, text, status, undefined, retryAfterOf(retryAfter));
    }
  }
  return new PushClientError('SERVERPUSH_ERR_HTTP', `the server answered ${status}`, status);
}

/** `JSON.parse`, or `undefined` for text that is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Whether `value` is a non-null, non-array object. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
