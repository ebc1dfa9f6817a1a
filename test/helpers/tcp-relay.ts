// A TCP relay in front of a server, for browser tests that lose the network: `cut()` ends every
// connection through it and refuses new ones until `restore()`, as a dropped Wi-Fi or a restarting
// load balancer would, while the server behind it goes on.

import type { ExecutionContext } from 'ava';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/** A running relay. */
export interface TcpRelay {
  /** `http://127.0.0.1:<port>`, the relay's origin. */
  readonly url: string;
  /** Destroys every connection through the relay, and every new one until `restore()`. */
  cut(): void;
  /** Lets connections through again. */
  restore(): void;
}

/** Starts a relay to `target` (an `http://host:port` URL) on a loopback port, closed at teardown. */
export async function tcpRelay(t: ExecutionContext, target: string): Promise<TcpRelay> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let open = true;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = createServer((browser) => {
    track(browser);
    if (!open) return browser.destroy();
    const upstream = connect(Number(port), hostname);
    track(upstream);
    browser.pipe(upstream).pipe(browser);
    browser.once('close', () => upstream.destroy());
    upstream.once('close', () => browser.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      open = true;
    },
  };
}
