import test from 'ava';
import { createPush, type RouteTable } from '../../core/push.ts';
import { memoryLog } from '../../core/memory-log.ts';
import { PushError } from '../../core/errors.ts';
import type { ChangeLog } from '../../core/change-log.ts';
import type { Change, ChangeMessage, ChangeInput, Message } from '../../core/types.ts';
import { closing, page, secret } from '../helpers/push.ts';
import { until } from '../helpers/until.ts';
import { captureConsole } from '../helpers/console.ts';

const routes: RouteTable = {
  match: (path) => {
    const todo = /^\/users\/(\d+)$/.exec(path);
    if (todo) return { name: 'user', params: { id: todo[1]! } };
    return path === '/' ? { name: 'home', params: {} } : undefined;
  },
};
const hit = (hits: number): ChangeInput => ({
  model: 'counters',
  op: 'update',
  id: 1,
  after: { id: 1, hits },
  before: { id: 1, hits: hits - 1 },
});
const data = (messages: Message[]) => messages.map((m) => ('data' in m ? m.data : m.name));

function counterPush(t: Parameters<typeof closing>[0], options: Partial<Parameters<typeof createPush>[0]> = {}) {
  const push = closing(t, createPush({ secret, routes, ...options }));
  push.updates('home', () => [{ name: 'hits', model: 'counters', params: { id: 1 }, data: { hits: 'hits' } }]);
  return push;
}

test('createPush() poll() replays a change made between render and first poll', async (t) => {
  const push = counterPush(t);
  const token = await page(push);
  await push.publish(hit(4));
  const messages = await push.poll(token, undefined, { waitMs: 300 });
  t.is(messages.length, 1);
  t.like(messages[0], { name: 'hits', op: 'update', model: 'counters', id: 1, data: { hits: 4 } });
});

test('createPush() poll() holds until a change arrives, then answers at once', async (t) => {
  const push = counterPush(t);
  const token = await page(push);
  t.deepEqual(
    await push.poll(token, undefined, { waitMs: 5_000 }),
    [],
    'the poll that opens the session is answered at once',
  );
  const started = Date.now();
  const polled = push.poll(token, undefined, { waitMs: 5_000 });
  await until(() => push.stats().waiting === 1);
  await push.publish(hit(1));
  t.deepEqual(data(await polled), [{ hits: 1 }]);
  t.true(Date.now() - started < 2_000);
});

test('createPush() poll() answers [] when nothing changed within waitMs', async (t) => {
  const push = counterPush(t);
  t.deepEqual(await push.poll(await page(push), undefined, { waitMs: 30 }), []);
});

test('createPush() routes changes only to pages whose params match, before or after', async (t) => {
  const push = closing(t, createPush({ secret, routes }));
  push.updates('user', (ctx) => [
    { name: 'todo', model: 'todos', params: { ownerId: ctx.params['id']! }, data: { title: 'title' } },
  ]);
  const seven = await page(push, '/users/7');
  const eight = await page(push, '/users/8');
  await push.publish({ model: 'todos', op: 'insert', id: 1, after: { id: 1, ownerId: 7, title: 'a' }, before: null });
  await push.publish({
    model: 'todos',
    op: 'update',
    id: 1,
    after: { id: 1, ownerId: 8, title: 'a' },
    before: { id: 1, ownerId: 7, title: 'a' },
  });
  await push.publish({ model: 'todos', op: 'delete', id: 1, after: null, before: { id: 1, ownerId: 8, title: 'a' } });
  const ops = async (token: string) =>
    (await push.poll(token, undefined, { waitMs: 300 })).map((m) => ('op' in m ? m.op : m.name));
  t.deepEqual(await ops(seven), ['insert', 'update']);
  t.deepEqual(await ops(eight), ['update', 'delete']);
});

test('createPush() gives a page without params every row of the model, and global specs on every page', async (t) => {
  const push = closing(t, createPush({ secret, routes }));
  push.global(() => [{ name: 'any', model: 'todos' }]);
  const token = await page(push, '/nowhere');
  await push.publish({ model: 'todos', op: 'insert', id: 3, after: { id: 3 }, before: null });
  t.like((await push.poll(token, undefined, { waitMs: 300 }))[0], { name: 'any', id: 3, data: null });
});

test('createPush() answers a cursor older than the log with refresh', async (t) => {
  const push = counterPush(t, { log: memoryLog({ maxCount: 2 }) });
  const token = await page(push);
  await push.publish([hit(1), hit(2), hit(3)]);
  t.deepEqual(await push.poll(token, undefined, { waitMs: 300 }), [{ name: 'refresh', reason: 'history' }]);
});

test('createPush() answers a cursor of another log (a restart) with refresh', async (t) => {
  const before = counterPush(t);
  const token = await page(before);
  const after = counterPush(t);
  t.deepEqual(await after.poll(token, undefined, { waitMs: 300 }), [{ name: 'refresh', reason: 'epoch' }]);
});

test('createPush() sends each change once across polls, lost responses and another process', async (t) => {
  const log = memoryLog();
  const one = counterPush(t, { log });
  const token = await page(one);
  await one.publish([hit(1), hit(2)]);
  const first = (await one.poll(token, undefined, { waitMs: 300 })) as ChangeMessage[];
  t.deepEqual(data(first), [{ hits: 1 }, { hits: 2 }]);
  // The response was lost: the client asks again with the cursor it holds and gets the same two.
  t.deepEqual(data(await one.poll(token, undefined, { waitMs: 300 })), [{ hits: 1 }, { hits: 2 }]);
  const cursor = first[1]!.cursor;
  await one.publish(hit(3));
  t.deepEqual(data(await one.poll(token, cursor, { waitMs: 300 })), [{ hits: 3 }]);
  // The next poll lands on another process sharing the log: it replays from the client's cursor.
  const two = counterPush(t, { log });
  t.deepEqual(data(await two.poll(token, cursor, { waitMs: 300 })), [{ hits: 3 }]);
});

test('createPush() serializes once per vary key, and per viewer without vary', async (t) => {
  const push = closing(t, createPush({ secret, routes }));
  const calls = { shared: 0, own: 0 };
  push.updates('home', () => [
    { name: 'shared', model: 'counters', serializer: () => ++calls.shared, vary: () => 'everyone' },
    { name: 'own', model: 'counters', serializer: (ctx) => `${++calls.own}:${String(ctx.identity)}` },
  ]);
  const tokens = await Promise.all(['a', 'b', 'c'].map((user) => page(push, '/', user)));
  for (const token of tokens) await push.poll(token, undefined, { waitMs: 0 });
  await push.publish(hit(1));
  const received = await Promise.all(tokens.map((token) => push.poll(token, undefined, { waitMs: 300 })));
  t.is(calls.shared, 1);
  t.is(calls.own, 3);
  t.deepEqual(
    received.map((messages) => (messages[0] as ChangeMessage).data),
    [1, 1, 1],
  );
  t.deepEqual(
    received.map((messages) => String((messages[1] as ChangeMessage).data).split(':')[1]),
    ['a', 'b', 'c'],
  );
});

test('createPush() skips a viewer whose serializer throws and serves the others', async (t) => {
  const push = closing(t, createPush({ secret, routes }));
  push.updates('home', () => [
    {
      name: 'greeting',
      model: 'counters',
      serializer: (ctx) => {
        if (ctx.identity === 'mallory') throw new Error('no greeting for mallory');
        return `hi ${String(ctx.identity)}`;
      },
    },
  ]);
  const alice = await page(push, '/', 'alice');
  const mallory = await page(push, '/', 'mallory');
  await push.publish(hit(1));
  t.deepEqual(data(await push.poll(alice, undefined, { waitMs: 300 })), ['hi alice']);
  t.deepEqual(await push.poll(mallory, undefined, { waitMs: 300 }), []);
});

test('createPush() keeps messages in log order when serializers finish out of order', async (t) => {
  const push = closing(t, createPush({ secret, routes }));
  push.updates('home', () => [
    {
      name: 'slow',
      model: 'counters',
      serializer: async (_ctx, row) => {
        await new Promise((resolve) => setTimeout(resolve, row['hits'] === 1 ? 60 : 0));
        return row['hits'];
      },
    },
  ]);
  const token = await page(push);
  await push.publish([hit(1), hit(2)]);
  t.deepEqual(data(await push.poll(token, undefined, { waitMs: 1_000 })), [1, 2]);
});

test('createPush() poll() rejects forged and altered tokens and malformed cursors, and refreshes expired pages', async (t) => {
  const push = counterPush(t);
  const token = await page(push);
  const [body, mac] = token.split('.') as [string, string];
  await t.throwsAsync(push.poll('', undefined, { waitMs: 300 }), {
    code: 'SERVERPUSH_ERR_BAD_TOKEN',
    message: 'the `token` parameter is required',
  });
  await t.throwsAsync(push.poll('garbage', undefined, { waitMs: 300 }), {
    code: 'SERVERPUSH_ERR_BAD_TOKEN',
    message: 'the page token is malformed',
  });
  const altered = Buffer.from(
    JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), i: 'admin' }),
  ).toString('base64url');
  await t.throwsAsync(push.poll(`${altered}.${mac}`, undefined, { waitMs: 300 }), {
    code: 'SERVERPUSH_ERR_BAD_TOKEN',
    message: 'the page token signature does not verify',
  });
  const other = closing(t, createPush({ secret: 'another-secret-another-secret-another', routes }));
  await t.throwsAsync(push.poll(await page(other), undefined, { waitMs: 300 }), { code: 'SERVERPUSH_ERR_BAD_TOKEN' });
  await t.throwsAsync(push.poll(token, 'nonsense', { waitMs: 300 }), {
    code: 'SERVERPUSH_ERR_BAD_CURSOR',
    message: 'cursor "nonsense" is malformed',
  });
  const shortLived = counterPush(t, { tokenTtlMs: 1 });
  const expiring = await page(shortLived);
  // Tokens expire by Date.now(): once it has moved on, the 1 ms token is past its expiry.
  const rendered = Date.now();
  await until(() => Date.now() > rendered);
  t.deepEqual(
    await shortLived.poll(expiring, undefined, { waitMs: 300 }),
    [{ name: 'refresh', reason: 'expired' }],
    'an expired page reloads rather than loop on errors',
  );
});

test('createPush() rejects bad options and specs with a TypeError naming the problem', async (t) => {
  t.throws(() => createPush({ secret: 'short' }), {
    instanceOf: TypeError,
    message: 'The `secret` option must be a string or Buffer of at least 32 bytes',
  });
  t.throws(() => createPush({ secret, tokenTtlMs: -1 }), {
    instanceOf: TypeError,
    message: 'The `tokenTtlMs` option must be a positive integer, got -1',
  });
  const push = closing(t, createPush({ secret, routes }));
  push.updates('home', () => [{ name: 'refresh', model: 'counters' }]);
  const logged = captureConsole(t, 'error');
  await t.throwsAsync(push.poll(await page(push), undefined, { waitMs: 300 }), {
    instanceOf: PushError,
    message: 'the update specs of route "home" cannot be built; see the server log',
  });
  t.is(logged.length, 1, 'the cause is logged once');
  t.is(
    (logged[0]?.[1] as Error | undefined)?.message,
    'update spec "refresh" of route "home": `name` must match /^[A-Za-z_][\\w.:-]{0,63}$/ and not be refresh, connection or error',
  );
});

test('createPush() close() answers waiting polls empty, so clients resume elsewhere, and refuses new ones 503', async (t) => {
  const push = counterPush(t);
  const token = await page(push);
  await push.poll(token, undefined, { waitMs: 0 });
  const polled = push.poll(token, undefined, { waitMs: 5_000 });
  await until(() => push.stats().waiting === 1);
  await push.close();
  t.deepEqual(await polled, []);
  await t.throwsAsync(push.poll(token, undefined, { waitMs: 0 }), {
    code: 'SERVERPUSH_ERR_CLOSED',
    message: 'the push server is shutting down',
  });
});

test('createPush() forgets a page that falls maxPending changes behind while no client reads it, and serves its client from the log when it comes back', async (t) => {
  const push = counterPush(t, { maxPending: 3 });
  const token = await page(push);
  await push.poll(token, undefined, { waitMs: 0 });
  const [, second] = await push.publish([hit(1), hit(2), hit(3), hit(4)]);
  t.like(push.stats(), { pages: 0, subscriptions: 0 });
  t.deepEqual(data(await push.poll(token, second!.cursor, { waitMs: 300 })), [{ hits: 3 }, { hits: 4 }]);
  // From its token's cursor, its history alone is more than it may hold.
  t.deepEqual(await push.poll(token, undefined, { waitMs: 300 }), [{ name: 'refresh', reason: 'overflow' }]);
});

test('createPush() forgets a page idle longer than pageIdleMs, and a later poll replays from its cursor', async (t) => {
  const push = counterPush(t, { pageIdleMs: 100 });
  const token = await page(push);
  await push.poll(token, undefined, { waitMs: 0 });
  t.is(push.stats().pages, 1);
  // The sweep runs every max(1 s, pageIdleMs / 2).
  await until(() => push.stats().pages === 0);
  t.like(push.stats(), { pages: 0, subscriptions: 0 });
  await push.publish(hit(5));
  t.deepEqual(data(await push.poll(token, undefined, { waitMs: 300 })), [{ hits: 5 }]);
});

test('createPush() delivers each change once, in order, to a page whose history was read ahead of the tail', async (t) => {
  // The tail of a shared log (Redis, PostgreSQL) may route a change after another process's client
  // brought a page here whose history already holds it.
  const inner = memoryLog();
  let lagging = true;
  const held: Change[] = [];
  let routeChange: (change: Change) => void = () => {};
  const release = () => {
    lagging = false;
    for (const change of held.splice(0)) routeChange(change);
  };
  const log: ChangeLog = {
    append: (changes) => inner.append(changes),
    head: () => inner.head(),
    check: (cursor) => inner.check(cursor),
    compare: (a, b) => inner.compare(a, b),
    close: () => inner.close(),
    tail(listener, onGap) {
      routeChange = listener;
      return inner.tail((change) => (lagging ? held.push(change) : listener(change)), onGap);
    },
    async since(cursor) {
      const history = await inner.since(cursor);
      // The tail catches up after the page read its history, before its connection takes it.
      setImmediate(release);
      return history;
    },
  };
  const push = closing(t, createPush({ secret, routes, log }));
  // A serializer that takes a while keeps the history waiting when the tail catches up.
  push.updates('home', () => [
    {
      name: 'hits',
      model: 'counters',
      params: { id: 1 },
      serializer: async (_viewer: unknown, row: Record<string, unknown>) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return { hits: row['hits'] };
      },
    },
  ]);
  const token = await page(push);
  for (let hits = 1; hits <= 5; hits += 1) await push.publish(hit(hits));
  // A poll answers with what is ready; under load the slow serializer may leave some for the next.
  const seen: Message[] = [];
  for (let polls = 0; seen.length < 5 && polls < 10; polls += 1) {
    const last = seen.at(-1);
    const cursor = last !== undefined && 'cursor' in last ? last.cursor : undefined;
    seen.push(...(await push.poll(token, cursor, { waitMs: 1_000 })));
  }
  t.deepEqual(
    data(seen),
    [1, 2, 3, 4, 5].map((hits) => ({ hits })),
  );
  const next = push.poll(token, (await log.head()) as string, { waitMs: 2_000 });
  await push.publish(hit(6));
  t.deepEqual(data(await next), [{ hits: 6 }]);
});

test('createPush() refuses publish() after close(), naming the mistake, instead of losing the change', async (t) => {
  const push = createPush({ secret, routes });
  await push.close();
  const error = await t.throwsAsync(push.publish(hit(1)), { message: /publish\(\) after close\(\)/ });
  t.like(error, { code: 'SERVERPUSH_ERR_CLOSED' });
});
