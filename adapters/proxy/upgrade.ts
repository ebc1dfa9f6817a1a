// Forwards a vetted WebSocket upgrade to the push server on a connection of its own, and once the
// push server switches protocols, joins the two sockets byte for byte.

import { type IncomingMessage, type OutgoingHttpHeaders, request, STATUS_CODES } from 'node:http';
import { request as requestTls } from 'node:https';
import type { Duplex } from 'node:stream';
import createDebug from 'debug';
import { failUpgrade, timeOut } from './failure.ts';
import { endToEnd } from './headers.ts';

const debug = createDebug('serverpush:proxy');

/** What `forwardUpgrade()` needs besides the request, its socket and its head. */
export interface UpgradeOptions {
  /** The URL on the push server, the vetted path and query on the target's origin. */
  readonly url: URL;
  /** The headers to send, from `forwardedHeaders()` with `Upgrade: websocket`. */
  readonly headers: OutgoingHttpHeaders;
  /** How long the push server may send nothing before it answers the upgrade, in ms. */
  readonly timeoutMs: number;
}

/**
 * Sends the upgrade `req` on to the push server: its `101` and the WebSocket after it reach
 * `socket`, as does any other answer it gives (then the connection closes). A failure before the
 * switch is a 502 or 504 on `socket`, after it a cut.
 */
export function forwardUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, options: UpgradeOptions): void {
  socket.on('error', (error) => debug('upgrade socket failed: %s', error.message));
  const send = options.url.protocol === 'https:' ? requestTls : request;
  let upstream: ReturnType<typeof request>;
  try {
    // No agent: an upgraded connection is never reused.
    upstream = send(options.url, { method: req.method ?? 'GET', headers: options.headers, agent: false });
  } catch (error) {
    // A header Node will not send (ERR_INVALID_CHAR): the same 502 as an answer it will not send.
    failUpgrade(error as Error, socket, false);
    return;
  }
  let upgraded = false;
  timeOut(upstream, options.timeoutMs);
  upstream.on('error', (error) => failUpgrade(error, socket, upgraded));
  // The browser went away before the push server answered.
  socket.once('close', () => {
    if (!upgraded) upstream.destroy();
  });
  upstream.on('response', (answer) => upstreamOnResponse(answer, socket));
  upstream.on('upgrade', (answer: IncomingMessage, pushSocket: Duplex, pushHead: Buffer) => {
    upgraded = true;
    upstreamOnUpgrade(answer, pushSocket, pushHead, socket, head);
  });
  upstream.end();
}

/** Joins the browser's socket to the push server's once it switched protocols. */
function upstreamOnUpgrade(
  answer: IncomingMessage,
  pushSocket: Duplex,
  pushHead: Buffer,
  socket: Duplex,
  head: Buffer,
) {
  // The WebSocket keeps itself alive (pings, the push server's heartbeat): no idle timeout now.
  (pushSocket as Duplex & { setTimeout?(ms: number): void }).setTimeout?.(0);
  pushSocket.on('error', (error) => debug('push server socket failed: %s', error.message));
  if (socket.destroyed) {
    pushSocket.destroy();
    return;
  }
  socket.write(headOf(answer, answer.headers));
  // Bytes either side sent past its head belong to the WebSocket: each goes on first.
  if (pushHead.length > 0) socket.write(pushHead);
  if (head.length > 0) pushSocket.write(head);
  pushSocket.pipe(socket).pipe(pushSocket);
  // A close or error on either side ends both: neither is left half open.
  const close = () => {
    socket.destroy();
    pushSocket.destroy();
  };
  socket.once('close', close);
  pushSocket.once('close', close);
}

/** Passes on an answer other than `101` (a refusal of the push server's), then closes the connection. */
function upstreamOnResponse(answer: IncomingMessage, socket: Duplex) {
  answer.on('error', (error) => debug('push server response failed: %s', error.message));
  if (!socket.writable) {
    answer.destroy();
    return;
  }
  // Its body ends with the connection (Transfer-Encoding is hop-by-hop: the body goes on decoded).
  socket.write(headOf(answer, { ...endToEnd(answer.headers), connection: 'close' }));
  answer.once('close', () => {
    if (!answer.complete) socket.destroy();
  });
  answer.pipe(socket);
}

/** The status line and headers of `answer`, as the browser gets them. */
function headOf(answer: IncomingMessage, headers: Record<string, string | string[] | undefined>): string {
  const status = answer.statusCode ?? 502;
  let text = `HTTP/1.1 ${status} ${answer.statusMessage || STATUS_CODES[status] || ''}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) text += `${name}: ${one}\r\n`;
  }
  return `${text}\r\n`;
}
