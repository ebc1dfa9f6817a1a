// push.presence() and its options: mistakes named, presence functions that fail, a page that moves
// between channels on revalidate(), and the pages of one shared connection, each with its own
// presence messages.

import Router from '@koa/router';
import test from 'ava';
import Koa from 'koa';
import { createPush } from '../../adapters/koa/index.ts';
import { createPush as createCorePush } from '../../core/push.ts';
import { memoryLog } from '../../core/memory-log.ts';
import type { PresenceMessage } from '../../core/types.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { secret } from '../helpers/push.ts';
import { listen } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';
import { people, Tab, testServer } from './helpers.ts';

test('createPush() names a malformed presence option', (t) => {
  const make = (presence: unknown) => () => createCorePush({ secret, presence: presence as never });
  t.throws(make('fast'), {
    instanceOf: TypeError,
    message: 'The `presence` option must be an object, e.g. { heartbeatMs: 5_000, expiryMs: 15_000 }',
  });
  t.throws(make({ heartbeatMs: 0 }), {
    instanceOf: TypeError,
    message: 'The `presence.heartbeatMs` option must be a positive integer, got 0',
  });
  t.throws(make({ heartbeatMs: 5_000, expiryMs: 8_000 }), {
    instanceOf: TypeError,
    message:
      'The `presence.expiryMs` option must be at least twice `presence.heartbeatMs` (5000), got 8000: one late heartbeat must not make members leave',
  });
  t.throws(make({ maxMembers: 1.5 }), {
    instanceOf: TypeError,
    message: 'The `presence.maxMembers` option must be a positive integer, got 1.5',
  });
  t.throws(make({ leaveDelayMs: -1 }), {
    instanceOf: TypeError,
    message: 'The `presence.leaveDelayMs` option must be an integer of 0 or more, got -1',
  });
  t.notThrows(make({ heartbeatMs: 1_000, expiryMs: 2_000, maxMembers: 1, leaveDelayMs: 0 }));
});

test('push.presence() names a malformed registration', async (t) => {
  const push = createCorePush({ secret });
  t.teardown(() => push.close());
  t.throws(() => push.presence('', () => null), {
    instanceOf: TypeError,
    message: 'presence(): the route name must be a non-empty string',
  });
  t.throws(() => push.presence('list', 'list' as never), {
    instanceOf: TypeError,
    message: 'presence("list"): the presence function must be a function',
  });
  push.presence('list', () => null);
  t.throws(() => push.presence('list', () => null), {
    instanceOf: TypeError,
    message: 'presence("list"): this route has a presence function already',
  });
});

test('push.updates() refuses a spec named presence, which presence messages use', async (t) => {
  const router = new Router();
  router.get('home', '/', (ctx) => {
    ctx.body = 'home';
  });
  const errors: unknown[] = [];
  const push = createPush({ secret, router, transports: [longPoll()], onError: (error) => errors.push(error) });
  t.teardown(() => push.close());
  push.updates('home', () => [{ name: 'presence', model: 'items' }]);
  const app = new Koa();
  app.use(push.routes());
  const { url } = await listen(t, app.callback());
  const token = push.token({ path: '/', query: '', identity: null, languages: [], cursor: await push.log.head() });
  const response = await fetch(`${url}/serverpush/long-poll?token=${token}`);
  t.is(response.status, 422);
  t.is(
    (errors[0] as Error).message,
    'update spec "presence" of route "home": `name` "presence" is reserved for presence messages',
  );
});

test('push.presence(): a function that throws or returns a malformed spec goes to onError; the page still gets its changes', async (t) => {
  const router = new Router();
  router.get('list', '/lists/:id', (ctx) => {
    ctx.body = 'a list';
  });
  const errors: Array<[string, string]> = [];
  const push = createPush<string>({
    secret,
    router,
    transports: [longPoll({ timeoutMs: 2_000 })],
    onError: (error, where) => errors.push([(error as Error).message, where]),
  });
  t.teardown(() => push.close());
  push.updates('list', () => [{ name: 'item', model: 'items', data: { title: 'title' } }]);
  push.presence('list', ({ params }) => {
    if (params['id'] === '1') throw new Error('no presence here');
    if (params['id'] === '2') return { channel: '' };
    return { channel: 'list:3', data: { big: 'x'.repeat(2_000) } };
  });
  const app = new Koa();
  app.use(push.routes());
  const { url } = await listen(t, app.callback());
  const tabs = await Promise.all(
    ['1', '2', '3'].map(
      async (id) =>
        new Tab(
          url,
          push.token({ path: `/lists/${id}`, query: '', identity: id, languages: [], cursor: await push.log.head() }),
        ),
    ),
  );
  t.teardown(() => Promise.all(tabs.map((tab) => tab.close())));
  await until(() => errors.length === 3);
  t.deepEqual(errors.sort(), [
    ['no presence here', 'running the presence function of route "list"'],
    [
      'the presence function of route "list": `channel` must be a string of 1 to 200 characters without control characters',
      'running the presence function of route "list"',
    ],
    [
      'the presence function of route "list": `data` is 2010 characters as JSON; at most 1024',
      'running the presence function of route "list"',
    ],
  ]);
  await push.publish({ model: 'items', op: 'insert', id: 1, after: { id: 1, title: 'milk' } });
  const token = push.token({
    path: '/lists/1',
    query: '',
    identity: 'x',
    languages: [],
    cursor: await push.log.head(),
  });
  await push.publish({ model: 'items', op: 'insert', id: 2, after: { id: 2, title: 'eggs' } });
  const messages = await push.poll(token, undefined, { waitMs: 1_000 });
  t.deepEqual(
    messages.map((message) => ('data' in message ? message.data : message)),
    [{ title: 'eggs' }],
  );
  t.true(tabs.every((tab) => tab.messages.length === 0));
});

test('push.revalidate() moves a page to the channel its presence function names now', async (t) => {
  const log = memoryLog();
  const a = await testServer(t, log);
  const frank = new Tab(a.url, await a.token('frank'));
  const alice = new Tab(a.url, await a.token('alice'));
  const carol = new Tab(a.url, await a.token('carol'));
  t.teardown(() => Promise.all([frank, alice, carol].map((tab) => tab.close())));
  await until(() => frank.count === 2 && alice.count === 2 && carol.count === 1);
  people['frank'] = { name: 'Frank', team: 2 };
  t.teardown(() => void (people['frank'] = { name: 'Frank', team: 1 }));
  t.is(await a.push.revalidate({ identity: 'frank' }), 1);
  await until(() => alice.count === 1 && carol.count === 2 && frank.names().join() === 'Carol,Frank');
  t.is(alice.about('leave', 'Frank').length, 1);
  t.is(carol.about('join', 'Frank').length, 1);
  // Frank's page forgot team 1's list: its members left it, then it heard team 2's.
  t.deepEqual(frank.messages.map((message) => [message.channel, message.type]).slice(-2), [
    ['team:1:list:1', 'here'],
    ['team:2:list:1', 'here'],
  ]);
  t.is(frank.about('leave', 'Alice').length, 1);
});

test('push.presence(): the pages of one connection each get their own presence messages', async (t) => {
  const log = memoryLog();
  const a = await testServer(t, log);
  const tokens = { k1: await a.token('alice'), k2: await a.token('bob'), k3: await a.token('carol') };
  const received = new Map<string, PresenceMessage[]>();
  const cursors = new Map<string, string>();
  let polling = true;
  const abort = new AbortController();
  const loop = (async () => {
    for (let polls = 0; polling && polls < 1_000; polls += 1) {
      const query = Object.entries(tokens)
        .map(([key, token]) => `p=${encodeURIComponent(`${key}~${cursors.get(key) ?? ''}~${token}`)}`)
        .join('&');
      const response = await fetch(`${a.url}/serverpush/long-poll?${query}`, { signal: abort.signal }).catch(
        () => undefined,
      );
      if (response?.status !== 200) continue;
      const frame = (await response.json()) as { pages?: Record<string, Array<PresenceMessage | { cursor: string }>> };
      for (const [key, messages] of Object.entries(frame.pages ?? {})) {
        for (const message of messages) {
          if ('channel' in message) received.set(key, [...(received.get(key) ?? []), message]);
          else cursors.set(key, message.cursor);
        }
      }
    }
  })();
  t.teardown(async () => {
    polling = false;
    abort.abort();
    await loop;
  });
  const heres = () => [...received].map(([key, messages]) => [key, messages.find((m) => m.type === 'here')] as const);
  await until(() => heres().filter(([, here]) => here !== undefined).length === 3);
  const by = Object.fromEntries(heres());
  t.is(by['k1']?.channel, 'team:1:list:1');
  t.is(by['k3']?.channel, 'team:2:list:1');
  t.not(by['k1']?.self, by['k2']?.self);
  t.is(a.push.members('team:1:list:1').count, 2);
  t.false(JSON.stringify(received.get('k3')).includes('Alice'));
});

test('push.presence() applies well-formed presence entries from the log and ignores the rest', async (t) => {
  const log = memoryLog();
  const a = await testServer(t, log);
  const alice = new Tab(a.url, await a.token('alice'));
  t.teardown(() => alice.close());
  await until(() => alice.count === 1);
  const entry = (ops: unknown[], origin: unknown = 'another-process') => ({
    model: 'serverpush:control',
    op: 'update' as const,
    id: 'presence',
    after: { action: 'presence', origin, ops },
    before: null,
  });
  await log.append([
    entry([
      { op: 'join', channel: 'team:1:list:1', id: 'bad id"', data: '{"name":"Mallory"}' },
      { op: 'join', channel: 'team:1:list:1', id: 'm1', data: '{"name":' },
      { op: 'join', channel: 'team:1:list:1', id: 'm2', data: '{"name":"Zed"}' },
      { op: 'beat', count: 'many', sum: 1 },
      { op: 'explode' },
      'join',
    ]),
    entry([{ op: 'join', channel: 'team:1:list:1', id: 'm3', data: '{}' }], 42),
  ]);
  await until(() => alice.count === 2);
  t.deepEqual(alice.names(), ['Alice', 'Zed']);
  t.deepEqual(
    a.push.members('team:1:list:1').members.map((member) => member.id),
    [alice.self, 'm2'],
  );
});
