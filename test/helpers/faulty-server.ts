// A real push server whose one transport can be made to misbehave: it refuses requests with 503,
// holds them, or loses their connections, while the test sees every request it was asked to answer.

import type { ExecutionContext } from 'ava';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { PushError } from '../../core/errors.ts';
import type { PushEndpoint, PushRequest, Transport } from '../../core/transport.ts';
import { pushServer } from '../transports/conformance.ts';

/** A request the transport was asked to answer. */
export interface SeenRequest {
  readonly token: string | null;
  /** Where it asks to resume: `Last-Event-ID`, else `cursor`; `undefined` for the token's own cursor. */
  readonly resumeFrom: string | undefined;
}

/** The server `faultyServer()` resolves with. */
export type FaultyServer = Awaited<ReturnType<typeof faultyServer>>;

/**
 * The push server of `pushServer()` (an update spec for `/items`, `page()`, `publish()`), offering
 * only `transport`, wrapped so that the test sees every request and can make requests fail with
 * 503 (`failWhile()`), wait (`hold()`, `release()`) or lose their connection (`cut()`).
 */
export async function faultyServer(t: ExecutionContext, transport: Transport) {
  const requests: SeenRequest[] = [];
  let failing = () => false;
  let failure = () => new PushError('SERVERPUSH_ERR_CLOSED', 'the push server is shutting down');
  let gate = Promise.resolve();
  let release = () => {};
  // What a push instance answers while it shuts down, framed by each transport its own way: 503,
  // a JSONP payload with `status: 503`, a WebSocket closed with 4503.
  const refuse = () => {
    if (failing()) throw failure();
  };
  const faulty = (push: PushEndpoint): PushEndpoint => ({
    open(sink) {
      const connection = push.open(sink);
      return {
        add: async (key, token, cursor) => {
          refuse();
          return connection.add(key, token, cursor);
        },
        remove: (key) => connection.remove(key),
        flush: (force) => connection.flush(force),
        settled: (ms) => connection.settled(ms),
        get size() {
          return connection.size;
        },
        close: () => connection.close(),
      };
    },
    check(token, cursor) {
      refuse();
      push.check(token, cursor);
    },
    reportError: (error, where) => push.reportError(error, where),
  });
  const { upgrade } = transport;
  const wrapped: Transport = {
    name: transport.name,
    async handle(request, push) {
      const query = new URLSearchParams(request.query);
      requests.push({ token: query.get('token'), resumeFrom: lastEventId(request) ?? cursorOf(query) });
      await gate;
      return transport.handle(request, faulty(push));
    },
    ...(upgrade === undefined
      ? {}
      : {
          upgrade(request: IncomingMessage, socket, head, push) {
            const query = new URL(request.url ?? '/', 'http://upgrade.invalid').searchParams;
            requests.push({ token: query.get('token'), resumeFrom: cursorOf(query) });
            void gate.then(() => upgrade.call(transport, request, socket, head, faulty(push)));
          },
        }),
    close: () => transport.close?.(),
  };
  const server = await pushServer(t, [wrapped]);
  const sockets = new Set<Socket>();
  server.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  t.teardown(() => release());
  return {
    ...server,
    /** Every request the transport was asked to answer, in order. */
    requests,
    /** The requests made with `token`. */
    requestsOf: (token: string) => requests.filter((request) => request.token === token),
    /**
     * Answers every request with `error()` for as long as `predicate()` holds; by default 503
     * `SERVERPUSH_ERR_CLOSED`.
     */
    failWhile(predicate: () => boolean, error?: () => PushError) {
      failing = predicate;
      if (error !== undefined) failure = error;
    },
    /** Lets requests arrive, but answers none until `release()`. */
    hold() {
      gate = new Promise((resolve) => {
        release = resolve;
      });
    },
    release: () => release(),
    /** Destroys every connection to the server: a network drop, for the page. */
    cut() {
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** The `Last-Event-ID` header, as the sse transport reads it: an empty one is none. */
function lastEventId(request: PushRequest): string | undefined {
  const [value] = [request.headers['last-event-id']].flat();
  return value === '' ? undefined : value;
}

function cursorOf(query: URLSearchParams): string | undefined {
  return query.get('cursor') ?? undefined;
}
