// A hello page: "Hey, alice!" updates in every open tab when alice is renamed.
import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import knexFactory from 'knex';
import Koa from 'koa';
import { Model } from 'objection';
import { createPush } from 'serverpush/koa';
import { objection, pushable } from 'serverpush/objection';

class User extends pushable(Model) {
  static override tableName = 'users';
  declare id: number;
  declare username: string;
}

const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
await knex.schema.createTable('users', (table) => {
  table.increments('id');
  table.string('username');
});
Model.knex(knex);
await User.query().insert({ username: 'alice' });

const router = new Router();
const push = createPush({
  secret: process.env['PUSH_SECRET'] ?? randomBytes(32).toString('hex'),
  router,
  orm: objection(),
});

router.get('hello', '/hello/:id', async (ctx) => {
  const user = await User.query().findById(ctx.params['id']!);
  const serverpush = ctx.state.serverpush;
  ctx.type = 'html';
  // The span shows the `username` of each username_change as text: no script on the page.
  ctx.body = `<h1>Hey, <span data-serverpush-text="username_change" data-serverpush-field="username">${user?.username}</span>!</h1>
    ${serverpush.tag()}`;
});

// The page's update function: which changes concern it, and what to send for each.
push.updates('hello', (ctx) => [
  { name: 'username_change', model: User, params: { id: ctx.params['id']! }, data: { username: 'username' } },
]);

router.post('rename', '/users/:id/rename', async (ctx) => {
  await User.query().patchAndFetchById(ctx.params['id']!, { username: String(ctx.query['to']) });
  ctx.status = 204;
});

const app = new Koa();
app.use(push.routes()).use(push.middleware()).use(router.routes());
const server = app.listen(Number(process.env['PORT'] ?? 3000), '127.0.0.1', () => {
  console.log(`open http://127.0.0.1:${(server.address() as { port: number }).port}/hello/1`);
});
