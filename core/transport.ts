// The transport contract: the server half of one way of reaching a browser, written against a
// small request/response shape so that no transport depends on an HTTP framework.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Connection, ConnectionSink } from './connection.ts';
import type { ErrorCode } from './errors.ts';
import type { TransportName } from './types.ts';

export type { Connection, ConnectionSink, PageBatch } from './connection.ts';
export type { Delivery } from './delivery.ts';

/** The parts of an HTTP request a transport reads. */
export interface PushRequest {
  readonly method: string;
  /** The query string, without `?`. */
  readonly query: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /**
   * Calls `listener` once if the client goes away before the response is complete; returns a
   * function that stops listening. (A callback, not an AbortSignal: polls are many, and an
   * AbortController each is not free.)
   */
  onClose(listener: () => void): () => void;
  /** Whether the client has gone away already. */
  readonly gone: boolean;
}

/** The open response a streaming transport writes to (an SSE stream). */
export interface StreamOut {
  /** Writes a chunk at once (no buffering in between); `false` once the socket buffers past its mark. */
  write(chunk: string): boolean;
  /** How many bytes wait unsent. */
  readonly writableLength: number;
  /** Ends the response. */
  end(): void;
  /** Calls `listener` once when the response ends or the client goes away. */
  onClose(listener: () => void): void;
}

/** A body written as it comes: the adapter calls `stream` once the status and headers are sent. */
export interface StreamBody {
  stream(out: StreamOut): void;
}

/** What a transport answers. A string body is sent whole; a stream body is written as it comes. */
export interface PushResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | StreamBody | null;
}

/** What the push instance offers transports, as one request sees it (with the binding it presents). */
export interface PushEndpoint {
  /** Opens a connection whose frames go to `sink`. */
  open(sink: ConnectionSink): Connection;
  /**
   * Throws the `PushError` that opening a connection (no room for one more: busy, or too many from
   * this address) and, given a `token`, adding its page at `cursor` would throw, without opening
   * anything: streaming transports check before they answer 200.
   */
  check(token: string | undefined, cursor: string | undefined): void;
  /**
   * Reports an internal error (not a client's mistake) met while serving `where` ("answering a push
   * request", "serving a WebSocket"): to the push instance's `onError`.
   */
  reportError(error: unknown, where: string): void;
  /** Tells the push instance's observers of a request refused with a `PushError` (`failed()` does). */
  rejected?(code: ErrorCode, message: string): void;
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
