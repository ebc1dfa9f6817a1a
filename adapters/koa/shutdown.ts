// gracefulShutdown(): how an app process that serves pages and the push endpoints stops, so that its
// clients reach the next process at once. Node's `server.close()` alone waits for every keep-alive
// connection to time out, a held poll answered after it keeps its connection open, and a client
// that sends its next poll on that connection is refused by the closed push instance: a restart of
// a few seconds became tens of seconds of silence.

import type { Server } from 'node:http';
import { positiveInteger } from '../../core/options.ts';
import { trackConnections, within } from './connections.ts';
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
  const tracked = trackConnections(server, `${push.prefix}/`);
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
