// The test harness (`serverpush/testing`) against a real app: Koa, koa-session, Objection on sqlite,
// the real push instance; pages rendered and followed in-process.

import { spawnSync } from 'node:child_process';
import test, { type ExecutionContext } from 'ava';
import { createHarness, HarnessError } from '../../../adapters/testing/index.ts';
import { longPoll } from '../../../transports/long-poll.ts';
import { sse } from '../../../transports/sse.ts';
import { createPush } from '../../../adapters/koa/index.ts';
import Router from '@koa/router';
import { secret } from '../../helpers/push.ts';
import { until } from '../../helpers/until.ts';
import { Message, type RoomEvents, roomApp } from './room-app.ts';

// Serial: each app binds Objection's models to its own database, and that binding is global.
const serial = test.serial;

async function setup(t: ExecutionContext, options: Parameters<typeof roomApp>[0] = {}) {
  const room = await roomApp(options);
  const harness = createHarness(room.push, room.app);
  t.teardown(async () => {
    await harness.close();
    await room.push.close();
    await room.knex.destroy();
  });
  return { ...room, harness };
}

/** Compiles only when `value` is of type `T`. */
const typed = <T>(value: T): T => value;

const say = (roomId: number, fromUserId: number, text: string, toUserId: number | null = null) =>
  Message.query().insert({ roomId, fromUserId, text, toUserId });

serial(
  'harness.open() renders the page through the app and page.next() resolves with each message, typed',
  async (t) => {
    const { harness } = await setup(t);
    const page = await harness.open<RoomEvents>('/rooms/1', { identity: 1 });
    t.is(page.status, 200);
    t.regex(page.html, /<h1>Room 1<\/h1><script src="\/serverpush\/client\.js" data-serverpush data-token="/);
    await say(1, 2, 'hello');
    const message = await page.next();
    t.like(message, { name: 'message', op: 'insert', effect: 'enter', model: 'messages', data: '<li>2: hello</li>' });
    // Typed by the event map: the name narrows the payload, and a name the page has not is refused.
    if (message.name === 'message') typed<string | null>(message.data);
    // @ts-expect-error the page's events are "message" and "count"
    t.not(message.name === 'nope', true);
    const count = await page.next();
    t.is(count.name, 'count');
    if (count.name === 'count') t.deepEqual(count.data, { text: 'hello' });
    await say(1, 1, 'mine');
    t.is((await page.next()).data, '<li>you: mine</li>', 'serialized with the page viewer: user 1 reads "you"');
    t.like(await page.next(), { name: 'count', data: { text: 'mine' } });
    t.is(page.messages.length, 4);
    await page.nothing();
  },
);

serial('page.next() gives the messages of changes made while the page rendered, as a browser gets them', async (t) => {
  const { harness, router, push } = await setup(t);
  router.get('busy', '/busy/:id', async (ctx) => {
    await say(Number(ctx.params['id']), 3, 'during the render');
    ctx.body = ctx.state.serverpush.tag();
  });
  push.updates('busy', (ctx) => [
    { name: 'message', model: Message, params: { roomId: ctx.params['id']! }, data: { text: 'text' } },
  ]);
  const page = await harness.open('/busy/4');
  t.like(await page.next(), { name: 'message', effect: 'enter', data: { text: 'during the render' } });
  await page.nothing();
});

serial(
  'page.nothing() resolves when the changes concern other pages, and rejects naming a message that arrives',
  async (t) => {
    const { harness } = await setup(t);
    const page = await harness.open('/rooms/1', { identity: 1 });
    await say(2, 2, 'another room');
    await page.nothing();
    await say(1, 2, 'this room');
    const error = await t.throwsAsync(page.nothing(), { instanceOf: HarnessError });
    t.regex(error.message, /^GET \/rooms\/1: expected no message, got \d: message \(enter messages 2\)/);
  },
);

serial('the harness runs authorize and the viewer rules: a private message reaches its recipient only', async (t) => {
  const { harness } = await setup(t);
  const ann = await harness.open<RoomEvents>('/rooms/1', { identity: 1 });
  const ben = await harness.open<RoomEvents>('/rooms/1', { identity: 2 });
  const anonymous = await harness.open<RoomEvents>('/rooms/1');
  await say(1, 1, 'for ben only', 2);
  t.like(await ben.next(), { name: 'message', data: '<li>1: for ben only</li>' });
  t.like(await ben.next(), { name: 'count' });
  await ann.nothing();
  await anonymous.nothing();
  await say(1, 2, 'for all');
  t.like(await ann.next(), { name: 'message', data: '<li>2: for all</li>' });
  t.like(await anonymous.next(), { name: 'message', data: null }, 'no viewer: the serializer renders nothing');
});

serial('harness.open() refuses a route without update functions, and a path of no named route', async (t) => {
  const { harness } = await setup(t);
  const about = await t.throwsAsync(harness.open('/about'), { instanceOf: HarnessError });
  t.is(
    about.message,
    `harness.open('/about'): the route "about" has no update functions (push.updates('about', …)), and no push.global() one exists, so the page listens to nothing`,
  );
  const nowhere = await t.throwsAsync(harness.open('/nowhere?x=1'), { instanceOf: HarnessError });
  t.is(
    nowhere.message,
    `harness.open('/nowhere?x=1'): the path matches no named GET route of the router, and no push.global() update function exists, so the page listens to nothing`,
  );
});

serial('harness.open() refuses a page the app redirects, and a page without the push tag', async (t) => {
  const { harness, push } = await setup(t);
  const redirected = await t.throwsAsync(harness.open('/private'), { instanceOf: HarnessError });
  t.is(
    redirected.message,
    "harness.open('/private'): the app answered 302 (Location: /login), not a page; to open it logged in, log in with an agent: harness.agent()",
  );
  push.updates('plain', () => []);
  const untagged = await t.throwsAsync(harness.open('/plain'), { instanceOf: HarnessError });
  t.is(
    untagged.message,
    "harness.open('/plain'): the page has no push tag (ctx.state.serverpush.tag()), so a browser would not connect it",
  );
});

serial(
  "harness.open() rejects with the push side's refusal: an update function that throws is 422 SERVERPUSH_ERR_PAGE",
  async (t) => {
    const errors: unknown[] = [];
    const { harness, router, push } = await setup(t, { onError: (error) => errors.push(error) });
    router.get('broken', '/broken', (ctx) => void (ctx.body = ctx.state.serverpush.tag()));
    push.updates('broken', () => {
      throw new Error('the update function failed');
    });
    const error = await t.throwsAsync(harness.open('/broken'), { instanceOf: HarnessError });
    t.regex(error.message, /^GET \/broken: the push side refused the page: 422 SERVERPUSH_ERR_PAGE: /);
    t.is(errors.length, 1, 'the cause went to onError');
  },
);

serial(
  'a page told to refresh fails page.next() and page.nothing() clearly; page.refresh() resolves with the reason',
  async (t) => {
    const { harness, push } = await setup(t);
    const page = await harness.open('/rooms/1', { identity: 1 });
    await say(1, 2, 'before');
    t.like(await page.next(), { name: 'message' });
    await push.disconnect({ identity: 1 });
    t.is(await page.refresh(), 'disconnect');
    t.is(page.refreshed, 'disconnect');
    t.like(await page.next(), { name: 'count' }, 'what came before the refresh is still there');
    const error = await t.throwsAsync(page.next(), { instanceOf: HarnessError });
    t.is(
      error.message,
      'GET /rooms/1 was told to refresh (disconnect): a browser would reload the page (received so far: message (enter messages 1); count (enter messages 1))',
    );
    await t.throwsAsync(page.nothing(), { message: /was told to refresh \(disconnect\)/ });
  },
);

serial('page.next() rejects naming what the page received when no message comes in time', async (t) => {
  const { harness } = await setup(t);
  const page = await harness.open('/rooms/1', { identity: 1 });
  const started = Date.now();
  const error = await t.throwsAsync(page.next(150), { instanceOf: HarnessError });
  t.is(error.message, 'GET /rooms/1: no message within 150 ms (it received no message)');
  t.true(Date.now() - started < 1_000);
});

serial('harness.agent() keeps its cookies: a logged-in page, bound to its session, and its logout', async (t) => {
  const { harness } = await setup(t, { bindCookie: 'koa.sess' });
  const ann = harness.agent();
  t.is((await ann.request('/login/1')).status, 200);
  t.true(ann.cookies.has('koa.sess'));
  const page = await ann.open<RoomEvents>('/private');
  await say(5, 3, 'anywhere');
  t.like(await page.next(), { name: 'item', data: '<li>anywhere (route)</li>' }, 'a route serializer, re-rendered');
  await ann.request('/logout');
  t.false(ann.cookies.has('koa.sess'), 'the session cookie is cleared');
  t.is(await page.refresh(), 'disconnect');
});

serial(
  'createHarness() without an app signs page tokens itself: the update functions, serializers and authorize still run',
  async (t) => {
    const room = await roomApp();
    const harness = createHarness(room.push, { router: room.router, timeoutMs: 2_000, quietMs: 50 });
    t.teardown(async () => {
      await harness.close();
      await room.push.close();
      await room.knex.destroy();
    });
    const page = await harness.open<RoomEvents>('/rooms/3', { identity: 2 });
    t.is(page.status, undefined);
    t.is(page.html, '');
    await say(3, 2, 'no app', 1);
    await page.nothing();
    await say(3, 1, 'hi ben');
    t.like(await page.next(), { name: 'message', data: '<li>1: hi ben</li>' });
    await t.throwsAsync(harness.request('/rooms/3'), {
      instanceOf: TypeError,
      message: 'harness.request(): the harness has no app; pass it: createHarness(push, app)',
    });
  },
);

serial("harness.close() ends every page's poll: the push side holds no connection after it", async (t) => {
  const { harness, push } = await setup(t);
  await harness.open('/rooms/1', { identity: 1 });
  await harness.agent().open('/rooms/2', { identity: 2 });
  await until(() => push.stats().connections === 2);
  await harness.close();
  t.is(push.stats().connections, 0);
  await t.throwsAsync(harness.open('/rooms/1'), { message: "harness.open('/rooms/1'): the harness is closed" });
});

test('createHarness() refuses what is not a push instance, a push without long-poll, and bad options', (t) => {
  t.throws(() => createHarness({} as never), {
    instanceOf: TypeError,
    message: 'createHarness(): `push` must be a push instance of serverpush/koa',
  });
  const router = new Router();
  const push = createPush({ secret, router, transports: [sse()] });
  t.teardown(() => push.close());
  t.throws(() => createHarness(push), {
    instanceOf: TypeError,
    message:
      'createHarness(): the push instance does not offer long-poll, which the harness follows pages with (offered: sse); add longPoll() to its `transports`',
  });
  const polling = createPush({ secret, router, transports: [longPoll()] });
  t.teardown(() => polling.close());
  t.throws(() => createHarness(polling, { timeoutMs: -1 }), {
    instanceOf: TypeError,
    message: 'createHarness(): the `timeoutMs` option must be a number of ms, got -1',
  });
  t.throws(() => createHarness(polling, { router: {} as never }), {
    instanceOf: TypeError,
    message: 'createHarness(): the `router` option must be a @koa/router instance',
  });
});

test('the harness runs under node:test as well: it imports no test runner', (t) => {
  const run = spawnSync(process.execPath, ['--import=tsx', '--test', 'test/adapters/testing/node-test-fixture.ts'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.is(run.status, 0, run.stdout + run.stderr);
  t.regex(run.stdout, /# pass 1/);
});
