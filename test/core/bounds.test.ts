// The bounds of a push instance: every resource has one, with a clear refusal past it.

import test, { type ExecutionContext } from 'ava';
import type { ChangeLog } from '../../core/change-log.ts';
import { memoryLog } from '../../core/memory-log.ts';
import { createPush, type Push, type PushOptions, type RouteTable, unknownCursor } from '../../core/push.ts';
import type { ChangeInput } from '../../core/types.ts';
import { closing, page, secret } from '../helpers/push.ts';

const routes: RouteTable = { match: (path) => (path === '/' ? { name: 'home', params: {} } : undefined) };
const hit = (hits: number, text = ''): ChangeInput => ({
  model: 'counters',
  op: 'update',
  id: 1,
  after: { id: 1, hits, text },
  before: { id: 1, hits: hits - 1, text },
});

/** A push instance whose home page serializes each change with a counted function serializer. */
function counted(t: ExecutionContext, options: Partial<PushOptions> = {}) {
  let calls = 0;
  const push = closing(t, createPush({ secret, routes, ...options }));
  push.updates('home', () => [
    {
      name: 'hits',
      model: 'counters',
      serializer: (_ctx, row) => {
        calls += 1;
        return { hits: row['hits'], text: row['text'] };
      },
    },
  ]);
  return { push, calls: () => calls };
}

test("createPush() refuses a client cursor older than its page's own with 400", async (t) => {
  const { push } = counted(t);
  const [first] = await push.publish([hit(1), hit(2)]);
  const token = await page(push);
  await t.throwsAsync(push.poll(token, first!.cursor, { waitMs: 0 }), {
    code: 'SERVERPUSH_ERR_BAD_CURSOR',
    message: 'the cursor is older than its page',
  });
});

test('createPush() serializes nothing for a page no connection holds, until one comes back', async (t) => {
  const { push, calls } = counted(t);
  const token = await page(push);
  t.deepEqual(await push.poll(token, undefined, { waitMs: 0 }), []);
  await push.publish([hit(1), hit(2), hit(3)]);
  t.is(calls(), 0, 'nobody holds the page: nothing serialized');
  const messages = await push.poll(token, undefined, { waitMs: 1_000 });
  t.deepEqual(
    messages.map((m) => ('data' in m ? (m.data as { hits: number }).hits : m.name)),
    [1, 2, 3],
  );
  t.is(calls(), 3);
});

test('createPush() tells a page whose waiting messages pass maxPendingBytes to refresh when its connection does not take them', async (t) => {
  const { push } = counted(t, { maxPendingBytes: 2_000 });
  const token = await page(push);
  await push.poll(token, undefined, { waitMs: 0 });
  // A connection that holds the page but never takes what waits.
  const stuck = push.endpoint(undefined).open({ write: () => {} });
  t.teardown(() => stuck.close());
  await stuck.add('', token, undefined);
  (stuck as unknown as { flush(): void }).flush = () => {};
  await push.publish(Array.from({ length: 5 }, (_, i) => hit(i + 1, 'x'.repeat(600))));
  await new Promise((resolve) => setTimeout(resolve, 20));
  stuck.close();
  t.deepEqual(await push.poll(token, undefined, { waitMs: 0 }), [{ name: 'refresh', reason: 'overflow' }]);
});

test('createPush() serves at most maxPages pages: the next gets 503 SERVERPUSH_ERR_BUSY with a retry time', async (t) => {
  const { push } = counted(t, { maxPages: 2 });
  await push.poll(await page(push), undefined, { waitMs: 0 });
  await push.poll(await page(push), undefined, { waitMs: 0 });
  const error = await t.throwsAsync(push.poll(await page(push), undefined, { waitMs: 0 }), {
    code: 'SERVERPUSH_ERR_BUSY',
    message: 'this push process serves 2 pages (maxPages); retry later',
  });
  t.like(error, { status: 503, retryAfter: 5 });
});

test('createPush() holds at most maxConnections connections, and maxConnectionsPerAddress from one address', async (t) => {
  const { push } = counted(t, { maxConnections: 3, maxConnectionsPerAddress: 2 });
  const open = (address: string) => {
    const connection = push.endpoint(undefined, address).open({ write: () => {} });
    t.teardown(() => connection.close());
    return connection;
  };
  await open('10.0.0.1').add('', await page(push), undefined);
  await open('10.0.0.1').add('', await page(push), undefined);
  await t.throwsAsync(open('10.0.0.1').add('', await page(push), undefined), {
    code: 'SERVERPUSH_ERR_LIMIT',
    message: 'one address may hold 2 connections (maxConnectionsPerAddress)',
  });
  await open('10.0.0.2').add('', await page(push), undefined);
  const busy = await t.throwsAsync(open('10.0.0.3').add('', await page(push), undefined), {
    code: 'SERVERPUSH_ERR_BUSY',
    message: 'this push process holds 3 connections (maxConnections); retry later',
  });
  t.like(busy, { status: 503, retryAfter: 5 });
});

test('createPush() serves a page anew from the log a few times a minute at most', async (t) => {
  const { push } = counted(t);
  const token = await page(push);
  const changes = await push.publish([hit(1), hit(2)]);
  const [first, second] = changes.map((change) => change.cursor);
  let refused: unknown;
  for (let i = 0; i < 60 && refused === undefined; i += 1) {
    try {
      await push.poll(token, i % 2 === 0 ? second : first, { waitMs: 0 });
    } catch (error) {
      refused = error;
    }
  }
  t.like(refused, {
    code: 'SERVERPUSH_ERR_LIMIT',
    message: 'a page may resume from behind what it was sent 20 times a minute',
    status: 429,
  });
});

/** A log whose head() fails until `down` is false. */
function flakyLog(): { log: ChangeLog; setDown(down: boolean): void } {
  const log = memoryLog();
  let down = true;
  return {
    log: { ...log, head: () => (down ? Promise.reject(new Error('the log is down')) : log.head()) },
    setDown: (value) => void (down = value),
  };
}

test('createPush() holds the first request of a page rendered while the log was down, and tells it to refresh once the log is back', async (t) => {
  const { log, setDown } = flakyLog();
  const push: Push = closing(t, createPush({ secret, routes, log }));
  const token = push.token({ path: '/', query: '', identity: null, languages: [], cursor: unknownCursor });
  const polled = push.poll(token, undefined, { waitMs: 10_000 });
  const early = await Promise.race([polled, new Promise((resolve) => setTimeout(resolve, 300, 'held'))]);
  t.is(early, 'held', 'held while the log is down');
  setDown(false);
  t.deepEqual(await polled, [{ name: 'refresh', reason: 'unavailable' }]);
});
