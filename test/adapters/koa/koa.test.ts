import test from 'ava';
import type { Socket } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { createPush, type KoaPush } from '../../../adapters/koa/index.ts';
import { longPoll } from '../../../transports/long-poll.ts';
import type { ChangeInput } from '../../../core/types.ts';
import { secret } from '../../helpers/push.ts';
import { listen } from '../../helpers/server.ts';
import { until } from '../../helpers/until.ts';

interface Setup {
  url: string;
  push: KoaPush;
  /** Loads a page and returns its token, read from the rendered script tag. */
  token(path: string, headers?: Record<string, string>): Promise<string>;
  poll(token: string, cursor?: string): Promise<Response>;
}

const todo = (id: number, ownerId: number, title: string, before: ChangeInput['before'] = null): ChangeInput => ({
  model: 'todos',
  op: before === null ? 'insert' : 'update',
  id,
  after: { id, ownerId, title },
  before,
});

async function setup(
  t: Parameters<typeof listen>[0],
  configure: (router: Router, push: KoaPush) => void = () => {},
): Promise<Setup> {
  const router = new Router();
  const push = createPush({
    secret,
    router,
    transports: [longPoll({ timeoutMs: 300 })],
    identify: (ctx) => ctx.get('x-user') || null,
  });
  t.teardown(() => push.close());
  router.get('user', '/users/:id', (ctx) => {
    ctx.body = `<h1>user ${ctx.params['id']}</h1>${ctx.state.serverpush.tag()}`;
  });
  configure(router, push);
  const app = new Koa();
  app.use(push.routes()).use(push.middleware()).use(router.routes());
  const { url } = await listen(t, app.callback());
  return {
    url,
    push,
    async token(path, headers = {}) {
      const html = await (await fetch(url + path, { headers })).text();
      const token = /data-token="([^"]+)"/.exec(html)?.[1];
      if (token === undefined) throw new Error(`no token in ${html}`);
      return token;
    },
    poll: (token, cursor) =>
      fetch(`${url}/serverpush/long-poll?${new URLSearchParams(cursor === undefined ? { token } : { token, cursor })}`),
  };
}

test('middleware() renders a script tag with the token, prefix and transports', async (t) => {
  const { url } = await setup(t);
  const html = await (await fetch(`${url}/users/7`)).text();
  t.regex(
    html,
    /<script src="\/serverpush\/client.js" data-serverpush data-token="[\w-]+\.[\w-]+" data-base="\/serverpush" data-transports="long-poll" defer><\/script>/,
  );
});

test('routes() long-poll delivers a change to the page whose route params match', async (t) => {
  const { push, token, poll } = await setup(t, (_router, push) => {
    push.updates('user', (ctx) => [
      { name: 'todo', model: 'todos', params: { ownerId: ctx.params['id']! }, data: { title: 'title' } },
    ]);
  });
  const seven = await token('/users/7');
  const eight = await token('/users/8');
  await push.publish(todo(1, 7, 'water plants'));
  const response = await poll(seven);
  t.is(response.status, 200);
  t.is(response.headers.get('content-type'), 'application/json; charset=utf-8');
  const { messages } = (await response.json()) as { messages: Array<Record<string, unknown>> };
  t.like(messages, [{ name: 'todo', op: 'insert', model: 'todos', id: 1, data: { title: 'water plants' } }]);
  t.is((await poll(eight)).status, 204);
});

test('middleware() takes the cursor at the start of the request, so a change during render is replayed', async (t) => {
  const { token, poll } = await setup(t, (router, push) => {
    push.updates('slow', () => [{ name: 'todo', model: 'todos', data: { title: 'title' } }]);
    router.get('slow', '/slow', async (ctx) => {
      await push.publish(todo(2, 1, 'made while rendering'));
      ctx.body = ctx.state.serverpush.tag();
    });
  });
  const response = await poll(await token('/slow'));
  t.like(((await response.json()) as { messages: unknown[] }).messages, [{ data: { title: 'made while rendering' } }]);
});

test('routes() long-poll resumes from the cursor it is given, with no duplicates', async (t) => {
  const { push, token, poll } = await setup(t, (_router, push) => {
    push.updates('user', () => [{ name: 'todo', model: 'todos', data: { title: 'title' } }]);
  });
  const page = await token('/users/1');
  await push.publish([todo(1, 1, 'a'), todo(2, 1, 'b')]);
  const first = (await (await poll(page)).json()) as { messages: Array<{ cursor: string; data: unknown }> };
  t.deepEqual(
    first.messages.map((m) => m.data),
    [{ title: 'a' }, { title: 'b' }],
  );
  await push.publish(todo(3, 1, 'c'));
  const next = (await (await poll(page, first.messages[1]!.cursor)).json()) as { messages: Array<{ data: unknown }> };
  t.deepEqual(
    next.messages.map((m) => m.data),
    [{ title: 'c' }],
  );
});

test('routes() answers a forged token 401 and a malformed cursor 400 with messages, and an expired token with refresh', async (t) => {
  const { url, token, poll } = await setup(t);
  const forged = await poll('eyJ2IjoxfQ.AAAA');
  t.is(forged.status, 401);
  t.deepEqual(await forged.json(), {
    error: { code: 'SERVERPUSH_ERR_BAD_TOKEN', message: 'the page token signature does not verify' },
  });
  const missing = await fetch(`${url}/serverpush/long-poll`);
  t.is(missing.status, 401);
  t.deepEqual(await missing.json(), {
    error: { code: 'SERVERPUSH_ERR_BAD_TOKEN', message: 'the `token` parameter is required' },
  });
  const badCursor = await poll(await token('/users/1'), 'x');
  t.is(badCursor.status, 400);
  t.deepEqual(await badCursor.json(), {
    error: { code: 'SERVERPUSH_ERR_BAD_CURSOR', message: 'cursor "x" is malformed' },
  });
  const post = await fetch(`${url}/serverpush/long-poll`, { method: 'POST' });
  t.is(post.status, 405);
  t.is((await fetch(`${url}/serverpush/nothing-here`)).status, 404);

  const router = new Router();
  router.get('home', '/', (ctx) => void (ctx.body = ctx.state.serverpush.token));
  const expiring = createPush({ secret, router, tokenTtlMs: 1 });
  t.teardown(() => expiring.close());
  const app = new Koa().use(expiring.routes()).use(expiring.middleware()).use(router.routes());
  const other = await listen(t, app.callback());
  const stale = await (await fetch(`${other.url}/`)).text();
  // Tokens expire by Date.now(): once it has moved on, the 1 ms token is past its expiry.
  const rendered = Date.now();
  await until(() => Date.now() > rendered);
  const expired = await fetch(`${other.url}/serverpush/long-poll?token=${stale}`);
  t.is(expired.status, 200);
  t.deepEqual(
    await expired.json(),
    { messages: [{ name: 'refresh', reason: 'expired' }] },
    'an expired page reloads rather than loop on errors',
  );
});

test('routes() a route-name serializer re-renders the fragment with the viewer context', async (t) => {
  const { push, token, poll } = await setup(t, (router, push) => {
    router.get('todo-item', '/todos/:id', (ctx) => {
      const update = ctx.state.serverpush?.update;
      ctx.body = `<li data-id="${ctx.params['id']}">${String(update?.row['title'])} (seen by ${String(update?.context.identity)})</li>`;
    });
    push.updates('user', () => [{ name: 'item', model: 'todos', serializer: 'todo-item' }]);
  });
  const alice = await token('/users/1', { 'x-user': 'alice' });
  const bob = await token('/users/1', { 'x-user': 'bob' });
  await push.publish(todo(5, 1, 'buy milk'));
  const dataOf = async (page: string) =>
    ((await (await poll(page)).json()) as { messages: Array<{ data: unknown }> }).messages[0]?.data;
  t.is(await dataOf(alice), '<li data-id="5">buy milk (seen by alice)</li>');
  t.is(await dataOf(bob), '<li data-id="5">buy milk (seen by bob)</li>');
});

test('routes() releases a held poll when the client goes away', async (t) => {
  const { push, token, url } = await setup(t, (_router, push) => {
    push.updates('user', () => [{ name: 'todo', model: 'todos' }]);
  });
  const page = await token('/users/1');
  t.is((await fetch(`${url}/serverpush/long-poll?token=${page}`)).status, 204, 'the first poll is answered at once');
  const controller = new AbortController();
  const pending = fetch(`${url}/serverpush/long-poll?token=${page}`, { signal: controller.signal }).catch(
    () => 'aborted',
  );
  await until(() => push.stats().waiting === 1);
  t.like(push.stats(), { pages: 1, waiting: 1 });
  controller.abort();
  t.is(await pending, 'aborted');
  await until(() => push.stats().waiting === 0);
  t.like(push.stats(), { pages: 1, waiting: 0 });
});

test('createPush() from the Koa adapter rejects bad options naming them', (t) => {
  t.throws(() => createPush({ secret, router: {} as Router }), {
    instanceOf: TypeError,
    message: 'The `router` option must be a @koa/router instance',
  });
  t.throws(() => createPush({ secret, router: new Router(), prefix: 'push/' }), {
    instanceOf: TypeError,
    message: 'The `prefix` option must be a path like "/serverpush", without a trailing slash',
  });
});

test('attach() survives a client that resets the connection after its upgrade was refused', async (t) => {
  const { connect } = await import('node:net');
  const router = new Router();
  const push = createPush({ secret, router });
  t.teardown(() => push.close());
  const { url, server } = await listen(t, new Koa().use(push.routes()).callback());
  push.attach(server);
  const open = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  const { port } = new URL(url);
  for (const [path, origin] of [
    ['/elsewhere', ''],
    ['/serverpush/long-poll', 'Origin: http://evil.example\r\n'],
  ] as const) {
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => {});
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${origin}\r\n`,
    );
    await new Promise((resolve) => socket.once('data', resolve));
    socket.resetAndDestroy();
  }
  // Each reset socket is closed on the server once it has handled the reset.
  await until(() => open.size === 0);
  t.is((await fetch(`${url}/serverpush/long-poll`)).status, 401, 'the server is still up');
});
