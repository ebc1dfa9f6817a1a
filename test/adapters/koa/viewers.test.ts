// Who sees what, end to end: real Koa, real koa-session cookies, two users with two pages each.

import test from 'ava';
import Router from '@koa/router';
import Koa from 'koa';
import session from 'koa-session';
import { createPush } from '../../../adapters/koa/index.ts';
import type { ChangeMessage } from '../../../core/types.ts';
import { secret } from '../../helpers/push.ts';
import { listen } from '../../helpers/server.ts';

interface Viewer {
  readonly name: string;
}

async function setup(t: Parameters<typeof listen>[0]) {
  const router = new Router();
  const push = createPush<Viewer>({
    secret,
    router,
    identify: (ctx) => (ctx.session?.['user'] as string | undefined) ?? null,
    authenticate: (identity) => ({ name: String(identity) }),
    bindCookie: 'koa.sess',
  });
  t.teardown(() => push.close());
  router.get('login', '/login/:user', (ctx) => {
    ctx.session!['user'] = ctx.params['user'];
    ctx.body = 'ok';
  });
  router.get('board', '/board', (ctx) => void (ctx.body = ctx.state.serverpush.token));
  router.get('note', '/notes/:id', (ctx) => {
    const { update } = ctx.state.serverpush;
    if (update === undefined) return ctx.throw(404);
    ctx.body = `<p>${String(update.row['text'])} for ${(update.context.viewer as Viewer).name}</p>`;
  });
  push.updates('board', () => [
    { name: 'map', model: 'notes', data: { text: 'text' } },
    { name: 'fn', model: 'notes', serializer: (ctx, row) => `${String(row['text'])} for ${ctx.viewer.name}` },
    {
      name: 'varied',
      model: 'notes',
      serializer: (ctx, row) => `${String(row['text'])} for ${ctx.viewer.name}`,
      vary: (ctx) => ctx.viewer.name,
    },
    { name: 'route', model: 'notes', serializer: 'note' },
  ]);
  const app = new Koa();
  app.keys = ['test-key-one'];
  app.use(session(app)).use(push.routes()).use(push.middleware()).use(router.routes());
  const { url } = await listen(t, app.callback());
  const login = async (user: string) => {
    const response = await fetch(`${url}/login/${user}`);
    return response.headers
      .getSetCookie()
      .map((cookie) => cookie.split(';')[0])
      .join('; ');
  };
  const pageAs = async (cookie: string) => (await fetch(`${url}/board`, { headers: { Cookie: cookie } })).text();
  const poll = async (token: string, cookie: string) =>
    fetch(`${url}/serverpush/long-poll?token=${token}`, { headers: { Cookie: cookie } });
  /** A JSONP script request as a browser sends it: the page's cookies, no Origin. */
  const script = async (token: string, cookie: string) =>
    (await fetch(`${url}/serverpush/jsonp?token=${token}&callback=cb`, { headers: { Cookie: cookie } })).text();
  return { push, login, pageAs, poll, script };
}

test('a viewer only ever receives payloads serialized for itself, in every serializer style', async (t) => {
  const { push, login, pageAs, poll } = await setup(t);
  const viewers = await Promise.all(
    ['alice', 'alice', 'bob', 'bob'].map(async (name) => {
      const cookie = await login(name);
      return { name, cookie, token: await pageAs(cookie) };
    }),
  );
  for (const viewer of viewers) t.is((await poll(viewer.token, viewer.cookie)).status, 204);
  for (let id = 1; id <= 5; id += 1)
    await push.publish({ model: 'notes', op: 'insert', id, after: { id, text: `note ${id}` }, before: null });
  for (const viewer of viewers) {
    const { messages } = (await (await poll(viewer.token, viewer.cookie)).json()) as { messages: ChangeMessage[] };
    t.is(messages.length, 20);
    for (const message of messages) {
      if (message.name === 'map') t.deepEqual(message.data, { text: `note ${String(message.id)}` });
      else if (message.name === 'route') t.is(message.data, `<p>note ${String(message.id)} for ${viewer.name}</p>`);
      else t.is(message.data, `note ${String(message.id)} for ${viewer.name}`, `${message.name} for ${viewer.name}`);
    }
  }
});

test('bindCookie refuses a token presented with another session cookie, or with none', async (t) => {
  const { login, pageAs, poll } = await setup(t);
  const alice = await login('alice');
  const bob = await login('bob');
  const token = await pageAs(alice);
  const withBob = await poll(token, bob);
  t.is(withBob.status, 401);
  t.deepEqual(await withBob.json(), {
    error: { code: 'SERVERPUSH_ERR_BAD_TOKEN', message: 'the page token belongs to another session' },
  });
  t.is((await poll(token, '')).status, 401);
  t.is((await poll(token, alice)).status, 204);
});

test('bindCookie checks a JSONP script request against the session cookie it carries, as every transport does', async (t) => {
  const { login, pageAs, script } = await setup(t);
  const alice = await login('alice');
  const bob = await login('bob');
  const token = await pageAs(alice);
  const refused =
    '/**/cb({"error":{"code":"SERVERPUSH_ERR_BAD_TOKEN","message":"the page token belongs to another session"},"status":401});';
  t.is(await script(token, bob), refused);
  t.is(await script(token, ''), refused);
  t.is(await script(token, alice), '/**/cb({"messages":[]});');
});
