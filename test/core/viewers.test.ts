import test from 'ava';
import { memoryLog } from '../../core/memory-log.ts';
import { createPush, type RouteTable } from '../../core/push.ts';
import type { ChangeInput, ChangeMessage, Message } from '../../core/types.ts';
import { closing, page, secret } from '../helpers/push.ts';
import { until } from '../helpers/until.ts';

interface User {
  id: number;
  role: 'member' | 'admin';
}
const routes: RouteTable = { match: () => ({ name: 'board', params: {} }) };
const todo = (id: number, ownerId: number, before?: { ownerId: number }): ChangeInput => ({
  model: 'todos',
  op: before === undefined ? 'insert' : 'update',
  id,
  after: { id, ownerId, title: `todo ${id}` },
  before: before === undefined ? null : { id, title: `todo ${id}`, ...before },
});
const received = (messages: Message[]) =>
  messages.map((m) => ('effect' in m ? `${m.name}:${m.effect}:${String(m.id)}` : m.name));
const poll = (push: { poll: ReturnType<typeof createPush>['poll'] }, token: string, cursor?: string) =>
  push.poll(token, cursor, { waitMs: 300 });

function board(t: Parameters<typeof closing>[0], options: Partial<Parameters<typeof createPush<User>>[0]> = {}) {
  const users = new Map<number, User>([
    [1, { id: 1, role: 'member' }],
    [2, { id: 2, role: 'member' }],
  ]);
  const push = closing(
    t,
    createPush<User>({ secret, routes, authenticate: (id) => users.get(Number(id))!, ...options }),
  );
  push.updates('board', (ctx) => [
    { name: 'mine', model: 'todos', params: { ownerId: ctx.viewer.id }, data: { title: 'title' } },
    ...(ctx.viewer.role === 'admin' ? [{ name: 'everything', model: 'todos', data: { ownerId: 'ownerId' } }] : []),
  ]);
  return { push, users };
}

test('createPush() labels a row that moves between pages: leave for one, enter for the other', async (t) => {
  const { push } = board(t);
  const one = await page(push, '/', 1);
  const two = await page(push, '/', 2);
  await push.publish([
    todo(7, 1),
    todo(7, 2, { ownerId: 1 }),
    { model: 'todos', op: 'delete', id: 7, after: null, before: { id: 7, ownerId: 2 } },
  ]);
  const first = await poll(push, one);
  t.deepEqual(received(first), ['mine:enter:7', 'mine:leave:7']);
  t.deepEqual(received(await poll(push, two)), ['mine:enter:7', 'mine:leave:7']);
  await push.publish(todo(8, 1, { ownerId: 1 }));
  t.deepEqual(received(await poll(push, one, (first.at(-1) as ChangeMessage).cursor)), ['mine:update:8']);
});

test('createPush() authorize() runs per change and drops it for viewers it refuses', async (t) => {
  const seen: Array<[number, unknown]> = [];
  const { push } = board(t, {
    authorize: (ctx, change) => {
      seen.push([ctx.viewer.id, change.id]);
      return change.id !== 13;
    },
  });
  const one = await page(push, '/', 1);
  await push.publish([todo(12, 1), todo(13, 1)]);
  t.deepEqual(received(await poll(push, one)), ['mine:enter:12']);
  t.deepEqual(seen, [
    [1, 12],
    [1, 13],
  ]);
});

test('createPush() authorize() that throws drops the change and serves the rest', async (t) => {
  const { push } = board(t, {
    authorize: (_ctx, change) => {
      if (change.id === 1) throw new Error('policy service down');
      return true;
    },
  });
  const one = await page(push, '/', 1);
  await push.publish([todo(1, 1), todo(2, 1)]);
  t.deepEqual(received(await poll(push, one)), ['mine:enter:2']);
});

test('createPush() revalidate() re-runs the update functions of the pages it selects', async (t) => {
  const { push, users } = board(t);
  const one = await page(push, '/', 1);
  const two = await page(push, '/', 2);
  await poll(push, one);
  await poll(push, two);
  users.set(1, { id: 1, role: 'admin' });
  t.is(await push.revalidate((ctx) => ctx.viewer.id === 1), 1);
  await push.publish(todo(5, 2));
  t.deepEqual(received(await poll(push, one)), ['everything:enter:5'], 'user 1 now sees every todo');
  t.deepEqual(received(await poll(push, two)), ['mine:enter:5'], 'user 2 is unchanged');
  users.set(1, { id: 1, role: 'member' });
  await push.revalidate((ctx) => ctx.viewer.id === 1);
  await push.publish(todo(6, 2));
  t.deepEqual(
    received(await poll(push, one, ((await poll(push, one, undefined)) as ChangeMessage[]).at(-1)?.cursor)),
    [],
    'and no longer',
  );
});

test('createPush() revalidate() tells a page whose viewer is gone to refresh', async (t) => {
  const { push, users } = board(t, {
    authenticate: (id) => {
      const user = users.get(Number(id));
      if (user === undefined) throw new Error('no such user');
      return user;
    },
  });
  const one = await page(push, '/', 1);
  await poll(push, one);
  users.delete(1);
  await push.revalidate(() => true);
  t.deepEqual(await poll(push, one), [{ name: 'refresh', reason: 'revalidate' }]);
});

test('createPush() disconnect() ends the pages it selects with refresh and leaves the others', async (t) => {
  const { push } = board(t);
  const one = await page(push, '/', 1);
  const two = await page(push, '/', 2);
  await poll(push, one);
  await poll(push, two);
  const held = push.poll(one, undefined, { waitMs: 5_000 });
  t.is(await push.disconnect((ctx) => ctx.identity === 1), 1);
  t.deepEqual(await held, [{ name: 'refresh', reason: 'disconnect' }]);
  await push.publish(todo(9, 2));
  t.deepEqual(received(await poll(push, two)), ['mine:enter:9']);
});

test('createPush() refuses a bound token presented with another binding', async (t) => {
  const push = closing(t, createPush({ secret, routes }));
  const token = push.token({
    path: '/',
    query: '',
    identity: 1,
    languages: [],
    cursor: await push.log.head(),
    binding: 'session-of-alice',
  });
  await t.throwsAsync(push.poll(token, undefined, { waitMs: 0, binding: 'session-of-bob' }), {
    code: 'SERVERPUSH_ERR_BAD_TOKEN',
    message: 'the page token belongs to another session',
  });
  await t.throwsAsync(push.poll(token, undefined, { waitMs: 0 }), {
    code: 'SERVERPUSH_ERR_BAD_TOKEN',
    message: 'the page token belongs to another session',
  });
  t.deepEqual(await push.poll(token, undefined, { waitMs: 0, binding: 'session-of-alice' }), []);
});

test("createPush() disconnect({ identity }) ends that identity's pages on every push process sharing the log", async (t) => {
  const log = memoryLog();
  const app = closing(t, createPush({ secret, routes, log }));
  const pushServer = closing(t, createPush({ secret, routes, log }));
  for (const push of [app, pushServer]) push.updates('board', () => [{ name: 'any', model: 'todos' }]);
  const alice = await page(app, '/', 1);
  const bob = await page(app, '/', 2);
  await pushServer.poll(alice, undefined, { waitMs: 0 });
  await pushServer.poll(bob, undefined, { waitMs: 0 });
  const held = pushServer.poll(alice, undefined, { waitMs: 5_000 });
  await app.disconnect({ identity: 1 });
  t.deepEqual(await held, [{ name: 'refresh', reason: 'disconnect' }]);
  await app.publish(todo(3, 2));
  t.deepEqual(
    received(await pushServer.poll(bob, undefined, { waitMs: 300 })),
    ['any:enter:3'],
    'other identities go on, and see no control entry',
  );
});

test('createPush() revalidate({ identity }) re-runs the update functions of that identity on every process', async (t) => {
  const log = memoryLog();
  const users = new Map<number, User>([[1, { id: 1, role: 'member' }]]);
  const app = closing(t, createPush<User>({ secret, routes, log, authenticate: (id) => users.get(Number(id))! }));
  const pushServer = closing(
    t,
    createPush<User>({ secret, routes, log, authenticate: (id) => users.get(Number(id))! }),
  );
  pushServer.updates('board', (ctx) => (ctx.viewer.role === 'admin' ? [{ name: 'everything', model: 'todos' }] : []));
  const alice = await page(app, '/', 1);
  await pushServer.poll(alice, undefined, { waitMs: 0 });
  users.set(1, { id: 1, role: 'admin' });
  await app.revalidate({ identity: 1 });
  // The other process re-runs the update function once the control entry reaches it through the log.
  await until(() => pushServer.stats().subscriptions === 1);
  await app.publish(todo(4, 9));
  t.deepEqual(received(await pushServer.poll(alice, undefined, { waitMs: 300 })), ['everything:enter:4']);
});

test('createPush() still refuses a bound token with another binding after it was accepted with its own', async (t) => {
  const push = closing(t, createPush({ secret, routes }));
  const token = push.token({
    path: '/',
    query: '',
    identity: 1,
    languages: [],
    cursor: await push.log.head(),
    binding: 'session-of-alice',
  });
  t.deepEqual(await push.poll(token, undefined, { waitMs: 0, binding: 'session-of-alice' }), []);
  await t.throwsAsync(push.poll(token, undefined, { waitMs: 0, binding: 'session-of-bob' }), {
    code: 'SERVERPUSH_ERR_BAD_TOKEN',
    message: 'the page token belongs to another session',
  });
  await t.throwsAsync(push.poll(token, undefined, { waitMs: 0 }), { code: 'SERVERPUSH_ERR_BAD_TOKEN' });
});

test('createPush() refreshes a page whose token expired after it was first accepted', async (t) => {
  const push = closing(t, createPush({ secret, routes, tokenTtlMs: 300 }));
  const token = await page(push);
  t.deepEqual(await push.poll(token, undefined, { waitMs: 0 }), []);
  // Tokens expire by Date.now(): 300 ms after this, the token is past its expiry.
  const accepted = Date.now();
  await until(() => Date.now() >= accepted + 300);
  t.deepEqual(await push.poll(token, undefined, { waitMs: 0 }), [{ name: 'refresh', reason: 'expired' }]);
});
