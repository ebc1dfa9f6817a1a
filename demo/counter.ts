// The counter demo's push half and routes, shared by the process that serves pages (demo/app.ts) and
// the standalone push server (demo/push-server.ts): both must know the same named routes (to match
// page paths and re-render the `counter` fragment), the same update function and transports.

import Router from '@koa/router';
import type { Knex } from 'knex';
import { Model } from 'objection';
import { createPush, type KoaPush, type KoaPushOptions, operator } from '../adapters/koa/index.ts';
import { metrics } from '../adapters/metrics/index.ts';
import { objection } from '../adapters/objection/index.ts';
import type { ChangeLog } from '../core/change-log.ts';
import { jsonp } from '../transports/jsonp.ts';
import { longPoll } from '../transports/long-poll.ts';
import { sse } from '../transports/sse.ts';
import { websocket } from '../transports/websocket.ts';
import { migrateKnexLog } from '../adapters/knex-log/migration.ts';
import { authPushOptions, registerAuth, sessionViewer } from './auth.ts';
import { liveBanners, liveStatusStyle } from './live-status.ts';
import { migrationSource } from './migrations.ts';
import { Counter } from './models.ts';
import { openSqlite } from './sqlite.ts';

/** The transports the demo offers, best first. */
export const demoTransports = ['websocket', 'sse', 'long-poll', 'jsonp'] as const;

/** Options of `createCounterPush()`. */
export interface CounterPushOptions {
  /** The token secret: the same in the app and the push server. Required. */
  readonly secret: string;
  /** The change log. Default: `memoryLog()`, which only this process sees. */
  readonly log?: ChangeLog | undefined;
  /** Where browsers reach the push endpoints, when another port serves them. Default: the page's origin. */
  readonly endpoint?: KoaPushOptions['endpoint'];
  /** Whether the app's origin forwards the push prefix to the push server (`push.proxy()`). Default: `false`. */
  readonly proxied?: boolean;
}

/** The demo's router and the push instance bound to it. */
export interface CounterPush {
  readonly router: Router;
  readonly push: KoaPush;
}

/**
 * Builds the counter demo's router (`home` at `/`, the `counter` fragment, `increment`, `/metrics`
 * and the operator's view at `/operator`) and its push instance with the home page's update
 * function, and registers the auth demo (`/login`, `/todos`) on both. Page handlers need the database (`openCounterDatabase()`), and so does re-rendering the
 * auth demo's `todo-item` on the push side (the owner's name and team).
 *
 * @example
 * const { router, push } = createCounterPush({ secret: process.env.PUSH_SECRET! });
 * app.use(push.routes()).use(push.middleware()).use(router.routes());
 */
export function createCounterPush(options: CounterPushOptions): CounterPush {
  const router = new Router();
  const push = createPush({
    // The auth demo's viewer: identity from the session, the user row on the push side, tokens bound to the session cookie.
    ...authPushOptions,
    secret: options.secret,
    router,
    orm: objection(),
    log: options.log,
    transports: [websocket(), sse(), longPoll(), jsonp()],
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    proxied: options.proxied ?? false,
  });

  // The fragment every tab swaps in: rendered from the changed row when the push side re-renders.
  router.get('counter', '/counter', async (ctx) => {
    const rendering = push.renderState(ctx, Counter);
    const hits = rendering === undefined ? (await Counter.query().findById(1))?.hits : rendering.update.row.hits;
    ctx.body = counterFragment(hits ?? 0);
  });

  router.get('home', '/', async (ctx) => {
    await Counter.query().findById(1).increment('hits', 1);
    const counter = await Counter.query().findById(1);
    ctx.type = 'html';
    // `?transport=sse` forces one transport, to watch each of them work.
    const forced = demoTransports.find((name) => name === ctx.query['transport']);
    const tag = ctx.state.serverpush.tag(forced === undefined ? {} : { transports: [forced] });
    ctx.body = homePage(counter?.hits ?? 0, tag);
  });

  router.post('increment', '/increment', async (ctx) => {
    await Counter.query().findById(1).increment('hits', 1);
    ctx.body = { hits: (await Counter.query().findById(1))?.hits ?? 0 };
  });

  push.updates('home', () => [{ name: 'hits', model: Counter, params: { id: 1 }, serializer: 'counter' }]);
  registerAuth({ router, push });

  // This process's push metrics, in the Prometheus text format.
  router.get('/metrics', metrics(push));
  // The operator's view of this process. Alice is the demo's operator: log in as her to see it.
  router.get('/operator', operator(push, { guard: async (ctx) => (await sessionViewer(ctx))?.username === 'alice' }));
  return { router, push };
}

/** Opens the demo's sqlite database, migrates it and binds the models to it. */
export async function openCounterDatabase(filename: string): Promise<Knex> {
  const knex = openSqlite(filename);
  await knex.migrate.latest({ migrationSource });
  // The change log's tables, for the split shape: both processes share the log through them.
  await migrateKnexLog(knex);
  Model.knex(knex);
  return knex;
}

function counterFragment(hits: number): string {
  return `<span id="hits">${hits}</span>`;
}

function homePage(hits: number, tag: string): string {
  // The count is live by its attribute: each change's fragment is morphed into it. The status line
  // is CSS (./live-status.ts); the script only counts a click.
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>serverpush counter</title>
  <style>
    body { font: 18px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; }
    #hits { font-size: 3rem; font-weight: bold; }
    .status { color: #666; font-size: 14px; }${liveStatusStyle}
  </style>
</head>
<body>
  <h1>Hits: <span data-serverpush-html="hits" data-serverpush-morph>${counterFragment(hits)}</span></h1>
  <p><button id="increment" type="button">Increment</button></p>
  <p>Open this page in several tabs: every visit and every click shows up in all of them.</p>
  <p><a href="/todos">The auth demo: per-viewer to-dos</a> (log in as alice, bob or carol, password demo)</p>
  ${liveBanners}
  <p class="status">Updates: <span class="live-state"></span>
    · force one transport: ${demoTransports.map((name) => `<a href="?transport=${name}">${name}</a>`).join(' ')}</p>
  <script>
    document.getElementById('increment').addEventListener('click', function () {
      fetch('/increment', { method: 'POST' });
    });
  </script>
  ${tag}
</body>
</html>`;
}
