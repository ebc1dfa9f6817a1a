// The connections of a Node server followed until it shuts down, for gracefulShutdown() and the
// `serverpush` command: sockets (upgraded ones included) and responses under way, made to close
// their connections once draining.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Which requests: the app's own, the push endpoints' (under the prefix), or all. */
export type Kind = 'app' | 'push';

/**
 * Follows the server's sockets (upgraded ones included, which the server stops counting) and its
 * responses under way, each as the app's or the push endpoints' (under `pushPath`). `drain()` makes
 * every answer from then on close its connection.
 */
export function trackConnections(server: Server, pushPath: string) {
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
    /** How many sockets are open. */
    size: () => sockets.size,
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
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
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
