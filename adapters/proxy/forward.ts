// Forwards one vetted HTTP request to the push server, without its body, and streams the answer
// back as it comes (a held long-poll, a Server-Sent Events stream), hop-by-hop headers dropped.

import { type Agent, type IncomingMessage, request, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { request as requestTls } from 'node:https';
import createDebug from 'debug';
import { endToEnd } from './headers.ts';
import { failResponse, timeOut } from './failure.ts';

const debug = createDebug('serverpush:proxy');

/** What `forward()` needs besides the request and its response. */
export interface ForwardOptions {
  /** The URL on the push server, the vetted path and query on the target's origin. */
  readonly url: URL;
  /** The headers to send, from `forwardedHeaders()`. */
  readonly headers: OutgoingHttpHeaders;
  /** The agent whose connections to the push server are reused. */
  readonly agent: Agent;
  /** How long the push server may send nothing, in ms. */
  readonly timeoutMs: number;
}

/**
 * Sends `req` on to the push server and pipes its answer into `res`; resolves once `res` closes.
 * Never rejects: a failure is answered on `res` (see `failResponse()`).
 */
export function forward(req: IncomingMessage, res: ServerResponse, options: ForwardOptions): Promise<void> {
  const closed = new Promise<void>((resolve) => res.once('close', resolve));
  const send = options.url.protocol === 'https:' ? requestTls : request;
  let upstream: ReturnType<typeof request>;
  try {
    upstream = send(options.url, { method: req.method ?? 'GET', headers: options.headers, agent: options.agent });
  } catch (error) {
    // A header Node will not send (ERR_INVALID_CHAR): the same 502 as an answer it will not send.
    failResponse(error as Error, res);
    return closed;
  }
  timeOut(upstream, options.timeoutMs);
  upstream.on('error', (error) => failResponse(error, res));
  // This runs inside the http client's parser: a throw here would take the process down.
  upstream.on('response', (answer) => upstreamOnResponse(answer, res));
  // The browser went away (a closed tab, an aborted poll): the push server's request goes too.
  res.once('close', () => {
    if (!upstream.destroyed) upstream.destroy();
  });
  // No push endpoint takes a body (docs/protocol.md): none is sent, and the caller has set a
  // Content-Length of 0 for a request that announced one. Node's server discards the body it never
  // read once the answer is sent.
  upstream.end();
  return closed;
}

/** Writes the push server's answer to the browser: its status and end-to-end headers, then its body as it arrives. */
function upstreamOnResponse(answer: IncomingMessage, res: ServerResponse) {
  answer.on('error', (error) => debug('push server response failed: %s', error.message));
  if (res.headersSent || res.destroyed) {
    answer.destroy();
    return;
  }
  try {
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage ?? '', endToEnd(answer.headers));
  } catch (error) {
    // A status or header Node will not send (the push server is not one of ours?): 502, without
    // any of the push server's headers that writeHead took before it threw.
    answer.destroy();
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    failResponse(error as Error, res);
    return;
  }
  // A stream the push server cuts is cut for the browser too, never ended as if complete.
  answer.once('close', () => {
    if (!answer.complete) res.destroy();
  });
  // Headers leave at once, so an event stream's first event is not held behind them.
  res.flushHeaders();
  answer.pipe(res);
}
