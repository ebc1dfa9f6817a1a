// The hello page's push behaviour, tested with serverpush/testing: no browser, no port.
import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import test from 'ava';
import knexFactory from 'knex';
import Koa from 'koa';
import { Model } from 'objection';
import { createPush } from 'serverpush/koa';
import { objection, pushable } from 'serverpush/objection';
import { createHarness } from 'serverpush/testing';

class User extends pushable(Model) {
  static override tableName = 'users';
  declare id: number;
  declare username: string;
}

test('a rename reaches the page of the renamed user, and no other', async (t) => {
  const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
  await knex.schema.createTable('users', (table) => {
    table.increments('id');
    table.string('username');
  });
  Model.knex(knex);
  await knex('users').insert([{ username: 'alice' }, { username: 'bob' }]);

  // The app, as it runs in production: its router, push instance and update function.
  const router = new Router();
  const push = createPush({ secret: randomBytes(32).toString('hex'), router, orm: objection() });
  router.get('hello', '/hello/:id', async (ctx) => {
    const user = await User.query().findById(ctx.params['id']!);
    ctx.body = `<h1>Hey, ${user?.username}!</h1>${ctx.state.serverpush.tag()}`;
  });
  push.updates('hello', (ctx) => [
    { name: 'username_change', model: User, params: { id: ctx.params['id']! }, data: { username: 'username' } },
  ]);
  const app = new Koa().use(push.routes()).use(push.middleware()).use(router.routes());

  const harness = createHarness(push, app);
  t.teardown(async () => {
    await harness.close();
    await push.close();
    await knex.destroy();
  });
  const alice = await harness.open<{ username_change: { username: string } }>('/hello/1');
  const bob = await harness.open('/hello/2');
  t.regex(alice.html, /Hey, alice!/);

  await User.query().patch({ username: 'alicia' }).where('id', 1);
  t.deepEqual((await alice.next()).data, { username: 'alicia' });
  await bob.nothing();
});
