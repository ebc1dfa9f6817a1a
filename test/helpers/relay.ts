// A TCP relay for chaos tests: a loopback port that forwards every connection to a target (Redis,
// PostgreSQL), and can cut the network between them: drop every connection and refuse new ones for
// a while, or stall them (a black hole: bytes wait, nothing is answered), then let traffic through.

import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { ExecutionContext } from 'ava';

/** A relay between the code under test and a service. */
export interface Relay {
  /** The relay's own loopback port: connect here instead of to the service. */
  readonly port: number;
  /** `<scheme>//127.0.0.1:<port>`, given the service's URL with its port replaced. */
  url(serviceUrl: string): string;
  /** Connections open through the relay now. */
  readonly connections: number;
  /**
   * Cuts every connection (both ends are reset) and refuses new ones (the port is closed) for `ms`,
   * or until `restore()` when `ms` is omitted. Resolves once the cut is in place.
   */
  cut(ms?: number): Promise<void>;
  /**
   * Stalls traffic for `ms` (or until `restore()`): connections stay open and new ones are
   * accepted, but no byte passes either way until then, as when packets are dropped on the way.
   */
  stall(ms?: number): void;
  /** Ends a cut or a stall now; resolves once new connections are accepted again. */
  restore(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  readonly service: Socket;
}

/** Starts a relay to `port` on 127.0.0.1; it is closed when the test ends. */
export async function relay(t: ExecutionContext, target: { readonly port: number }): Promise<Relay> {
  const pairs = new Set<Pair>();
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  let server: Server | undefined;
  let closed = false;
  let port = 0;

  function pipe(from: Socket, to: Socket) {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!stalled) from.resume();
    });
  }

  function serverOnConnection(client: Socket) {
    const service = connect(target.port, '127.0.0.1');
    const pair: Pair = { client, service };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      service.destroy();
    };
    client.on('error', end).on('close', end);
    service.on('error', end).on('close', end);
    if (stalled) {
      client.pause();
      service.pause();
    }
    pipe(client, service);
    pipe(service, client);
  }

  async function open(): Promise<void> {
    const listening = createServer(serverOnConnection);
    listening.listen(port, '127.0.0.1');
    await once(listening, 'listening');
    port = (listening.address() as { port: number }).port;
    server = listening;
  }

  async function shut(): Promise<void> {
    const listening = server;
    server = undefined;
    for (const { client, service } of pairs) {
      reset(client);
      // Only the code under test needs to see a reset; a reset of this side can leave its handle open.
      service.destroy();
    }
    pairs.clear();
    if (listening !== undefined) await new Promise<void>((resolve) => listening.close(() => resolve()));
  }

  function later(ms: number | undefined) {
    clearTimeout(timer);
    timer = ms === undefined ? undefined : setTimeout(() => void restore(), ms);
  }

  async function restore(): Promise<void> {
    clearTimeout(timer);
    timer = undefined;
    if (closed) return;
    if (stalled) {
      stalled = false;
      for (const { client, service } of pairs) {
        client.resume();
        service.resume();
      }
    }
    if (server === undefined) await open();
  }

  await open();
  t.teardown(async () => {
    closed = true;
    clearTimeout(timer);
    await shut();
  });

  return {
    get port() {
      return port;
    },
    url(serviceUrl) {
      const url = new URL(serviceUrl);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString().replace(/\/$/, '');
    },
    get connections() {
      return pairs.size;
    },
    async cut(ms) {
      later(ms);
      await shut();
    },
    stall(ms) {
      stalled = true;
      for (const { client, service } of pairs) {
        client.pause();
        service.pause();
      }
      later(ms);
    },
    restore,
  };
}

/** Resets a connection, as a cut cable seen by a router would; one still connecting is dropped. */
function reset(socket: Socket) {
  // resetAndDestroy() on a connecting socket waits for the connection, holding its handle till then.
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}
