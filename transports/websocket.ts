// The WebSocket transport, server half: a socket carries one page (`?token=`, the first protocol) or
// the pages of every tab sharing it (`?mux=1`, pages added and removed by client frames). Each frame
// of messages is one text frame; ping/pong is the heartbeat. The only file that imports ws. See
// docs/protocol.md, "WebSocket".

/**
 * `websocket()`, the WebSocket transport (needs `ws`).
 *
 * @module serverpush/transports/websocket
 */

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import createDebug from 'debug';
import { type WebSocket, WebSocketServer } from 'ws';
import { refreshDelivery, type Delivery } from '../core/delivery.ts';
import { type Failure, isPushError, PushError } from '../core/errors.ts';
import { positiveInteger } from '../core/options.ts';
import type { Connection, PageBatch, PushEndpoint, PushRequest, PushResponse, Transport } from '../core/transport.ts';
import { failed, refusal } from './respond.ts';
import { keyPattern, messagesFrame, pagesFrame, pagesOf, Query, singleKey } from './wire.ts';

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
  /** The largest frame a client of a shared socket may send (adding pages), in bytes. Default: `65_536`. */
  readonly maxFrameBytes?: number;
  /** How many pages one shared socket may add in a minute; past it an add is refused. Default: `240`. */
  readonly maxAddsPerMinute?: number;
}

/**
 * The close codes the server ends a socket with. Errors the other transports answer with an HTTP
 * status close with `4000 + status` (4401 bad or expired token, 4400 bad cursor, 4503 shutting
 * down); the close reason is `CODE: message`, at most 123 bytes.
 */
const closeCode = { refresh: 1000, shutdown: 1001, slowReader: 1008, internal: 1011, errorBase: 4000 } as const;

/** The largest frame a client of a one-page socket may send: it has nothing to send; ws closes it (1009) past this. */
const maxSingleInboundBytes = 1_024;

const shutdownReason = 'SERVERPUSH_ERR_CLOSED: the push server is shutting down; reconnect';
const slowReason = 'SERVERPUSH_ERR_SLOW_READER: the client read too slowly and must reload';
const supersededReason = 'SERVERPUSH_ERR_SUPERSEDED: a newer connection of this page took it over';

/** One open socket, as the heartbeat and `close()` see it. */
interface Peer {
  /** Whether the peer answered the last ping (or has not been pinged yet). */
  alive: boolean;
  readonly connection: Connection;
}

/**
 * The WebSocket transport: `GET {prefix}/websocket?token=…&cursor=…` (one page) or
 * `GET {prefix}/websocket?mux=1` (pages added by frames) upgraded to a WebSocket. Needs
 * `push.attach(server)` so upgrade requests reach it, and the `ws` package.
 *
 * @example
 * const push = createPush({ secret, router, transports: [websocket(), longPoll()] });
 * push.attach(app.listen(3000));
 */
export function websocket(options: WebSocketOptions = {}): Transport {
  const heartbeatMs = positiveInteger(options.heartbeatMs ?? 15_000, 'heartbeatMs');
  const maxBufferedBytes = positiveInteger(options.maxBufferedBytes ?? 1_048_576, 'maxBufferedBytes');
  const maxFrameBytes = positiveInteger(options.maxFrameBytes ?? 65_536, 'maxFrameBytes');
  const maxAddsPerMinute = positiveInteger(options.maxAddsPerMinute ?? 240, 'maxAddsPerMinute');
  const serverOptions = { noServer: true, clientTracking: false, perMessageDeflate: false } as const;
  const single = new WebSocketServer({ ...serverOptions, maxPayload: maxSingleInboundBytes });
  const shared = new WebSocketServer({ ...serverOptions, maxPayload: maxFrameBytes });
  const open = new Map<WebSocket, Peer>();
  let heartbeat: NodeJS.Timeout | undefined;
  let closed = false;

  function heartbeatOnTick() {
    for (const [socket, peer] of open) {
      if (!peer.alive) {
        debug('no pong within %d ms: terminating', heartbeatMs);
        socket.terminate();
        continue;
      }
      peer.alive = false;
      socket.ping();
    }
  }

  /**
   * Sends `frame` unless the socket has fallen too far behind: then `slow` instead, and closes it
   * (its connection at once: its pages wait for their client's next connection).
   */
  function send(socket: WebSocket, connection: Connection, frame: string | Buffer, slow: () => string): boolean {
    const waiting = socket.bufferedAmount;
    if (waiting > 0 && waiting + frame.length > maxBufferedBytes) {
      debug('slow reader: %d bytes unsent, %d more to send', waiting, frame.length);
      connection.close('slow');
      socket.send(slow());
      end(socket, closeCode.slowReader, slowReason);
      return false;
    }
    socket.send(frame, { binary: false });
    return true;
  }

  function accept(
    socket: WebSocket,
    push: PushEndpoint,
    many: boolean,
    asked?: { token: string; cursor: string | undefined },
  ) {
    // The pages of a shared socket, for the refreshes of a slow reader.
    const keys = many ? new Set<string>() : undefined;
    const connection = push.open({
      write(batches: readonly PageBatch[]) {
        if (batches.length === 0 || socket.readyState !== socket.OPEN) return;
        if (!many) {
          const batch = batches[0]!;
          if (!send(socket, connection, singleFrame(batch.deliveries), () => messagesFrame([refreshDelivery('slow')])))
            return;
          // After a refresh the page gets nothing more: the socket closes.
          if (batch.ended) end(socket, closeCode.refresh, 'refresh');
          return;
        }
        for (const batch of batches) if (batch.ended) keys!.delete(batch.key);
        send(socket, connection, pagesFrame(batches), () => slowPages(keys!));
      },
      // A newer connection took every page of this socket: it closes with 4409, which stops a
      // client rather than have it come back and take the pages back.
      orphaned: () => {
        connection.close();
        end(socket, closeCode.errorBase + 409, supersededReason);
      },
    });
    const peer: Peer = { alive: true, connection };
    open.set(socket, peer);
    heartbeat ??= setInterval(heartbeatOnTick, heartbeatMs).unref();
    const socketOnPong = () => {
      peer.alive = true;
    };
    const socketOnClose = (code: number) => {
      debug('closed with %d', code);
      connection.close();
      open.delete(socket);
      if (open.size === 0 && heartbeat !== undefined) {
        clearInterval(heartbeat);
        heartbeat = undefined;
      }
    };
    socket.on('pong', socketOnPong).on('close', socketOnClose);
    if (!many) {
      // The client has nothing to say: frames it sends anyway are ignored.
      socket.on('message', () => debug('ignored a frame from the client'));
      connection
        .add(singleKey, asked?.token ?? '', asked?.cursor)
        .catch((error: unknown) => refuse(socket, error, push));
      return;
    }
    const adds: number[] = [];
    const refuseKey = (key: string, failure: Failure) => {
      if (socket.readyState === socket.OPEN) socket.send(pagesFrame([], new Map([[key, failure]])));
    };
    socket.on('message', (data, isBinary) => {
      let frame: ClientFrame;
      try {
        frame = clientFrame(isBinary ? undefined : String(data));
      } catch (error) {
        return refuse(socket, error, push);
      }
      for (const key of frame.remove) {
        keys!.delete(key);
        connection.remove(key);
      }
      for (const page of frame.add) {
        const now = Date.now();
        while (adds.length > 0 && adds[0]! < now - 60_000) adds.shift();
        if (adds.length >= maxAddsPerMinute) {
          refuseKey(
            page.key,
            failed(
              new PushError(
                'SERVERPUSH_ERR_LIMIT',
                `a shared socket may add at most ${maxAddsPerMinute} pages a minute`,
              ),
              push,
              '',
            ),
          );
          continue;
        }
        adds.push(now);
        keys!.add(page.key);
        connection.add(page.key, page.token, page.cursor).catch((error: unknown) => {
          keys!.delete(page.key);
          refuseKey(page.key, failed(error, push, 'serving a WebSocket'));
        });
      }
    });
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
      let refused: unknown;
      let many = false;
      let asked: { token: string; cursor: string | undefined } | undefined;
      // Checked before any message is sent, but answered on the socket: a browser cannot read the
      // status of a refused handshake, only a close code.
      try {
        const query = new Query(at < 0 ? '' : url.slice(at + 1));
        many = query.get('mux') === '1';
        if (many) push.check(undefined, undefined);
        else {
          const [page] = pagesOf(query).pages;
          asked = { token: page!.token, cursor: page!.cursor };
          push.check(asked.token, asked.cursor);
        }
      } catch (error) {
        refused = error ?? new Error('check() threw nothing');
      }
      try {
        (many ? shared : single).handleUpgrade(request, socket, head, (client) => {
          // First, whatever happens next: a protocol violation (a reserved opcode, an unmasked or
          // oversized frame) makes ws emit 'error', and an 'error' without a listener ends the
          // process. A refused socket is open until its closing handshake completes, too.
          client.on('error', socketOnError);
          if (closed) return end(client, closeCode.shutdown, shutdownReason);
          if (refused !== undefined) return refuse(client, refused, push);
          accept(client, push, many, asked);
        });
      } catch (error) {
        debug('upgrade failed: %O', error);
        socket.destroy();
      }
    },
    close() {
      closed = true;
      for (const [socket, peer] of open) {
        peer.connection.close();
        end(socket, closeCode.shutdown, shutdownReason);
      }
    },
  };
}

/** What a client of a shared socket asks in one frame. */
interface ClientFrame {
  readonly add: ReadonlyArray<{ readonly key: string; readonly token: string; readonly cursor: string | undefined }>;
  readonly remove: readonly string[];
}

/** Reads a client frame: `{"add":[{"key","token","cursor"}],"remove":["key"]}`; throws `SERVERPUSH_ERR_BAD_REQUEST`. */
function clientFrame(text: string | undefined): ClientFrame {
  const bad = (why: string) => new PushError('SERVERPUSH_ERR_BAD_REQUEST', `a client frame must be ${why}`);
  let value: unknown;
  try {
    value = text === undefined ? undefined : JSON.parse(text);
  } catch {
    throw bad('JSON text');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('a JSON object');
  const { add = [], remove = [] } = value as { add?: unknown; remove?: unknown };
  if (!Array.isArray(add) || !Array.isArray(remove)) throw bad('{ "add": [...], "remove": [...] }');
  const pages = add.map((page: unknown) => {
    const { key, token, cursor } = (typeof page === 'object' && page !== null ? page : {}) as Record<string, unknown>;
    if (typeof key !== 'string' || !keyPattern.test(key))
      throw bad('adding pages with keys of 1 to 16 characters [A-Za-z0-9_-]');
    if (typeof token !== 'string') throw bad('adding pages with a string `token`');
    if (cursor !== undefined && cursor !== null && typeof cursor !== 'string')
      throw bad('adding pages with a string `cursor` or none');
    return { key, token, cursor: typeof cursor === 'string' && cursor !== '' ? cursor : undefined };
  });
  if (!remove.every((key: unknown) => typeof key === 'string')) throw bad('removing keys given as strings');
  return { add: pages, remove: remove as string[] };
}

// One-page frames carrying a single delivery are the same bytes for every socket that sends them.
const singleBuffers = new WeakMap<Delivery, Buffer>();

function singleFrame(deliveries: readonly Delivery[]): string | Buffer {
  if (deliveries.length !== 1) return messagesFrame(deliveries);
  const delivery = deliveries[0]!;
  let buffer = singleBuffers.get(delivery);
  if (buffer === undefined) {
    buffer = Buffer.from(messagesFrame(deliveries));
    singleBuffers.set(delivery, buffer);
  }
  return buffer;
}

function slowPages(keys: ReadonlySet<string>): string {
  const slow = refreshDelivery('slow');
  return pagesFrame([...keys].map((key) => ({ key, deliveries: [slow], cursor: undefined, ended: true })));
}

function socketOnError(error: Error) {
  debug('socket error: %s', error.message);
}

/**
 * Closes `socket` for `error`: a `PushError` with `4000 + status`, anything else with 1011
 * (reported). The reason is `CODE: message`, and ` (Retry-After: N)` when a retry may succeed in N
 * seconds; the client reads both.
 */
function refuse(socket: WebSocket, error: unknown, push: PushEndpoint) {
  const {
    status,
    error: { code, message, retryAfter },
  } = failed(error, push, 'serving a WebSocket');
  const suffix = retryAfter === undefined ? '' : ` (Retry-After: ${retryAfter})`;
  end(socket, isPushError(error) ? closeCode.errorBase + status : closeCode.internal, `${code}: ${message}`, suffix);
}

/**
 * Starts the closing handshake; the reason is cut to the 123 bytes a close frame can carry, and
 * `suffix` is kept whole after it.
 */
function end(socket: WebSocket, code: number, reason: string, suffix = '') {
  socket.close(code, fitReason(reason, 123 - Buffer.byteLength(suffix)) + suffix);
}

/** `reason`, cut at a character boundary to at most `room` UTF-8 bytes (RFC 6455, section 5.5). */
function fitReason(reason: string, room: number): string {
  if (Buffer.byteLength(reason) <= room) return reason;
  let fitted = '';
  let bytes = 3; // the ellipsis
  for (const char of reason) {
    bytes += Buffer.byteLength(char);
    if (bytes > room) break;
    fitted += char;
  }
  return `${fitted}…`;
}
