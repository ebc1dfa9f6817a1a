// Serving the push endpoints of a loaded push instance until the stop signal, then shutting down
// within the deadline.

import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { trackConnections, within } from '../adapters/koa/connections.ts';
import { loadPush } from './load.ts';
import { CliError, type CliOptions } from './options.ts';

/**
 * The push server's limits on its connections, over Node's defaults (docs/deployment.md, "Node
 * server settings for app servers"). The timeouts bound receiving a request, not answering it:
 * held polls, SSE streams and WebSockets are not cut by them.
 */
const serverLimits = {
  /** How long a request's headers may take to arrive (Node: 60 s): slow-header clients hold no slot. */
  headersTimeoutMs: 10_000,
  /** How long a whole request may take (Node: 300 s). Push requests have no body. */
  requestTimeoutMs: 30_000,
  /**
   * How long an idle connection stays open (Node: 5 s): above the long-poll hold (25 s, JSONP at
   * most 30 s) and the 60 s idle timeout of common load balancers and proxies, so that the server
   * never closes a connection they are about to reuse.
   */
  keepAliveTimeoutMs: 65_000,
  /** How often the two timeouts above are checked (Node: 30 s, which would let them run 30 s late). */
  connectionsCheckingIntervalMs: 1_000,
} as const;

/** Loads the app module, serves its push endpoints, and shuts down on `signal`; resolves with the exit code. */
export async function run(
  options: CliOptions,
  cwd: string,
  signal: AbortSignal,
  stdout: (text: string) => void,
  stderr: (text: string) => void,
): Promise<number> {
  // The deadline runs from the stop signal, whatever is under way then: loading, serving, closing.
  let timer: NodeJS.Timeout | undefined;
  let signalOnAbort = () => {};
  const stopped = new Promise<string>((resolve) => {
    signalOnAbort = () => resolve(typeof signal.reason === 'string' ? signal.reason : 'stopped');
    if (signal.aborted) signalOnAbort();
    else signal.addEventListener('abort', signalOnAbort, { once: true });
  });
  const deadline = stopped.then(
    () => new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, options.shutdownTimeoutMs, 'timeout'))),
  );
  let waitingFor = () => 'the app module to load';
  const timedOut = () => {
    stderr(
      `serverpush: shutdown did not finish within ${options.shutdownTimeoutMs} ms (still waiting for ${waitingFor()}); exiting\n`,
    );
    return 1;
  };
  try {
    const push = await Promise.race([loadPush(options.app, cwd), deadline]);
    if (push === 'timeout') return timedOut();
    // Leaving before serving, the push instance gets the shutdown timeout to close.
    const abandon = (message: string) =>
      within(push.close(), options.shutdownTimeoutMs).then(() => Promise.reject(new CliError(message, 1)));
    if (options.prefix !== undefined && options.prefix.value !== push.prefix) {
      return await abandon(
        `${options.app}: its push instance is mounted at ${push.prefix}, but ${options.prefix.source} says ${options.prefix.value}`,
      );
    }
    const server = createServer(
      {
        headersTimeout: serverLimits.headersTimeoutMs,
        requestTimeout: serverLimits.requestTimeoutMs,
        connectionsCheckingInterval: serverLimits.connectionsCheckingIntervalMs,
      },
      new Koa().use(push.routes()).callback(),
    );
    server.keepAliveTimeout = serverLimits.keepAliveTimeoutMs;
    // Past it Node closes a new connection at once; upgraded ones (WebSockets) still count.
    server.maxConnections = options.maxConnections;
    const detach = push.attach(server);
    const connections = trackConnections(server, `${push.prefix}/`);
    if (!signal.aborted) {
      server.listen(options.port, options.host);
      const failed = await once(server, 'listening').then(
        () => undefined,
        (error: Error) => error,
      );
      if (failed !== undefined)
        return await abandon(`cannot listen on ${options.host}:${options.port}: ${failed.message}`);
      const { port } = server.address() as AddressInfo;
      const host = options.host.includes(':') ? `[${options.host}]` : options.host;
      const names = push.transports.map((transport) => transport.name).join(', ');
      stdout(`serverpush: push endpoints on http://${host}:${port}${push.prefix} (transports: ${names})\n`);
    }

    stdout(`serverpush: ${await stopped}: shutting down\n`);
    connections.drain();
    const drained = connections.empty();
    server.close();
    waitingFor = () => 'push.close()';
    // Ends SSE streams and WebSockets with a reconnect hint, answers held polls, closes the log.
    if ((await Promise.race([push.close(), deadline])) !== 'timeout') {
      detach();
      waitingFor = () => `${connections.size()} open connection(s)`;
      if ((await Promise.race([drained, deadline])) !== 'timeout') return 0;
    }
    connections.cut('all');
    return timedOut();
  } finally {
    signal.removeEventListener('abort', signalOnAbort);
    clearTimeout(timer);
  }
}
