// The WebSocket transport, browser half: one socket, each text frame a batch of messages, the close
// code saying whether to reconnect. See docs/protocol.md, "WebSocket".

import { retryDelay } from '../backoff.ts';
import { PushClientError, parseJson, retryAfterOf, stopsClient } from '../errors.ts';
import type { ClientGlobals } from '../globals.ts';
import { endpointUrl } from '../http.ts';
import { type ClientTransport, isFrame, type TransportSession } from './contract.ts';

/** The part of a browser `WebSocket` this transport uses; `ws`'s WebSocket fits too. */
interface SocketLike {
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

type SocketConstructor = new (url: string) => SocketLike;

/** WebSocket over the page's `WebSocket` constructor. */
export const websocket: ClientTransport = {
  name: 'websocket',
  // Browsers send Origin on a WebSocket handshake and skip CORS: the server's Origin check decides.
  reach: 'origin',
  supported: (globals) => socketConstructor(globals) !== undefined,
  open: openWebSocket,
};

function socketConstructor(globals: ClientGlobals): SocketConstructor | undefined {
  return typeof globals.WebSocket === 'function' ? globals.WebSocket : undefined;
}

function openWebSocket(session: TransportSession): () => void {
  const { globals, backoff } = session;
  let stopped = false;
  let failures = 0;
  let socket: SocketLike | undefined;
  /** Whether the socket's handshake is done, so that frames can be sent. */
  let open = false;
  let openedAt = 0;
  let timer: unknown;

  function connect(): void {
    timer = undefined;
    const WebSocket = socketConstructor(globals);
    if (WebSocket === undefined) {
      return session.failed(new PushClientError('SERVERPUSH_ERR_NO_TRANSPORT', 'WebSocket is not available'));
    }
    try {
      socket = new WebSocket(socketUrl(session));
    } catch (cause) {
      // A malformed URL or one the page may not open (mixed content): retrying cannot help.
      return session.failed(
        new PushClientError('SERVERPUSH_ERR_NETWORK', 'the WebSocket could not be opened', undefined, cause),
      );
    }
    open = false;
    socket.onopen = () => {
      open = true;
      socketOnOpen();
    };
    socket.onmessage = socketOnMessage;
    socket.onclose = socketOnClose;
    // Every error is followed by a close event, which says what happened.
    socket.onerror = ignore;
  }

  /** On a socket of many pages, the pages it carries, by key, with the token each was added with. */
  let carried = new Map<string, string>();

  function socketOnOpen(): void {
    openedAt = Date.now();
    carried = new Map();
    syncPages();
    session.connected();
  }

  // Sends the frames that make the socket carry the session's pages: adds for new ones (and for
  // pages whose token changed), removes for those gone.
  function syncPages(): void {
    const { pages } = session;
    if (pages === undefined || socket === undefined || !open) return;
    const wanted = pages();
    const add = wanted.filter((page) => carried.get(page.key) !== page.token);
    const keys = new Set(wanted.map((page) => page.key));
    const remove = [...carried.keys()].filter((key) => !keys.has(key));
    if (add.length === 0 && remove.length === 0) return;
    for (const key of remove) carried.delete(key);
    for (const page of add) carried.set(page.key, page.token);
    socket.send(
      JSON.stringify({ add: add.map(({ key, token, cursor }) => ({ key, token, cursor: cursor ?? null })), remove }),
    );
  }

  function socketOnMessage(event: MessageEvent): void {
    const body = typeof event.data === 'string' ? parseJson(event.data) : undefined;
    if (!isFrame(body)) {
      drop();
      return retry(new PushClientError('SERVERPUSH_ERR_BAD_RESPONSE', 'the server sent a frame without messages'));
    }
    failures = 0;
    session.receive(body);
  }

  function socketOnClose(event: CloseEvent): void {
    socket = undefined;
    if (stopped) return;
    // A connection that stayed up as long as the longest wait was a good one: start over.
    if (openedAt > 0 && Date.now() - openedAt >= backoff.maxMs) failures = 0;
    openedAt = 0;
    const error = errorFromClose(event.code, event.reason);
    if (stopsClient(error)) return session.failed(error);
    retry(error);
  }

  /** Closes the socket without hearing about it again. */
  function drop(): void {
    if (socket === undefined) return;
    socket.onopen = socket.onmessage = socket.onclose = null;
    socket.close();
    socket = undefined;
  }

  function retry(error: PushClientError): void {
    session.retrying(error);
    if (stopped) return;
    timer = globals.setTimeout(connect, retryDelay(backoff, failures, globals.random, error));
    failures += 1;
  }

  session.onPagesChange?.(syncPages);
  connect();
  return () => {
    stopped = true;
    if (timer !== undefined) globals.clearTimeout(timer);
    drop();
  };
}

function ignore(): void {}

function socketUrl(session: TransportSession): string {
  // http: becomes ws:, https: becomes wss:.
  return endpointUrl(session, session.url.replace(/^http/, 'ws'));
}

const closeReason = /^(SERVERPUSH_ERR_[A-Z0-9_]+): (.*?)(?: \(Retry-After: (\d+)\))?$/s;

/**
 * The error a close stands for: the server's `CODE: message` reason when it has one (with
 * `status` = code − 4000 for codes 4000–4999, and `retryAfter` from a ` (Retry-After: N)` suffix),
 * else `SERVERPUSH_ERR_NETWORK`.
 */
function errorFromClose(code: number, reason: string): PushClientError {
  const status = code >= 4000 && code <= 4999 ? code - 4000 : undefined;
  const match = closeReason.exec(reason);
  if (match !== null) {
    const retryAfter = match[3] === undefined ? undefined : retryAfterOf(Number(match[3]));
    return new PushClientError(match[1]!, match[2]!, status, undefined, retryAfter);
  }
  return new PushClientError('SERVERPUSH_ERR_NETWORK', `the connection closed (code ${code})`, status);
}
