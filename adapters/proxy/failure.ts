// How a failed forward is answered: before the answer starts, a JSON 502 (the push server cannot
// be reached, or its answer cannot be forwarded) or 504 (it fell silent); after, a cut connection.

import type { ClientRequest, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import createDebug from 'debug';
import type { ErrorCode } from '../../core/errors.ts';
import { answerHeaders, refuseSocket } from '../../transports/respond.ts';

const debug = createDebug('serverpush:proxy');

/** The push server sent nothing for the proxy's `timeoutMs`. */
export class TargetTimeoutError extends Error {
  override readonly name = 'TargetTimeoutError';
}

/** Gives `request` up with a `TargetTimeoutError` once its connection is idle for `timeoutMs`. */
export function timeOut(request: ClientRequest, timeoutMs: number): void {
  request.setTimeout(timeoutMs, () =>
    request.destroy(new TargetTimeoutError(`the push server sent nothing for ${timeoutMs} ms`)),
  );
}

/** Answers a failed forward of an HTTP request: a JSON 502 or 504, or, once the answer started, a cut. */
export function failResponse(error: Error, res: ServerResponse): void {
  if (res.headersSent || res.destroyed) {
    debug('forward failed after it started: %s', error.message);
    res.destroy();
    return;
  }
  const { status, code, message } = failure(error);
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    ...answerHeaders,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Answers a failed forward of an upgrade on the browser's socket: 502 or 504, or, once upgraded, a cut. */
export function failUpgrade(error: Error, socket: Duplex, upgraded: boolean): void {
  if (upgraded || socket.destroyed) {
    debug('upgrade failed after it went through: %s', error.message);
    socket.destroy();
    return;
  }
  const { status, code, message } = failure(error);
  if (socket.writable) refuseSocket(socket, status, code, message);
}

/** The status, code and message answering a failed forward. */
function failure(error: Error): { status: number; code: ErrorCode; message: string } {
  if (error instanceof TargetTimeoutError) {
    debug('push server timed out: %s', error.message);
    return { status: 504, code: 'SERVERPUSH_ERR_PROXY_TIMEOUT', message: error.message };
  }
  const code = (error as NodeJS.ErrnoException).code ?? '';
  debug('forward failed: %s %s', code, error.message);
  // HPE_*: the push server's answer did not parse; ERR_*: Node would not send it on.
  const message = /^(HPE_|ERR_)/.test(code)
    ? 'the push server sent an answer that cannot be forwarded'
    : 'the push server cannot be reached';
  return { status: 502, code: 'SERVERPUSH_ERR_PROXY', message };
}
