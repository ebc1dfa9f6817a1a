// Response helpers shared by the transports: JSON bodies and the mapping of errors to statuses.

import createDebug from 'debug';
import { isPushError } from '../core/errors.ts';
import type { PushResponse } from '../core/transport.ts';

const debug = createDebug('serverpush:transport');

/** A JSON response that no cache keeps. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): PushResponse {
  return {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * The response for an error thrown while answering: a `PushError` becomes its status with its code
 * and message (the client's mistake, logged under `serverpush:transport`); anything else is the
 * server's fault, a 500 whose details stay in the log.
 */
export function errorResponse(error: unknown): PushResponse {
  if (isPushError(error)) {
    debug('%s: %s', error.code, error.message);
    return json(error.status, { error: { code: error.code, message: error.message } });
  }
  debug('internal error: %O', error);
  console.error('serverpush: internal error while answering a push request:', error);
  return json(500, { error: { code: 'SERVERPUSH_ERR_INTERNAL', message: 'internal error; see the server log' } });
}
