// Connections that carry many pages: each page keeps its own token, cursor and viewer; pages push
// into the connection that holds them; a newer connection of a page takes it over; a client whose
// cursor is behind what was handed out is served from the log.

import test, { type ExecutionContext } from 'ava';
import type { PageBatch } from '../../core/connection.ts';
import { memoryLog } from '../../core/memory-log.ts';
import { createPush, type Push, type PushOptions, type RouteTable } from '../../core/push.ts';
import type { ChangeInput, ChangeMessage, Message } from '../../core/types.ts';
import { closing, page, secret } from '../helpers/push.ts';

const routes: RouteTable = { match: (path) => (path === '/notes' ? { name: 'notes', params: {} } : undefined) };

const note = (id: number, owner: string, text = `note ${id}`): ChangeInput => ({
  model: 'notes',
  op: 'insert',
  id,
  after: { id, owner, text },
  before: null,
});

/** A push instance whose `/notes` page listens to its viewer's notes, serialized for that viewer. */
function notesPush(t: ExecutionContext, options: Partial<PushOptions<string>> = {}): Push<string> {
  const push = closing(t, createPush<string>({ secret, routes, ...options }));
  push.updates('notes', (ctx) => [
    {
      name: 'note',
      model: 'notes',
      params: { owner: ctx.viewer },
      serializer: (viewerCtx, row) => ({ text: row['text'], for: viewerCtx.viewer }),
    },
  ]);
  return push;
}

/** A connection whose frames are collected; `next()` waits for the next one. */
function collect(t: ExecutionContext, push: Push<string>) {
  const frames: Array<readonly PageBatch[]> = [];
  let wake: (() => void) | undefined;
  const connection = push.endpoint(undefined).open({
    write(batches) {
      frames.push(batches);
      wake?.();
    },
  });
  t.teardown(() => connection.close());
  /** The messages of each key over every frame so far. */
  const byKey = () => {
    const seen: Record<string, Message[]> = {};
    for (const frame of frames) {
      for (const batch of frame)
        (seen[batch.key] ??= []).push(...batch.deliveries.map((d) => JSON.parse(d.json) as Message));
    }
    return seen;
  };
  const until = async (predicate: () => boolean, ms = 2_000) => {
    const deadline = Date.now() + ms;
    while (!predicate() && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return predicate();
  };
  return { connection, frames, byKey, until };
}

const texts = (messages: readonly Message[] | undefined) =>
  (messages ?? []).map((m) => ('data' in m ? (m.data as { text: string; for: string }) : m.name));

test("a connection carries the pages of two viewers, and each page receives only its own viewer's payloads", async (t) => {
  const push = notesPush(t);
  const { connection, byKey, until } = collect(t, push);
  await connection.add('a', await page(push, '/notes', 'alice'), undefined);
  await connection.add('b', await page(push, '/notes', 'bob'), undefined);
  await push.publish([note(1, 'alice'), note(2, 'bob'), note(3, 'alice')]);
  t.true(await until(() => (byKey()['a']?.length ?? 0) === 2 && (byKey()['b']?.length ?? 0) === 1));
  t.deepEqual(texts(byKey()['a']), [
    { text: 'note 1', for: 'alice' },
    { text: 'note 3', for: 'alice' },
  ]);
  t.deepEqual(texts(byKey()['b']), [{ text: 'note 2', for: 'bob' }]);
});

test('the messages of one tick leave as one frame for every page of a connection', async (t) => {
  const push = notesPush(t);
  const { connection, frames, until } = collect(t, push);
  await connection.add('a', await page(push, '/notes', 'alice'), undefined);
  await connection.add('b', await page(push, '/notes', 'bob'), undefined);
  await push.publish([note(1, 'alice'), note(2, 'bob')]);
  t.true(await until(() => frames.length > 0));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(frames.length, 1);
  t.deepEqual(
    frames[0]!.map((batch) => batch.key),
    ['a', 'b'],
  );
});

test("a page added to a live connection gets its replay from its token's cursor", async (t) => {
  const push = notesPush(t);
  const { connection, byKey, until } = collect(t, push);
  await connection.add('a', await page(push, '/notes', 'alice'), undefined);
  const later = await page(push, '/notes', 'bob');
  await push.publish([note(1, 'bob'), note(2, 'alice')]);
  await connection.add('b', later, undefined);
  t.true(await until(() => byKey()['b'] !== undefined && byKey()['a'] !== undefined));
  t.deepEqual(texts(byKey()['b']), [{ text: 'note 1', for: 'bob' }]);
  t.deepEqual(texts(byKey()['a']), [{ text: 'note 2', for: 'alice' }]);
});

test('a page whose token is bad is refused while the others on the connection go on', async (t) => {
  const push = notesPush(t);
  const { connection, byKey, until } = collect(t, push);
  await connection.add('a', await page(push, '/notes', 'alice'), undefined);
  await t.throwsAsync(connection.add('b', 'eyJ2IjoxfQ.AAAA', undefined), {
    code: 'SERVERPUSH_ERR_BAD_TOKEN',
    message: 'the page token signature does not verify',
  });
  await push.publish(note(1, 'alice'));
  t.true(await until(() => byKey()['a'] !== undefined));
  t.is(connection.size, 1);
});

test('a connection carries at most maxPagesPerConnection pages: the next is refused SERVERPUSH_ERR_LIMIT', async (t) => {
  const push = notesPush(t, { maxPagesPerConnection: 2 });
  const { connection } = collect(t, push);
  await connection.add('a', await page(push, '/notes', 'alice'), undefined);
  await connection.add('b', await page(push, '/notes', 'bob'), undefined);
  await t.throwsAsync(connection.add('c', await page(push, '/notes', 'carol'), undefined), {
    code: 'SERVERPUSH_ERR_LIMIT',
    message: 'a connection carries at most 2 pages (maxPagesPerConnection)',
  });
  await t.notThrowsAsync(connection.add('b', await page(push, '/notes', 'bob'), undefined), 'a key in use is replaced');
});

test('a newer connection of a page takes it over: the older gets nothing more of it', async (t) => {
  const push = notesPush(t);
  const token = await page(push, '/notes', 'alice');
  const old = collect(t, push);
  await old.connection.add('a', token, undefined);
  const [first] = await push.publish(note(1, 'alice'));
  t.true(await old.until(() => old.byKey()['a']?.length === 1));
  const newer = collect(t, push);
  await newer.connection.add('x', token, first!.cursor);
  await push.publish(note(2, 'alice'));
  t.true(await newer.until(() => newer.byKey()['x']?.length === 1));
  t.deepEqual(texts(newer.byKey()['x']), [{ text: 'note 2', for: 'alice' }]);
  t.is(old.byKey()['a']?.length, 1, 'the old connection got nothing after the takeover');
});

test('a page that resumes behind what an earlier connection was handed gets every change again, once, in order', async (t) => {
  const push = notesPush(t);
  const token = await page(push, '/notes', 'alice');
  // A connection whose frames go nowhere: a stream into a dead socket.
  const lost = push.endpoint(undefined).open({ write: () => {} });
  t.teardown(() => lost.close());
  await lost.add('a', token, undefined);
  await push.publish([note(1, 'alice'), note(2, 'alice'), note(3, 'alice')]);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const resumed = collect(t, push);
  await resumed.connection.add('a', token, undefined);
  t.true(await resumed.until(() => resumed.byKey()['a']?.length === 3));
  await push.publish(note(4, 'alice'));
  t.true(await resumed.until(() => resumed.byKey()['a']?.length === 4));
  t.deepEqual(
    (resumed.byKey()['a'] as ChangeMessage[]).map((m) => m.id),
    [1, 2, 3, 4],
  );
});

test('a page that followed 2,000 changes on another process and comes back with its latest cursor gets the next change, not a refresh', async (t) => {
  const log = memoryLog({ maxCount: 10_000 });
  const a = notesPush(t, { log });
  const b = notesPush(t, { log });
  const token = await page(a, '/notes', 'alice');
  t.deepEqual(await a.poll(token, undefined, { waitMs: 0 }), [], 'the page opens on process a');
  let cursor: string | undefined;
  await b.poll(token, undefined, { waitMs: 0 });
  for (let batch = 0; batch < 20; batch += 1) {
    await log.append(Array.from({ length: 100 }, (_, i) => note(batch * 100 + i + 1, 'alice')));
    const messages = (await b.poll(token, cursor, { waitMs: 1_000 })) as ChangeMessage[];
    t.is(messages.length, 100);
    cursor = messages.at(-1)!.cursor;
  }
  await log.append([note(2_001, 'alice')]);
  const back = await a.poll(token, cursor, { waitMs: 1_000 });
  t.deepEqual(
    back.map((m) => ('cursor' in m ? m.id : m)),
    [2_001],
  );
});
