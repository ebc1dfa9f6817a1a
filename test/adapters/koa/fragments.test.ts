// Fragments and route re-renders through a real Koa app: sessions, the page middleware, long-poll.

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
/** A chat line: public when `to` is null, else for `from` and `to` only. */
type Line = { readonly id: number; readonly from: string; readonly to: string | null; readonly text: string };

async function setup(t: Parameters<typeof listen>[0]) {
  const router = new Router();
  const push = createPush({
    secret,
    router,
    identify: (ctx) => (ctx.session?.['user'] as string | undefined) ?? null,
    authenticate: (identity): Viewer => ({ name: String(identity) }),
  });
  t.teardown(() => push.close());
  const line = push.fragment('line', (row: Line, viewer) =>
    row.to === null || row.to === viewer.name || row.from === viewer.name ? `<li>${row.text}</li>` : null,
  );
  router.get('login', '/login/:user', (ctx) => {
    ctx.session!['user'] = ctx.params['user'];
    ctx.body = 'ok';
  });
  router.get('room', '/room', (ctx) => void (ctx.body = ctx.state.serverpush.token));
  // A route re-render, typed through push.renderState(): the viewer and, given the model, the row.
  router.get('line-route', '/lines/:id', (ctx) => {
    const state = push.renderState(ctx, 'lines');
    if (state === undefined) return ctx.throw(404);
    ctx.body = `<li>${String(state.update.row['text'])} for ${state.update.context.viewer.name}</li>`;
  });
  router.get('wrong-model', '/wrong/:id', (ctx) => {
    ctx.body = String(push.renderState(ctx, 'users')?.update.row['text']);
  });
  push.updates('room', () => [
    { name: 'line', model: 'lines', serializer: line },
    { name: 'route', model: 'lines', serializer: 'line-route' },
    { name: 'wrong', model: 'lines', serializer: 'wrong-model' },
  ]);
  const app = new Koa();
  app.keys = ['test-key-one'];
  app.use(session(app)).use(push.routes()).use(push.middleware()).use(router.routes());
  const { url } = await listen(t, app.callback());
  const as = async (user: string) => {
    const response = await fetch(`${url}/login/${user}`);
    const cookie = response.headers
      .getSetCookie()
      .map((set) => set.split(';')[0])
      .join('; ');
    const token = await (await fetch(`${url}/room`, { headers: { Cookie: cookie } })).text();
    let cursor: string | undefined;
    return async () => {
      const query = `token=${token}${cursor === undefined ? '' : `&cursor=${cursor}`}`;
      const response = await fetch(`${url}/serverpush/long-poll?${query}`, { headers: { Cookie: cookie } });
      const messages =
        response.status === 204 ? [] : ((await response.json()) as { messages: ChangeMessage[] }).messages;
      cursor = messages.at(-1)?.cursor ?? cursor;
      return messages.map((m) => `${m.name}:${m.effect}:${String(m.data)}`);
    };
  };
  return { push, url, as };
}

test('push.fragment() over Koa: each viewer gets its own HTML, and a leave once it may no longer see the row', async (t) => {
  const { push, as } = await setup(t);
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map(as));
  for (const poll of [alice!, bob!, carol!]) t.deepEqual(await poll(), []);
  const open: Line = { id: 1, from: 'alice', to: null, text: 'hello all' };
  const hidden: Line = { ...open, to: 'bob', text: 'just bob' };
  await push.publish({ model: 'lines', op: 'insert', id: 1, after: open, before: null });
  await push.publish({ model: 'lines', op: 'update', id: 1, after: hidden, before: open });
  t.deepEqual(await alice!(), [
    'line:enter:<li>hello all</li>',
    'route:enter:<li>hello all for alice</li>',
    'line:update:<li>just bob</li>',
    'route:update:<li>just bob for alice</li>',
  ]);
  // The route re-renders for carol too: its handler, unlike the fragment, does not check who may see it.
  t.deepEqual(await carol!(), [
    'line:enter:<li>hello all</li>',
    'route:enter:<li>hello all for carol</li>',
    'line:leave:null',
    'route:update:<li>just bob for carol</li>',
  ]);
  t.deepEqual(await bob!(), [
    'line:enter:<li>hello all</li>',
    'route:enter:<li>hello all for bob</li>',
    'line:update:<li>just bob</li>',
    'route:update:<li>just bob for bob</li>',
  ]);
});

test('push.renderState() is undefined on a browser request, and a fragment has no URL to request', async (t) => {
  const { url } = await setup(t);
  t.is((await fetch(`${url}/lines/1`)).status, 404);
  t.is((await fetch(`${url}/line`)).status, 404);
});

test('push.renderState(ctx, model) throws a TypeError for an update of another model, which skips that viewer', async (t) => {
  const { push } = await setup(t);
  const ctx = { state: { serverpush: { update: { change: { model: 'lines' } } } } } as never;
  t.throws(() => push.renderState(ctx, 'users'), {
    instanceOf: TypeError,
    message: 'renderState(): the route is re-rendered for a change of model lines, not users',
  });
  t.is(push.renderState({ state: {} } as never), undefined);
});
