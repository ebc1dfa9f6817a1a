// gracefulShutdown(): how an app process that serves pages and the push endpoints stops, so that its
// clients reach the next process at once. Node's `server.close()` alone waits for every keep-alive
// connection to time out, a held poll answered after it keeps its connection open, and a client
// that sends its next poll on that connection is refused by the closed push instance: a restart of
// a few seconds became tens of seconds of silence.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { positiveInteger } from '../../core/options.ts';
import type { KoaPush } from './push.ts';

/** Options of `gracefulShutdown()`. */
export interface ShutdownOptions {
  /**
   * How long the shutdown may take, in ms; past it the connections left are cut. Default: `10_000`
   * (the `serverpush` command's `--shutdown-timeout-ms`).
   */
  readonly timeoutMs?: number | undefined;
}

/**
 * How a shutdown ended: everything closed within `timeoutMs` (`'closed'`), or connections were
 * still open then and were cut (`'forced'`).
 */
export type ShutdownOutcome = 'closed' | 'forced';

/** How long push requests that `push.close()` did not answer (the proxy's) may take before they are cut, in ms. */
const forwardedGraceMs = 1_000;

/**
 * Follows the connections of `server` from now on, and returns the function that shuts the server
 * and `push` down within `timeoutMs`: it stops accepting connections and closes the idle ones; has
 * every answer from then on close its connection; lets the app's requests under way finish, so their
 * writes are published; then `push.close()` ends SSE streams and WebSockets with a reconnect hint,
 * answers held polls at once and closes the change log. Call it right after `listen()`; the
 * returned function may be called more than once and resolves once everything is closed.
 *
 * @example
 * const server = app.listen(3000);
 * push.attach(server);
 * const shutdown = gracefulShutdown(server, push, { timeoutMs: 10_000 });
 * process.once('SIGTERM', async () => {
 *   const outcome = await shutdown();
 *   await knex.destroy();
 *   process.exit(outcome === 'closed' ? 0 : 1);
 * });
 */
export function gracefulShutdown<Viewer>(
  server: Server,
  push: KoaPush<Viewer>,
  options: ShutdownOptions = {},
): () => Promise<ShutdownOutcome> {
  if (typeof server?.close !== 'function' || typeof server.on !== 'function')
    throw new TypeError('gracefulShutdown(): `server` must be a Node http(s) server');
  if (typeof push?.close !== 'function' || typeof push.prefix !== 'string')
    throw new TypeError('gracefulShutdown(): `push` must be a push instance of serverpush/koa');
  const timeoutMs = positiveInteger(options.timeoutMs ?? 10_000, 'timeoutMs');
  const tracked = track(server, `${push.prefix}/`);
  let shutting: Promise<ShutdownOutcome> | undefined;

  async function shutdown(): Promise<ShutdownOutcome> {
    const end = Date.now() + timeoutMs;
    const left = () => Math.max(0, end - Date.now());
    tracked.drain();
    // No new connections; Node closes the idle keep-alive ones now. Its callback is not waited for:
    // connections it does not see (upgraded ones) are followed here.
    server.close(() => {});
    // The app's requests under way may write: their changes reach the log before the ORM adapter is
    // detached. Half the time at most, so that push.close() always gets its turn.
    await within(tracked.settled('app'), timeoutMs / 2);
    const closed = push.close().catch((error: unknown) => push.reportError(error, 'shutting down'));
    if ((await within(closed, left())) === 'timeout') return cut();
    // What is left under the prefix was not this instance's to answer: requests the proxy forwards.
    await within(tracked.settled('push'), Math.min(forwardedGraceMs, left()));
    tracked.cut('push');
    if ((await within(tracked.empty(), left())) === 'timeout') return cut();
    return 'closed';
  }

  function cut(): ShutdownOutcome {
    tracked.cut('all');
    server.closeAllConnections();
    return 'forced';
  }

  return () => (shutting ??= shutdown());
}

/** Which requests: the app's own, the push endpoints' (under the prefix), or all. */
type Kind = 'app' | 'push';

/**
 * Follows the server's sockets (upgraded ones included, which the server stops counting) and its
 * responses under way. `drain()` makes every answer from then on close its connection.
 */
function track(server: Server, pushPath: string) {
  const sockets = new Set<Socket>();
  const responses = new Map<ServerResponse, Kind>();
  const waiters = new Set<() => void>();
  let draining = false;
  const changed = () => {
    for (const waiter of [...waiters]) waiter();
  };
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      changed();
    });
  });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (draining) response.setHeader('Connection', 'close');
    responses.set(response, (request.url ?? '').startsWith(pushPath) ? 'push' : 'app');
    response.once('close', () => {
      responses.delete(response);
      changed();
    });
  });
  const until = (condition: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (!condition()) return;
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  const none = (kind: Kind) => () => ![...responses.values()].includes(kind);
  return {
    drain(): void {
      draining = true;
      for (const response of responses.keys()) {
        if (!response.headersSent) response.setHeader('Connection', 'close');
        else {
          // A stream under way (SSE) closes its connection when it ends. The socket is taken now:
          // a finished response lets go of it before this listener runs.
          const { socket } = response;
          response.once('finish', () => socket?.end());
        }
      }
    },
    /** Resolves once no response of `kind` is under way. */
    settled: (kind: Kind) => until(none(kind)),
    /** Resolves once every socket is closed. */
    empty: () => until(() => sockets.size === 0),
    /** Destroys the sockets of the responses of `kind` under way, or every socket. */
    cut(kind: Kind | 'all'): void {
      if (kind === 'all') for (const socket of sockets) socket.destroy();
      for (const [response, of] of responses) if (kind === 'all' || of === kind) response.socket?.destroy();
    },
  };
}

/** `promise`'s outcome, or `'timeout'` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, ms, 'timeout'))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
