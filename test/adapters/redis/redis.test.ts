import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { redisLog, type RedisLogOptions } from '../../../adapters/redis/index.ts';
import type { ChangeLog } from '../../../core/change-log.ts';
import { createPush, type RouteTable } from '../../../core/push.ts';
import type { Change, ChangeInput, Message } from '../../../core/types.ts';
import { closing, page, secret } from '../../helpers/push.ts';
import { redisSkip, testRedis, type TestRedis } from '../../helpers/redis.ts';
import { relay, type Relay } from '../../helpers/relay.ts';

const redisTest = redisSkip() === undefined ? test : test.skip;

const change = (id: number): ChangeInput => ({
  model: 'counters',
  op: 'update',
  id,
  after: { id, hits: id },
  before: null,
});
const hits = (messages: Message[]) => messages.map((m) => ('data' in m ? (m.data as { hits: number }).hits : m.name));
const routes: RouteTable = { match: (path) => (path === '/' ? { name: 'home', params: {} } : undefined) };

async function log(
  t: ExecutionContext,
  server: TestRedis,
  options: Omit<RedisLogOptions, 'url' | 'redis'> = {},
): Promise<ChangeLog> {
  const opened = await redisLog({ url: server.url, blockMs: 200, onWarning: () => {}, ...options });
  t.teardown(() => opened.close());
  return opened;
}

function admin(t: ExecutionContext, server: TestRedis): Redis {
  const client = new Redis(server.url, { lazyConnect: true });
  client.on('error', () => {});
  t.teardown(() => client.disconnect());
  return client;
}

function tailed(changeLog: ChangeLog): Change[] {
  const seen: Change[] = [];
  changeLog.tail((c) => seen.push(c));
  return seen;
}

/** Resolves with what `probe` returns once it is truthy; checks every 20 ms, fails after `ms`. */
async function until<T>(probe: () => T | Promise<T>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not true within ${ms} ms: ${probe.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function counterPush(t: ExecutionContext, changeLog: ChangeLog) {
  const push = closing(t, createPush({ secret, routes, log: changeLog }));
  push.updates('home', () => [{ name: 'hits', model: 'counters', data: { hits: 'hits' } }]);
  return push;
}

/** Polls until some messages come, at most `tries` polls of `waitMs`. */
async function pollSome(
  push: ReturnType<typeof counterPush>,
  token: string,
  cursor: string | undefined,
  tries = 50,
): Promise<Message[]> {
  for (let i = 0; i < tries; i += 1) {
    const messages = await push.poll(token, cursor, { waitMs: 200 });
    if (messages.length > 0) return messages;
  }
  return [];
}

redisTest('redisLog() since() returns the changes after a cursor, in order', async (t) => {
  const changes = await log(t, await testRedis(t));
  const start = await changes.head();
  t.regex(start, /^[a-z0-9]+\.0-0$/);
  const appended = await changes.append([change(1), change(2), change(3)]);
  t.deepEqual(
    appended.map((c) => c.id),
    [1, 2, 3],
  );
  t.is(await changes.head(), appended[2]!.cursor);
  const all = await changes.since(start);
  t.deepEqual(all.ok && all.changes, appended);
  const rest = await changes.since(appended[0]!.cursor);
  t.deepEqual(rest.ok && rest.changes.map((c) => c.id), [2, 3]);
  t.deepEqual(await changes.since(await changes.head()), { ok: true, changes: [] });
  t.true(changes.check(start));
  t.true(changes.compare(start, appended[0]!.cursor) < 0);
  t.true(changes.compare(appended[2]!.cursor, appended[1]!.cursor) > 0);
  t.is(changes.compare(appended[1]!.cursor, appended[1]!.cursor), 0);
  t.like(appended[0], { model: 'counters', op: 'update', after: { id: 1, hits: 1 }, before: null });
  t.true(Math.abs(appended[0]!.at - Date.now()) < 60_000);
});

redisTest('redisLog() orders stream ids numerically, not as text', async (t) => {
  const changes = await log(t, await testRedis(t));
  const [epoch] = (await changes.head()).split('.');
  t.true(changes.compare(`${epoch}.9-0`, `${epoch}.10-0`) < 0);
  t.true(changes.compare(`${epoch}.10-9`, `${epoch}.10-10`) < 0);
  t.true(changes.compare(`${epoch}.11-0`, `${epoch}.10-99`) > 0);
});

redisTest('redisLog() throws SERVERPUSH_ERR_BAD_CURSOR for malformed cursors and refreshes foreign ones', async (t) => {
  const changes = await log(t, await testRedis(t));
  await t.throwsAsync(changes.since('not a cursor'), {
    code: 'SERVERPUSH_ERR_BAD_CURSOR',
    message: 'cursor "not a cursor" is malformed',
  });
  t.throws(() => changes.check('e1.12'), { code: 'SERVERPUSH_ERR_BAD_CURSOR', message: 'cursor "e1.12" is malformed' });
  t.throws(() => changes.check('e1.99999999999999999-0'), { code: 'SERVERPUSH_ERR_BAD_CURSOR' });
  t.throws(() => changes.compare('e1.1-0', 'E1.1-0'), { code: 'SERVERPUSH_ERR_BAD_CURSOR' });
  t.false(changes.check('other.1-0'));
  t.deepEqual(await changes.since('other.1-0'), { ok: false, reason: 'epoch' });
  // A cursor ahead of what this process read is accepted (another process may have issued it), but
  // one ahead of the stream itself is no position of this log: the page refreshes.
  const [epoch] = (await changes.head()).split('.');
  t.true(changes.check(`${epoch}.99999999999999-0`));
  t.deepEqual(await changes.since(`${epoch}.99999999999999-0`), { ok: false, reason: 'epoch' });
});

redisTest('redisLog() answers a cursor older than the trimmed stream with a history refresh', async (t) => {
  const server = await testRedis(t);
  const changes = await log(t, server, { maxLength: 10 });
  const start = await changes.head();
  const appended: Change[] = [];
  for (let i = 0; i < 30; i += 1)
    appended.push(...(await changes.append(Array.from({ length: 10 }, (_, j) => change(i * 10 + j)))));
  const [[firstId]] = (await admin(t, server).xrange('serverpush:changes', '-', '+', 'COUNT', 1)) as [
    [string, string[]],
  ];
  const first = appended.findIndex((c) => c.cursor.endsWith(`.${firstId}`));
  t.true(first > 1, 'approximate trimming dropped something');
  t.deepEqual(await changes.since(start), { ok: false, reason: 'history' });
  t.deepEqual(await changes.since(appended[first - 2]!.cursor), { ok: false, reason: 'history' });
  const kept = await changes.since(appended[first - 1]!.cursor);
  t.deepEqual(kept.ok && kept.changes, appended.slice(first));
});

test('redisLog() rejects bad options with a TypeError naming the option', (t) => {
  const type = { instanceOf: TypeError };
  t.throws(() => redisLog({}), { ...type, message: 'The `redis` option or the `url` option is required' });
  t.throws(() => redisLog({ url: 'redis://127.0.0.1:1', redis: {} as Redis }), {
    ...type,
    message: 'Give the `redis` option or the `url` option, not both',
  });
  t.throws(() => redisLog({ redis: {} as Redis }), {
    ...type,
    message: 'The `redis` option must be an ioredis client',
  });
  t.throws(() => redisLog({ url: 'http://127.0.0.1' }), {
    ...type,
    message: 'The `url` option must be a redis:// or rediss:// URL',
  });
  t.throws(() => redisLog({ url: 'redis://127.0.0.1:1', key: '' }), {
    ...type,
    message: 'The `key` option must be a non-empty string',
  });
  t.throws(() => redisLog({ url: 'redis://127.0.0.1:1', maxLength: 0 }), {
    ...type,
    message: 'The `maxLength` option must be a positive integer, got 0',
  });
  t.throws(() => redisLog({ url: 'redis://127.0.0.1:1', blockMs: 1.5 }), {
    ...type,
    message: 'The `blockMs` option must be a positive integer, got 1.5',
  });
});

redisTest('redisLog() tail() hands every change to every instance once, in stream order', async (t) => {
  const server = await testRedis(t);
  const [a, b] = [await log(t, server), await log(t, server)];
  const [seenByA, seenByB] = [tailed(a), tailed(b)];
  const writes = await Promise.all(
    Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).append([change(i * 2), change(i * 2 + 1)])),
  );
  await until(() => seenByA.length >= 40 && seenByB.length >= 40);
  const inStream = ((await admin(t, server).xrange('serverpush:changes', '-', '+')) as [string, string[]][]).map(
    ([id]) => id,
  );
  t.deepEqual(
    seenByA.map((c) => c.cursor.split('.')[1]),
    inStream,
  );
  t.deepEqual(seenByB, seenByA);
  t.is(new Set(seenByA.map((c) => c.cursor)).size, 40);
  t.deepEqual(
    writes
      .flat()
      .map((c) => c.cursor)
      .sort(),
    seenByA.map((c) => c.cursor).sort(),
  );
});

redisTest(
  'redisLog() with createPush() delivers a change published by one process to a page polling another',
  async (t) => {
    const server = await testRedis(t);
    const [app, pusher] = [counterPush(t, await log(t, server)), counterPush(t, await log(t, server))];
    const token = await page(app);
    await app.publish(change(1));
    const replayed = await pusher.poll(token, undefined, { waitMs: 1_000 });
    t.deepEqual(hits(replayed), [1], 'replayed from the cursor in the token');
    const held = pusher.poll(token, (replayed[0] as { cursor: string }).cursor, { waitMs: 5_000 });
    await until(() => pusher.stats().waiting === 1);
    await app.publish(change(2));
    const messages = await held;
    t.deepEqual(hits(messages), [2]);
    const cursor = (messages[0] as { cursor: string }).cursor;
    await app.publish([change(3), change(4)]);
    t.deepEqual(hits(await pollSome(pusher, token, cursor)), [3, 4]);
  },
);

redisTest(
  'redisLog() makes pages refresh (epoch) when Redis restarts without its data, and works on after',
  async (t) => {
    const server = await testRedis(t);
    const [app, pusher] = [counterPush(t, await log(t, server)), counterPush(t, await log(t, server))];
    const token = await page(app);
    await app.publish(change(1));
    const before = await pollSome(pusher, token, undefined);
    t.deepEqual(hits(before), [1]);
    await server.stop();
    await server.start();
    const cursor = (before[0] as { cursor: string }).cursor;
    t.deepEqual(await pollSome(pusher, token, cursor), [{ name: 'refresh', reason: 'epoch' }]);
    t.deepEqual(await until(() => app.log.since(cursor)), { ok: false, reason: 'epoch' });

    const fresh = await page(app);
    t.not(fresh, token);
    await app.publish(change(2));
    t.deepEqual(hits(await pollSome(pusher, fresh, undefined)), [2]);
  },
);

redisTest('redisLog() resumes pages with nothing lost when Redis restarts with its data', async (t) => {
  const server = await testRedis(t, { persist: true });
  const [app, pusher] = [counterPush(t, await log(t, server)), counterPush(t, await log(t, server))];
  const seen = tailed(pusher.log);
  const token = await page(app);
  await app.publish([change(1), change(2)]);
  const before = await pollSome(pusher, token, undefined);
  t.deepEqual(hits(before), [1, 2]);
  await server.stop();
  await server.start();
  await app.publish([change(3), change(4)]);
  const received: Message[] = [];
  let cursor = (before[1] as { cursor: string }).cursor;
  for (let i = 0; i < 50 && received.length < 2; i += 1) {
    const messages = await pusher.poll(token, cursor, { waitMs: 200 });
    received.push(...messages);
    if (messages.length > 0) cursor = (messages.at(-1) as { cursor: string }).cursor;
  }
  t.deepEqual(hits(received), [3, 4]);
  t.deepEqual(
    seen.map((c) => c.id),
    [1, 2, 3, 4],
  );
});

redisTest('redisLog() starts a new epoch when Redis comes back with an older copy of the stream', async (t) => {
  const server = await testRedis(t);
  const [a, b] = [await log(t, server), await log(t, server)];
  const seen = tailed(b);
  const start = await a.head();
  await a.append([change(1)]);
  await admin(t, server).save();
  await a.append([change(2)]);
  await until(() => seen.length === 2);
  await server.stop();
  await server.start();
  // The copy holds change 1 under the same epoch; change 2 is gone. A page at `start` must not
  // quietly receive only what the copy holds.
  t.deepEqual(await until(async () => !b.check(start) && b.since(start)), { ok: false, reason: 'epoch' });
  t.deepEqual(await until(async () => !a.check(start) && a.since(start)), { ok: false, reason: 'epoch' });
  const next = await a.head();
  t.true(b.check(next));
  await a.append([change(3)]);
  await until(() => seen.length === 3);
  t.deepEqual(
    seen.map((c) => c.id),
    [1, 2, 3],
  );
});

redisTest('redisLog() tail() survives killed connections with nothing lost or doubled', async (t) => {
  const server = await testRedis(t);
  const [a, b] = [await log(t, server), await log(t, server)];
  const seen = tailed(b);
  for (let i = 0; i < 5; i += 1) await a.append([change(i)]);
  await until(() => seen.length === 5);
  await admin(t, server).client('KILL', 'TYPE', 'normal');
  for (let i = 5; i < 10; i += 1) await a.append([change(i)]);
  await until(() => seen.length >= 10);
  // Read in order: once the reader has the last one, a change read twice would have shown up before it.
  await a.append([change(10)]);
  await until(() => seen.at(-1)?.id === 10);
  t.deepEqual(
    seen.map((c) => c.id),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  t.true(b.check(seen[0]!.cursor), 'the epoch holds: nothing was lost');
});

redisTest('redisLog() refuses the cursors its reader skipped past when the stream was trimmed first', async (t) => {
  const server = await testRedis(t);
  const [a, b] = [await log(t, server, { maxLength: 10 }), await log(t, server)];
  const seen = tailed(b);
  const start = await b.head();
  const appended = await a.append(Array.from({ length: 300 }, (_, i) => change(i)));
  await until(() => seen.at(-1)?.cursor === appended.at(-1)!.cursor);
  t.true(seen.length < 300);
  t.deepEqual(seen, appended.slice(-seen.length), 'what was read arrives in order');
  t.false(b.check(start), 'a page at the old cursor refreshes');
  t.true(b.check(await b.head()));
});

redisTest('redisLog() starts a new epoch when the stream is deleted under it', async (t) => {
  const server = await testRedis(t);
  const [a, b] = [await log(t, server), await log(t, server)];
  const seen = tailed(b);
  const [old] = await a.append([change(1)]);
  await until(() => seen.length === 1);
  await admin(t, server).del('serverpush:changes');
  const [fresh] = await a.append([change(2)]);
  t.not(fresh!.cursor.split('.')[0], old!.cursor.split('.')[0]);
  t.false(a.check(old!.cursor));
  t.deepEqual(await b.since(old!.cursor), { ok: false, reason: 'epoch' });
  await until(() => seen.length === 2);
  t.deepEqual(
    seen.map((c) => c.id),
    [1, 2],
  );
  t.true(b.check(fresh!.cursor));
});

redisTest('redisLog() close() stops the reader and leaves a passed client open', async (t) => {
  const server = await testRedis(t);
  const client = admin(t, server);
  const changes = await redisLog({ redis: client, blockMs: 200 });
  const seen = tailed(changes);
  await changes.close();
  await changes.append([change(1)]).catch(() => {});
  t.is(await client.ping(), 'PONG');
  // Another reader of the stream hears of a change; the closed one, were it still reading, would too.
  const other = await log(t, server);
  const heard = tailed(other);
  await other.append([change(2)]);
  await until(() => heard.length > 0);
  t.deepEqual(seen, []);
});

/** Warnings a log gave, collected instead of printed. */
function warnings(): { readonly list: string[]; readonly onWarning: (message: string) => void } {
  const list: string[] = [];
  return { list, onWarning: (message) => list.push(message) };
}

/** A log whose connections pass through `through`, with a client that gives up a command after one retry. */
async function relayed(
  t: ExecutionContext,
  through: Relay,
  options: Omit<RedisLogOptions, 'url' | 'redis'> = {},
): Promise<ChangeLog> {
  const client = new Redis(through.url('redis://127.0.0.1'), { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  t.teardown(() => client.disconnect());
  const opened = await redisLog({ redis: client, blockMs: 200, ...options });
  t.teardown(() => opened.close());
  return opened;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

redisTest(
  'redisLog() append() retries a change that failed while Redis was cut off, in order, before later ones',
  async (t) => {
    const server = await testRedis(t);
    const through = await relay(t, server);
    const { list, onWarning } = warnings();
    const cutOff = await relayed(t, through, { onWarning });
    const other = await log(t, server);
    const [seenHere, seenThere] = [tailed(cutOff), tailed(other)];
    await cutOff.append([change(1)]);
    await until(() => seenHere.length === 1 && seenThere.length === 1);
    await through.cut();
    // Both fail at first (the client gives up after one retry) and wait in the buffer, in order.
    const during = [cutOff.append([change(2)]), cutOff.append([change(3), change(4)])];
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const after = cutOff.append([change(5)]);
    await through.restore();
    const appended = [...(await Promise.all(during)).flat(), ...(await after)];
    t.deepEqual(
      appended.map((c) => c.id),
      [2, 3, 4, 5],
    );
    await until(() => seenHere.length === 5 && seenThere.length === 5);
    t.deepEqual(
      seenThere.map((c) => c.id),
      [1, 2, 3, 4, 5],
    );
    t.deepEqual(seenHere, seenThere);
    t.deepEqual(
      seenThere.slice(1).map((c) => c.cursor),
      appended.map((c) => c.cursor),
    );
    t.true(other.check(seenThere[0]!.cursor), 'no new epoch: nothing was lost');
    await until(() => list.length === 2);
    t.regex(
      list[0]!,
      /^serverpush: Redis at 127\.0\.0\.1:\d+ failed \((read ECONNRESET|connect ECONNREFUSED 127\.0\.0\.1:\d+)\); retrying; appends wait up to 30000 ms$/,
    );
    t.regex(list[1]!, /^serverpush: Redis at 127\.0\.0\.1:\d+ is back after \d+\.\d s \(\d+ failed attempts?\)$/);
  },
);

redisTest(
  'redisLog() append() gives up a change it cannot append within maxBufferedMs, and every process refreshes its pages (epoch)',
  async (t) => {
    const server = await testRedis(t);
    const through = await relay(t, server);
    const { list, onWarning } = warnings();
    const [app, pusher] = [
      counterPush(t, await relayed(t, through, { maxBufferedMs: 500, onWarning })),
      counterPush(t, await log(t, server)),
    ];
    const token = await page(app);
    await app.publish(change(1));
    const first = await pollSome(pusher, token, undefined);
    t.deepEqual(hits(first), [1]);
    await through.cut();
    const started = Date.now();
    const error = await t.throwsAsync(app.publish(change(2)), {
      message: `redisLog(): 1 change could not be appended to Redis at 127.0.0.1:${through.port} within 500 ms; every page will refresh (epoch)`,
    });
    t.true(Date.now() - started < 2_000);
    t.truthy(error?.cause, 'the error keeps its cause');
    t.true(
      list.includes(
        `serverpush: 1 change could not be appended to Redis at 127.0.0.1:${through.port} within 500 ms; every page will refresh (epoch)`,
      ),
    );
    await through.restore();
    // Once Redis is reachable, the log starts a new epoch: pages of every process refresh. (A try
    // that was still on its way may have appended the change first: then the page gets it before.)
    let cursor = (first[0] as { cursor: string }).cursor;
    const received: Message[] = [];
    for (let tries = 0; tries < 50 && received.at(-1)?.name !== 'refresh'; tries += 1) {
      const messages = await pusher.poll(token, cursor, { waitMs: 200 });
      received.push(...messages);
      const last = messages.at(-1);
      if (last !== undefined && 'cursor' in last) cursor = last.cursor;
    }
    t.deepEqual(received.at(-1), { name: 'refresh', reason: 'epoch' });
    t.deepEqual(hits(received.slice(0, -1)), received.length > 1 ? [2] : []);
    t.deepEqual(await app.poll(token, (first[0] as { cursor: string }).cursor, { waitMs: 1_000 }), [
      { name: 'refresh', reason: 'epoch' },
    ]);
    // And works on.
    const fresh = await page(pusher);
    await app.publish(change(3));
    t.deepEqual(hits(await pollSome(pusher, fresh, undefined)), [3]);
  },
);

redisTest('redisLog() append() gives up the oldest changes past maxBuffered while Redis fails', async (t) => {
  const server = await testRedis(t);
  const through = await relay(t, server);
  const { list, onWarning } = warnings();
  const cutOff = await relayed(t, through, { maxBuffered: 3, onWarning });
  const seen = tailed(await log(t, server));
  const [before] = await cutOff.append([change(1)]);
  await through.cut();
  const first = cutOff.append([change(2)]);
  const second = cutOff.append([change(3)]);
  // Within the bound: both wait. Once Redis is known to fail, one more change is past it.
  await until(() => list.length === 1);
  const rest = cutOff.append([change(4), change(5)]);
  await t.throwsAsync(first, {
    message: `redisLog(): 1 change could not be appended to Redis at 127.0.0.1:${through.port} in time: more than 3 changes or 1048576 bytes waited; every page will refresh (epoch)`,
  });
  await through.restore();
  const appended = [...(await second), ...(await rest)];
  t.deepEqual(
    appended.map((c) => c.id),
    [3, 4, 5],
  );
  t.not(appended[0]!.cursor.split('.')[0], before!.cursor.split('.')[0], 'a new epoch');
  await until(() => seen.at(-1)?.id === 5);
  // Change 2 may have been appended by a try on its way when it was given up; never out of order.
  t.deepEqual(
    seen.map((c) => c.id).filter((id) => id !== 2),
    [1, 3, 4, 5],
  );
});

redisTest(
  'redisLog() fails within startTimeoutMs naming Redis and the cause when Redis cannot be reached',
  async (t) => {
    const port = await closedPort();
    const { list, onWarning } = warnings();
    const started = Date.now();
    const error = await t.throwsAsync(redisLog({ url: `redis://127.0.0.1:${port}`, startTimeoutMs: 500, onWarning }), {
      message: `redisLog(): cannot reach Redis at 127.0.0.1:${port} within 500 ms (connect ECONNREFUSED 127.0.0.1:${port})`,
    });
    t.true(Date.now() - started < 2_000);
    t.like(error?.cause, { code: 'ECONNREFUSED', port });
    t.deepEqual(list, [], 'the error is the report');
    // A client of yours that gives up sooner fails as soon, with the same message.
    const client = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    t.teardown(() => client.disconnect());
    await t.throwsAsync(redisLog({ redis: client, onWarning }), {
      message: `redisLog(): cannot reach Redis at 127.0.0.1:${port} (connect ECONNREFUSED 127.0.0.1:${port})`,
    });
  },
);

redisTest('redisLog() warns once when Redis fails and once when it is back, not at every attempt', async (t) => {
  const server = await testRedis(t);
  const { list, onWarning } = warnings();
  const changes = await log(t, server, { onWarning });
  await changes.append([change(1)]);
  await server.stop();
  const during = changes.append([change(2)]);
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  t.is(list.length, 1);
  t.regex(
    list[0]!,
    /^serverpush: Redis at 127\.0\.0\.1:\d+ failed \(connect ECONNREFUSED 127\.0\.0\.1:\d+\); retrying; appends wait up to 30000 ms$/,
  );
  await server.start();
  t.like(await during, [{ id: 2 }]);
  await until(() => list.length === 2);
  t.regex(list[1]!, /^serverpush: Redis at 127\.0\.0\.1:\d+ is back after \d+\.\d s \(\d+ failed attempts?\)$/);
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(list.length, 2);
});

redisTest(
  'redisLog() script: an append tried again finds the entries of its first try instead of writing them twice',
  async (t) => {
    const server = await testRedis(t);
    const changes = await log(t, server);
    const [epoch, start] = (await changes.head()).split('.') as [string, string];
    const client = admin(t, server);
    const script = readFileSync(new URL('../../../adapters/redis/script.lua', import.meta.url), 'utf8');
    const append = (batch: string, mode: 'first' | 'retry', ...json: string[]) =>
      client.eval(
        script,
        2,
        'serverpush:changes',
        'serverpush:changes:epoch',
        'append',
        'unused',
        '100000',
        batch,
        mode,
        epoch,
        start,
        ...json,
      ) as Promise<string[]>;
    const first = await append('b1', 'first', '{"n":1}', '{"n":2}');
    t.deepEqual(first.slice(1, 3), ['ok', epoch]);
    await changes.append([change(3)]);
    // The answer was lost: the retry (or ioredis sending the first try again) finds the entries.
    t.deepEqual(await append('b1', 'retry', '{"n":1}', '{"n":2}'), first);
    t.deepEqual(await append('b1', 'first', '{"n":1}', '{"n":2}'), first);
    t.is(await client.xlen('serverpush:changes'), 3);
    // A retry that would have to look through more than 10,000 entries cannot tell, and says so.
    await changes.append(Array.from({ length: 10_001 }, (_, i) => change(i)));
    t.deepEqual((await append('b2', 'retry', '{"n":4}')).slice(1), ['unsure']);
    t.is(await client.xlen('serverpush:changes'), 10_004);
  },
);
