// The transport contract: the server half of one way of reaching a browser, written against a
// small request/response shape so that no transport depends on an HTTP framework.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Message, TransportName } from './types.ts';

/** The parts of an HTTP request a transport reads. */
export interface PushRequest {
  readonly method: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Aborted when the client goes away before the response is complete. */
  readonly signal: AbortSignal;
}

/** What a transport answers. A string body is sent whole; an async iterable is streamed. */
export interface PushResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | AsyncIterable<string> | null;
}

/** Options of `PushEndpoint.poll()`. */
export interface PollOptions {
  readonly waitMs: number;
  readonly signal?: AbortSignal | undefined;
  /** The value the request presents for a bound token (the session cookie); the adapter fills it. */
  readonly binding?: string | undefined;
}

/** What the push instance offers transports. */
export interface PushEndpoint {
  /**
   * Messages for the page of `token` after `cursor` (the token's own cursor when `undefined`),
   * waiting up to `waitMs` when none are ready; the request that opens a page's session is answered
   * at once. Throws a `PushError` for a bad token or cursor.
   */
  poll(token: string, cursor: string | undefined, options: PollOptions): Promise<Message[]>;
  /**
   * Throws the `PushError` that `poll()` would throw for this token and cursor, without opening the
   * page's session: streaming transports check before they send anything.
   */
  check(token: string, cursor: string | undefined, binding?: string): void;
  /**
   * Reports an internal error (not a client's mistake) met while serving `where` ("answering a push
   * request", "serving a WebSocket"): to the push instance's `onError`.
   */
  reportError(error: unknown, where: string): void;
}

/** The server half of a transport. */
export interface Transport {
  /** The registry key, URL segment and client transport name: `long-poll`, `sse`… */
  readonly name: TransportName;
  /** Answers one request to `{prefix}/{name}`. Must not throw for a client's mistake: answer 4xx. */
  handle(request: PushRequest, push: PushEndpoint): Promise<PushResponse>;
  /**
   * Takes over an HTTP upgrade request to `{prefix}/{name}` (WebSocket). The adapter has already
   * checked the request's origin. Must not throw: a bad request is refused on the socket.
   */
  upgrade?(request: IncomingMessage, socket: Duplex, head: Buffer, push: PushEndpoint): void;
  /** Ends the transport's open connections, telling clients to reconnect (graceful shutdown). */
  close?(): void;
}
