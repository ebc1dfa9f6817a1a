// How the transports answer: JSON bodies, failures framed once per transport from one object, and
// the plain HTTP refusal written on a raw socket (an upgrade that is not taken).

import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import createDebug from 'debug';
import { type ErrorCode, type Failure, failureOf, isPushError } from '../core/errors.ts';
import type { PushEndpoint, PushResponse } from '../core/transport.ts';

const debug = createDebug('serverpush:transport');

/** Headers on every answer that is not a stream: no cache keeps it, no browser sniffs its type. */
export const answerHeaders: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
};

/** A JSON response that no cache keeps. */
export function json(status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): PushResponse {
  return {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', ...answerHeaders, ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * The failure to answer for an error thrown while serving `where`: a `PushError` is the client's
 * mistake (logged under `serverpush:transport`); anything else is the server's, reported through
 * `push.reportError` and answered as an internal error whose details stay in the log.
 */
export function failed(error: unknown, push: Pick<PushEndpoint, 'reportError' | 'rejected'>, where: string): Failure {
  if (isPushError(error)) {
    debug('%s: %s', error.code, error.message);
    push.rejected?.(error.code, error.message);
  } else push.reportError(error, where);
  return failureOf(error);
}

/** A failure as JSON: its status, `{ "error": { "code", "message", "retryAfter"? } }`, and `Retry-After` with it. */
export function failureResponse(
  { status, error }: Failure,
  headers: Readonly<Record<string, string>> = {},
): PushResponse {
  const retry = error.retryAfter === undefined ? headers : { ...headers, 'Retry-After': String(error.retryAfter) };
  return json(status, { error }, retry);
}

/** A refusal before any work: the status, code and message as a JSON failure. */
export function refusal(
  status: number,
  code: ErrorCode,
  message: string,
  headers: Readonly<Record<string, string>> = {},
): PushResponse {
  return failureResponse({ status, error: { code, message } }, headers);
}

/**
 * Answers an upgrade request on its raw socket with a plain HTTP failure and closes it. Node takes
 * its own error listener off a socket before emitting 'upgrade': without one of ours, a client
 * resetting the connection now would be an uncaught exception.
 */
export function refuseSocket(socket: Duplex, status: number, code: ErrorCode, message: string): void {
  socket.on('error', (error) => debug('refused upgrade: %s', error.message));
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
