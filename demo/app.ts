// The counter demo, the seed's own: each visit to / counts a hit, the #increment button counts one
// without a reload, and every open tab shows the new count. It is an app factory, so tests and the
// server entry build the same app, in one of two shapes: one port with the change log in memory, or
// the seed's split ports: the app on one port, a separate push server process (the `serverpush`
// command with demo/push-server.ts) on another, no CORS, the app's origin proxying to the push
// port, both processes sharing the change log in the sqlite database. The routes, update function
// and transports live in ./counter.ts, shared with the push server.

import type { Knex } from 'knex';
import Koa from 'koa';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KoaPush } from '../adapters/koa/index.ts';
import { knexLog } from '../adapters/knex-log/index.ts';
import { createCounterPush, openCounterDatabase } from './counter.ts';
import { startPushProcess, type PushProcess } from './push-process.ts';
import { sessionMiddleware } from './auth.ts';

export { demoTransports } from './counter.ts';

/** Options of `createDemo()`. */
export interface DemoOptions {
  /** The sqlite file. Default: `demo.sqlite` in the working directory. */
  readonly filename?: string;
  /** The token secret. Default: `PUSH_SECRET`, else a random one per process. */
  readonly secret?: string;
  /** Serve the push endpoints on a port of their own, as the seed did. Default: `false`. */
  readonly split?: boolean;
}

/** Where the demo listens. Port 0 picks a free one. */
export interface ListenOptions {
  readonly host?: string;
  readonly port?: number;
  /** The push port in the split shape. */
  readonly pushPort?: number;
}

/** The demo app and what it holds open. */
export interface Demo {
  readonly push: KoaPush;
  readonly knex: Knex;
  /** Starts the server(s); resolves with the page URL and, split, the push server's URL. */
  listen(options?: ListenOptions): Promise<{ url: string; pushUrl: string | undefined }>;
  close(): Promise<void>;
}

/** Builds the counter demo: migrates the database, binds the models, wires the push routes. */
export async function createDemo(options: DemoOptions = {}): Promise<Demo> {
  const filename = options.filename ?? 'demo.sqlite';
  const knex = await openCounterDatabase(filename);
  const secret = options.secret ?? process.env['PUSH_SECRET'] ?? randomBytes(32).toString('hex');
  let pushOrigin = '';
  let pushProcess: PushProcess | undefined;
  const { router, push } = createCounterPush({
    secret,
    // Split, the push server is another process: the log must be one both see, in the database.
    ...(options.split === true ? { log: await knexLog({ knex }) } : {}),
    // Split, pages load the client from the push port and connect there (or through the proxy).
    ...(options.split === true ? { endpoint: () => `${pushOrigin}/serverpush`, proxied: true } : {}),
  });

  const servers: Server[] = [];
  async function start(server: Server, port: number, host: string): Promise<string> {
    servers.push(server);
    server.listen(port, host);
    await once(server, 'listening');
    return `http://${host}:${(server.address() as AddressInfo).port}`;
  }

  return {
    push,
    knex,
    async listen({ host = '127.0.0.1', port = 0, pushPort = 0 } = {}) {
      const app = new Koa();
      const appServer = createServer();
      let pushUrl: string | undefined;
      if (options.split === true) {
        pushProcess = await startPushProcess({
          app: new URL('./push-server.ts', import.meta.url).pathname,
          host,
          port: pushPort,
          env: { PUSH_SECRET: secret, DEMO_DB: filename, DEMO_LOG: 'knex' },
          echo: true,
        });
        // However this process ends, its push server goes with it.
        const child = pushProcess;
        process.once('exit', () => child.kill('SIGTERM'));
        pushOrigin = pushUrl = pushProcess.origin;
        // The app's origin forwards the push prefix to the push port: the way in for transports
        // that cannot go cross-origin without CORS, which this shape leaves off.
        app.use(push.proxy({ target: pushOrigin, server: appServer }));
      } else {
        app.use(push.routes());
        push.attach(appServer);
      }
      // Sessions after the push routes and proxy, so polls never read the session table.
      app.use(sessionMiddleware(app)).use(push.middleware()).use(router.routes()).use(router.allowedMethods());
      appServer.on('request', app.callback());
      return { url: `${await start(appServer, port, host)}/`, pushUrl };
    },
    async close() {
      if (pushProcess !== undefined && pushProcess.exitCode === null) {
        pushProcess.kill('SIGTERM');
        await once(pushProcess, 'exit');
      }
      for (const server of servers) server.closeAllConnections();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
      await push.close();
      await knex.destroy();
    },
  };
}
