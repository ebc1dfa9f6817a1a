// The WebSocket transport, server half: one socket per page, each batch of messages one text frame,
// ping/pong as the heartbeat. The only file that imports ws. See docs/protocol.md, "WebSocket".

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import createDebug from 'debug';
import { WebSocketServer, type WebSocket } from 'ws';
import { isPushError } from '../core/errors.ts';
import { positiveInteger } from '../core/options.ts';
import type { PushEndpoint, PushRequest, PushResponse, Transport } from '../core/transport.ts';
import { failed, refusal } from './respond.ts';
import { batches } from './stream.ts';

const debug = createDebug('serverpush:websocket');

/** Options of `websocket()`. */
export interface WebSocketOptions {
  /**
   * How often each socket is pinged, in ms. A socket that has not answered the previous ping is
   * closed, so a dead peer is dropped within two intervals. Default: `15_000`.
   */
  readonly heartbeatMs?: number;
  /**
   * How many bytes may wait unsent on one socket. A frame that would go past it (when something is
   * already waiting) is replaced by a `refresh` with reason `slow`, and the socket is closed with
   * 1008: a reader that cannot keep up costs the server this much memory at most, plus one frame.
   * Default: `1_048_576`.
   */
  readonly maxBufferedBytes?: number;
}

/**
 * The close codes the server ends a socket with. Errors the other transports answer with an HTTP
 * status close with `4000 + status` (4401 bad or expired token, 4400 bad cursor, 4503 shutting
 * down); the close reason is `CODE: message`, at most 123 bytes.
 */
const closeCode = { refresh: 1000, shutdown: 1001, slowReader: 1008, internal: 1011, errorBase: 4000 } as const;

/** The largest frame a client may send; it has nothing to send, and ws closes it (1009) past this. */
const maxInboundBytes = 1_024;

const shutdownReason = 'SERVERPUSH_ERR_CLOSED: the push server is shutting down; reconnect';
const slowFrame = JSON.stringify({ messages: [{ name: 'refresh', reason: 'slow' }] });
const slowReason = 'SERVERPUSH_ERR_SLOW_READER: the client read too slowly and must reload';

interface Connection {
  /** Whether the peer answered the last ping (or has not been pinged yet). */
  alive: boolean;
  readonly controller: AbortController;
}

/**
 * The WebSocket transport: `GET {prefix}/websocket?token=…&cursor=…` upgraded to a WebSocket, on
 * which the server sends each batch of messages as one text frame `{"messages":[…]}`. Needs
 * `push.attach(server)` so upgrade requests reach it, and the `ws` package.
 *
 * @example
 * const push = createPush({ secret, router, transports: [websocket(), longPoll()] });
 * push.attach(app.listen(3000));
 */
export function websocket(options: WebSocketOptions = {}): Transport {
  const heartbeatMs = positiveInteger(options.heartbeatMs ?? 15_000, 'heartbeatMs');
  const maxBufferedBytes = positiveInteger(options.maxBufferedBytes ?? 1_048_576, 'maxBufferedBytes');
  const server = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: maxInboundBytes,
  });
  const open = new Map<WebSocket, Connection>();
  let heartbeat: NodeJS.Timeout | undefined;
  let closed = false;

  function heartbeatOnTick() {
    for (const [socket, connection] of open) {
      if (!connection.alive) {
        debug('no pong within %d ms: terminating', heartbeatMs);
        socket.terminate();
        continue;
      }
      connection.alive = false;
      socket.ping();
    }
  }

  function accept(socket: WebSocket, push: PushEndpoint, token: string, cursor: string | undefined) {
    const connection: Connection = { alive: true, controller: new AbortController() };
    open.set(socket, connection);
    heartbeat ??= setInterval(heartbeatOnTick, heartbeatMs).unref();
    const socketOnPong = () => {
      connection.alive = true;
    };
    const socketOnClose = (code: number) => {
      debug('closed with %d', code);
      connection.controller.abort();
      open.delete(socket);
      if (open.size === 0 && heartbeat !== undefined) {
        clearInterval(heartbeat);
        heartbeat = undefined;
      }
    };
    socket.on('pong', socketOnPong).on('message', socketOnMessage).on('close', socketOnClose);
    void stream(socket, push, token, cursor, connection.controller.signal);
  }

  async function stream(
    socket: WebSocket,
    push: PushEndpoint,
    token: string,
    cursor: string | undefined,
    signal: AbortSignal,
  ) {
    try {
      for await (const batch of batches(push, token, cursor, { idleMs: heartbeatMs, signal })) {
        if (batch.length === 0) continue;
        const frame = Buffer.from(JSON.stringify({ messages: batch }));
        const waiting = socket.bufferedAmount;
        if (waiting > 0 && waiting + frame.length > maxBufferedBytes) {
          debug('slow reader: %d bytes unsent, %d more to send', waiting, frame.length);
          socket.send(slowFrame);
          return end(socket, closeCode.slowReader, slowReason);
        }
        socket.send(frame, { binary: false });
        if (batch.some((message) => message.name === 'refresh')) return end(socket, closeCode.refresh, 'refresh');
      }
    } catch (error) {
      if (!signal.aborted) refuse(socket, error, push);
    }
  }

  return {
    name: 'websocket',
    async handle(request: PushRequest): Promise<PushResponse> {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return refusal(405, 'SERVERPUSH_ERR_BAD_REQUEST', 'websocket accepts GET only', { Allow: 'GET' });
      }
      // An upgrade request that reached the HTTP handler was not routed by attach().
      const unrouted = /\bwebsocket\b/i.test(String(request.headers['upgrade'] ?? ''));
      const message = unrouted
        ? 'WebSocket upgrades do not reach serverpush: call push.attach(server)'
        : 'websocket answers WebSocket upgrade requests only';
      if (unrouted) debug(message);
      return refusal(426, 'SERVERPUSH_ERR_BAD_REQUEST', message, { Upgrade: 'websocket' });
    },
    upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, push: PushEndpoint) {
      const url = request.url ?? '';
      const at = url.indexOf('?');
      const query = new URLSearchParams(at < 0 ? '' : url.slice(at + 1));
      const token = query.get('token') ?? '';
      const cursor = query.get('cursor') ?? undefined;
      // Checked before any message is sent, but answered on the socket: a browser cannot read the
      // status of a refused handshake, only a close code.
      let refused: unknown;
      try {
        push.check(token, cursor);
      } catch (error) {
        refused = error ?? new Error('check() threw nothing');
      }
      try {
        server.handleUpgrade(request, socket, head, (client) => {
          // First, whatever happens next: a protocol violation (a reserved opcode, an unmasked or
          // oversized frame) makes ws emit 'error', and an 'error' without a listener ends the
          // process. A refused socket is open until its closing handshake completes, too.
          client.on('error', socketOnError);
          if (closed) return end(client, closeCode.shutdown, shutdownReason);
          if (refused !== undefined) return refuse(client, refused, push);
          accept(client, push, token, cursor);
        });
      } catch (error) {
        debug('upgrade failed: %O', error);
        socket.destroy();
      }
    },
    close() {
      closed = true;
      for (const [socket, connection] of open) {
        connection.controller.abort();
        end(socket, closeCode.shutdown, shutdownReason);
      }
    },
  };
}

// The client has nothing to say: frames it sends anyway are ignored (ws closes it with 1009 when
// one is larger than `maxInboundBytes`).
function socketOnMessage() {
  debug('ignored a frame from the client');
}

function socketOnError(error: Error) {
  debug('socket error: %s', error.message);
}

/** Closes `socket` for `error`: a `PushError` with `4000 + status`, anything else with 1011 (reported). */
function refuse(socket: WebSocket, error: unknown, push: PushEndpoint) {
  const {
    status,
    error: { code, message },
  } = failed(error, push, 'serving a WebSocket');
  end(socket, isPushError(error) ? closeCode.errorBase + status : closeCode.internal, `${code}: ${message}`);
}

/** Starts the closing handshake; the reason is cut to the 123 bytes a close frame can carry. */
function end(socket: WebSocket, code: number, reason: string) {
  socket.close(code, fitReason(reason));
}

/** `reason`, cut at a character boundary to at most 123 UTF-8 bytes (RFC 6455, section 5.5). */
function fitReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let fitted = '';
  let bytes = 3; // the ellipsis
  for (const char of reason) {
    bytes += Buffer.byteLength(char);
    if (bytes > 123) break;
    fitted += char;
  }
  return `${fitted}…`;
}
