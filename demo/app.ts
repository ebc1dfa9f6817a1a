// The counter demo, the seed's own: each visit to / counts a hit, the #increment button counts one
// without a reload, and every open tab shows the new count. It is an app factory, so tests and the
// server entry build the same app.

import Router from '@koa/router';
import knexFactory, { type Knex } from 'knex';
import Koa from 'koa';
import { Model } from 'objection';
import { randomBytes } from 'node:crypto';
import { createPush, type KoaPush, type PageHelper, type RenderState } from '../adapters/koa.ts';
import { objection } from '../adapters/objection.ts';
import { migrationSource } from './migrations.ts';
import { Counter } from './models.ts';

/** Options of `createDemo()`. */
export interface DemoOptions {
  /** The sqlite file. Default: `demo.sqlite` in the working directory. */
  readonly filename?: string;
  /** The token secret. Default: `PUSH_SECRET`, else a random one per process. */
  readonly secret?: string;
}

/** The demo app and what it holds open. */
export interface Demo {
  readonly app: Koa;
  readonly push: KoaPush;
  readonly knex: Knex;
  close(): Promise<void>;
}

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
  const push = createPush({
    secret: options.secret ?? process.env['PUSH_SECRET'] ?? randomBytes(32).toString('hex'),
    router,
    orm: objection(),
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
    ctx.body = homePage(counter?.hits ?? 0, ctx.state['serverpush'] as PageHelper);
  });

  router.post('increment', '/increment', async (ctx) => {
    await Counter.query().findById(1).increment('hits', 1);
    ctx.body = { hits: (await Counter.query().findById(1))?.hits ?? 0 };
  });

  push.updates('home', () => [{ name: 'hits', model: Counter, params: { id: 1 }, serializer: 'counter' }]);

  const app = new Koa();
  app.use(push.routes()).use(push.middleware()).use(router.routes()).use(router.allowedMethods());
  return {
    app,
    push,
    knex,
    async close() {
      await push.close();
      await knex.destroy();
    },
  };
}

function counterFragment(hits: number): string {
  return `<span id="hits">${hits}</span>`;
}

function homePage(hits: number, serverpush: PageHelper): string {
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
  <p class="status">transport: <span id="transport">none</span>, state: <span id="state">connecting</span></p>
  <script>
    document.addEventListener('serverpush:hits', function (event) {
      document.getElementById('hits').outerHTML = event.detail;
    });
    document.addEventListener('serverpush:connection', function (event) {
      document.getElementById('state').textContent = event.detail.state;
      document.getElementById('transport').textContent = window.serverpush ? window.serverpush.transport : 'none';
    });
    document.getElementById('increment').addEventListener('click', function () {
      fetch('/increment', { method: 'POST' });
    });
  </script>
  ${serverpush.tag()}
</body>
</html>`;
}
