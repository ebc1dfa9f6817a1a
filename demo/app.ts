// The counter demo, the seed's own: each visit to / counts a hit, the #increment button counts one
// without a reload, and every open tab shows the new count. It is an app factory, so tests and the
// server entry build the same app, in one of two shapes: one port, or the seed's split ports (the
// app on one port, the push endpoints on another, no CORS, the app's origin proxying to the push
// port; both servers in this process, sharing the in-memory change log).

import Router from '@koa/router';
import knexFactory, { type Knex } from 'knex';
import Koa from 'koa';
import { Model } from 'objection';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPush, type KoaPush, type PageHelper, type RenderState } from '../adapters/koa.ts';
import { objection } from '../adapters/objection.ts';
import { jsonp } from '../transports/jsonp.ts';
import { longPoll } from '../transports/long-poll.ts';
import { sse } from '../transports/sse.ts';
import { websocket } from '../transports/websocket.ts';
import { migrationSource } from './migrations.ts';
import { Counter } from './models.ts';

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

/** The transports the demo offers, best first. */
export const demoTransports = ['websocket', 'sse', 'long-poll', 'jsonp'] as const;

/** Builds the counter demo: migrates the database, binds the models, wires the push routes. */
export async function createDemo(options: DemoOptions = {}): Promise<Demo> {
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: { filename: options.filename ?? 'demo.sqlite' },
    useNullAsDefault: true,
  });
  await knex.migrate.latest({ migrationSource });
  Model.knex(knex);

  const router = new Router();
  let pushOrigin = '';
  const push = createPush({
    secret: options.secret ?? process.env['PUSH_SECRET'] ?? randomBytes(32).toString('hex'),
    router,
    orm: objection(),
    transports: [websocket(), sse(), longPoll(), jsonp()],
    // Split, pages load the client from the push port and connect there (or through the proxy).
    ...(options.split === true ? { endpoint: () => `${pushOrigin}/serverpush` } : {}),
  });

  // The fragment every tab swaps in: rendered from the changed row when the push side re-renders.
  router.get('counter', '/counter', async (ctx) => {
    const update = (ctx.state['serverpush'] as Partial<RenderState> | undefined)?.update;
    const hits = update === undefined ? (await Counter.query().findById(1))?.hits : Number(update.row['hits']);
    ctx.body = counterFragment(hits ?? 0);
  });

  router.get('home', '/', async (ctx) => {
    await Counter.query().findById(1).increment('hits', 1);
    const counter = await Counter.query().findById(1);
    ctx.type = 'html';
    // `?transport=sse` forces one transport, to watch each of them work.
    const forced = demoTransports.find((name) => name === ctx.query['transport']);
    const tag = (ctx.state['serverpush'] as PageHelper).tag(forced === undefined ? {} : { transports: [forced] });
    ctx.body = homePage(counter?.hits ?? 0, tag);
  });

  router.post('increment', '/increment', async (ctx) => {
    await Counter.query().findById(1).increment('hits', 1);
    ctx.body = { hits: (await Counter.query().findById(1))?.hits ?? 0 };
  });

  push.updates('home', () => [{ name: 'hits', model: Counter, params: { id: 1 }, serializer: 'counter' }]);

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
        const pushServer = createServer(new Koa().use(push.routes()).callback());
        push.attach(pushServer);
        pushOrigin = pushUrl = await start(pushServer, pushPort, host);
        // The app's origin forwards the push prefix to the push port: the way in for transports
        // that cannot go cross-origin without CORS, which this shape leaves off.
        app.use(push.proxy({ target: pushOrigin, server: appServer }));
      } else {
        app.use(push.routes());
        push.attach(appServer);
      }
      app.use(push.middleware()).use(router.routes()).use(router.allowedMethods());
      appServer.on('request', app.callback());
      return { url: `${await start(appServer, port, host)}/`, pushUrl };
    },
    async close() {
      for (const server of servers) server.closeAllConnections();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
      await push.close();
      await knex.destroy();
    },
  };
}

function counterFragment(hits: number): string {
  return `<span id="hits">${hits}</span>`;
}

function homePage(hits: number, tag: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>serverpush counter</title>
  <style>
    body { font: 18px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; }
    #hits { font-size: 3rem; font-weight: bold; }
    .status { color: #666; font-size: 14px; }
  </style>
</head>
<body>
  <h1>Hits: ${counterFragment(hits)}</h1>
  <p><button id="increment" type="button">Increment</button></p>
  <p>Open this page in several tabs: every visit and every click shows up in all of them.</p>
  <p class="status">transport: <span id="transport">none</span> (<span id="via">direct</span>), state: <span id="state">connecting</span>
    · force one: ${demoTransports.map((name) => `<a href="?transport=${name}">${name}</a>`).join(' ')}</p>
  <script>
    document.addEventListener('serverpush:hits', function (event) {
      document.getElementById('hits').outerHTML = event.detail;
    });
    document.addEventListener('serverpush:connection', function (event) {
      document.getElementById('state').textContent = event.detail.state;
      document.getElementById('transport').textContent = window.serverpush ? window.serverpush.transport : 'none';
      document.getElementById('via').textContent = window.serverpush ? window.serverpush.via : 'direct';
    });
    document.getElementById('increment').addEventListener('click', function () {
      fetch('/increment', { method: 'POST' });
    });
  </script>
  ${tag}
</body>
</html>`;
}
