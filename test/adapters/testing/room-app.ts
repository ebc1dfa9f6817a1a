// A small chat app for the harness's own tests: rooms of messages on sqlite in memory, a viewer per
// user id, private messages only their recipient may see (`authorize`), each message rendered for
// its viewer, and a route without update functions. Objection's model binding is global: tests
// that build one of these run serially.

import Router from '@koa/router';
import knexFactory, { type Knex } from 'knex';
import Koa from 'koa';
import session from 'koa-session';
import { Model } from 'objection';
import { createPush, type KoaPush, type KoaPushOptions } from '../../../adapters/koa/index.ts';
import { objection, pushable } from '../../../adapters/objection/index.ts';
import { secret } from '../../helpers/push.ts';

/** A chat message; `toUserId` makes it private. */
export class Message extends pushable(Model) {
  static override tableName = 'messages';
  declare id: number;
  declare roomId: number;
  declare fromUserId: number;
  declare toUserId: number | null;
  declare text: string;
}

/** The viewer the push side rebuilds from the identity. */
export interface Viewer {
  readonly id: number;
  readonly name: string;
}

/** The room page's events, for typed `page.next()`. */
export interface RoomEvents {
  readonly message: string | null;
  readonly count: { readonly text: unknown };
}

/** The chat app: its push instance, Koa app and router, and the database. */
export interface RoomApp {
  readonly push: KoaPush<Viewer | null>;
  readonly app: Koa;
  readonly router: Router;
  readonly knex: Knex;
}

const names = new Map([
  [1, 'ann'],
  [2, 'ben'],
  [3, 'cy'],
]);

/** Builds the chat app; `options` go to `createPush()`. Close it with `close()`. */
export async function roomApp(options: Partial<KoaPushOptions<Viewer | null>> = {}): Promise<RoomApp> {
  const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
  await knex.schema.createTable('messages', (table) => {
    table.increments('id');
    table.integer('roomId');
    table.integer('fromUserId');
    table.integer('toUserId').nullable();
    table.string('text');
  });
  Model.knex(knex);
  const router = new Router();
  const push = createPush<Viewer | null>({
    secret,
    router,
    orm: objection(),
    identify: (ctx) => (ctx.session?.['userId'] as number | undefined) ?? null,
    authenticate: (identity) => {
      const name = names.get(Number(identity));
      return name === undefined ? null : { id: Number(identity), name };
    },
    // A private message reaches its recipient only.
    authorize: (ctx, change) => {
      const to = (change.after ?? change.before)?.['toUserId'];
      return to === null || to === undefined || to === ctx.viewer?.id;
    },
    ...options,
  });
  router.get('login', '/login/:id', (ctx) => {
    ctx.session!['userId'] = Number(ctx.params['id']);
    ctx.body = 'ok';
  });
  router.get('logout', '/logout', async (ctx) => {
    const id = ctx.session?.['userId'] as number | undefined;
    ctx.session = null;
    if (id !== undefined) await push.disconnect({ identity: id });
    ctx.body = 'bye';
  });
  router.get('room', '/rooms/:id', (ctx) => {
    ctx.type = 'html';
    ctx.body = `<h1>Room ${ctx.params['id']}</h1>${ctx.state.serverpush.tag()}`;
  });
  router.get('about', '/about', (ctx) => {
    ctx.body = `<p>About</p>${ctx.state.serverpush.tag()}`;
  });
  router.get('plain', '/plain', (ctx) => {
    ctx.body = '<p>no tag</p>';
  });
  router.get('private', '/private', (ctx) => {
    if (ctx.session?.['userId'] === undefined) return ctx.redirect('/login');
    ctx.body = ctx.state.serverpush.tag();
  });
  router.get('item', '/messages/:id/item', (ctx) => {
    const update = ctx.state.serverpush.update;
    ctx.body = update === undefined ? '' : `<li>${String(update.row['text'])} (route)</li>`;
  });
  push.updates('room', (ctx) => [
    {
      name: 'message',
      model: Message,
      params: { roomId: ctx.params['id']! },
      // Rendered for its viewer: "you" for your own messages.
      serializer: (viewerCtx, row) =>
        viewerCtx.viewer === null
          ? null
          : `<li>${row['fromUserId'] === viewerCtx.viewer.id ? 'you' : String(row['fromUserId'])}: ${String(row['text'])}</li>`,
    },
    { name: 'count', model: Message, params: { roomId: ctx.params['id']! }, data: { text: 'text' } },
  ]);
  push.updates('private', () => [{ name: 'item', model: Message, serializer: 'item' }]);
  const app = new Koa();
  app.keys = ['harness-test-key'];
  app.use(push.routes()).use(session(app)).use(push.middleware()).use(router.routes());
  return { push, app, router, knex };
}
