// The browser client in jsdom against the real push server: Koa on a real port, Objection models on
// a real sqlite database, and the real jquery package on the page.

import test from 'ava';
import Router from '@koa/router';
import knexFactory from 'knex';
import Koa from 'koa';
import { Model } from 'objection';
import { connect } from '../../client/index.ts';
import { createPush } from '../../adapters/koa/index.ts';
import { objection, pushable } from '../../adapters/objection/index.ts';
import { createPage, nextEvent, pageGlobals, recordEvents } from '../helpers/jsdom.ts';
import { secret } from '../helpers/push.ts';
import { listen } from '../helpers/server.ts';

class Task extends pushable(Model) {
  static override tableName = 'tasks';
  declare id: number;
  declare listId: number;
  declare title: string;
  declare done: boolean;
}

async function app(t: Parameters<typeof listen>[0]) {
  const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
  t.teardown(() => knex.destroy());
  await knex.schema.createTable('tasks', (table) => {
    table.increments('id');
    table.integer('listId');
    table.string('title');
    table.boolean('done').defaultTo(false);
  });
  const router = new Router();
  const push = createPush({ secret, router, orm: objection() });
  t.teardown(() => push.close());
  router.get('list', '/lists/:id', (ctx) => {
    ctx.body = ctx.state.serverpush.tag();
  });
  push.updates('list', (ctx) => [
    { name: 'task', model: Task, params: { listId: ctx.params['id']! }, data: { title: 'title', done: 'done' } },
  ]);
  const koa = new Koa().use(push.routes()).use(push.middleware()).use(router.routes());
  const { url } = await listen(t, koa.callback());
  return { url, knex, Tasks: Task.bindKnex(knex) };
}

async function openList(t: Parameters<typeof listen>[0], url: string, list: number) {
  const html = await (await fetch(`${url}/lists/${list}`)).text();
  const token = /data-token="([^"]+)"/.exec(html)![1]!;
  const window = createPage(t, { url: `${url}/lists/${list}`, jquery: true });
  const client = connect({ token, globals: pageGlobals(window) });
  t.teardown(() => client.close());
  const connected = new Promise<void>((resolve) =>
    client.on('connection', ({ state }) => state === 'connected' && resolve()),
  );
  return { window, client, connected };
}

test.serial(
  'connect() against the real server fires the DOM event and the jQuery event for a query-builder patch',
  async (t) => {
    const { url, Tasks } = await app(t);
    const task = await Tasks.query().insert({ listId: 1, title: 'write tests', done: false });
    const page = await openList(t, url, 1);
    const { window, client } = page;
    const jquerySeen: unknown[] = [];
    (
      window as unknown as {
        jQuery: (target: unknown) => { on(name: string, fn: (event: unknown, data: unknown) => void): void };
      }
    )
      .jQuery(window.document)
      .on('serverpush_task', (_event, data) => jquerySeen.push(data));
    const domEvent = nextEvent(window, 'serverpush:task');
    await page.connected;
    t.is(client.state, 'connected');
    await Tasks.query().patch({ done: true }).where('id', task.id);
    t.deepEqual((await domEvent).detail, { title: 'write tests', done: true });
    t.deepEqual(jquerySeen, [{ title: 'write tests', done: true }]);
  },
);

test.serial(
  'connect() against the real server: a rolled-back transaction publishes nothing, a committed one does',
  async (t) => {
    const { url, Tasks } = await app(t);
    const { window, connected } = await openList(t, url, 2);
    const seen = recordEvents(window, ['serverpush:task']);
    await connected;
    await Tasks.transaction(async (trx) => {
      await Tasks.query(trx).insert({ listId: 2, title: 'never happened' });
      throw new Error('roll back');
    }).catch(() => undefined);
    const committed = nextEvent(window, 'serverpush:task');
    await Tasks.transaction(async (trx) => {
      await Tasks.query(trx).insert({ listId: 2, title: 'committed' });
    });
    await committed;
    t.deepEqual(
      seen.map((event) => (event.detail as { title: string }).title),
      ['committed'],
    );
  },
);

test.serial('connect() against the real server: other lists hear nothing of a task that is not theirs', async (t) => {
  const { url, Tasks } = await app(t);
  const mine = await openList(t, url, 3);
  const theirs = await openList(t, url, 4);
  const seenByTheirs = recordEvents(theirs.window, ['serverpush:task']);
  await Promise.all([mine.connected, theirs.connected]);
  const arrived = nextEvent(mine.window, 'serverpush:task');
  await Tasks.query().insert({ listId: 3, title: 'mine only' });
  t.deepEqual((await arrived).detail, { title: 'mine only', done: false });
  // Changes arrive in log order: had theirs heard of mine, it would have before this one of its own.
  const theirsArrived = nextEvent(theirs.window, 'serverpush:task');
  await Tasks.query().insert({ listId: 4, title: 'theirs' });
  await theirsArrived;
  t.deepEqual(
    seenByTheirs.map((event) => event.detail),
    [{ title: 'theirs', done: false }],
  );
});
