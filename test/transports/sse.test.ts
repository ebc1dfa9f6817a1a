// The SSE transport: the conformance suite over a hand-parsed event stream, then what only SSE does.

import test, { type ExecutionContext } from 'ava';
import { EventSource } from 'eventsource';
import type { Transport } from '../../core/transport.ts';
import type { ChangeMessage, Message } from '../../core/types.ts';
import { sse } from '../../transports/sse.ts';
import { conformance, muxConformance, pushServer } from './conformance.ts';
import { sseMux } from './drivers/mux.ts';
import { sseBlocks, sseDriver, type SseBlock } from './drivers/sse.ts';
import { captureConsole } from '../helpers/console.ts';

conformance(sseDriver, () => sse({ heartbeatMs: 500, retryMs: 100 }));
muxConformance(sseMux, () => sse({ heartbeatMs: 500, retryMs: 100 }));

/** Opens a raw event stream, closed at teardown; `next()` reads the next block, within `timeoutMs`. */
async function openStream(t: ExecutionContext, url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const started = performance.now();
  const response = await fetch(url, { signal: controller.signal, headers });
  const blocks = response.body === null ? undefined : sseBlocks(response.body)[Symbol.asyncIterator]();
  return {
    response,
    started,
    async next(timeoutMs = 3_000): Promise<SseBlock | undefined> {
      if (blocks === undefined) throw new Error(`no stream: ${response.status}`);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no event within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        const block = await Promise.race([blocks.next(), timeout]);
        return block.done === true ? undefined : block.value;
      } finally {
        clearTimeout(timer);
      }
    },
    /** The next block that carries data, skipping comments. */
    async nextData(timeoutMs = 3_000): Promise<SseBlock & { data: string }> {
      const deadline = performance.now() + timeoutMs;
      for (let i = 0; i < 100; i += 1) {
        const block = await this.next(Math.max(1, deadline - performance.now()));
        if (block === undefined) throw new Error('the stream ended');
        if (block.data !== undefined) return block as SseBlock & { data: string };
      }
      throw new Error('only comments');
    },
    close: () => controller.abort(),
  };
}

const messagesOf = (block: { data: string }) => (JSON.parse(block.data) as { messages: Message[] }).messages;
const titlesOf = (block: { data: string }) =>
  messagesOf(block).map((m) => ('data' in m ? (m.data as { title: string }).title : m.name));
const cursorsOf = (block: { data: string }) => messagesOf(block).map((m) => ('cursor' in m ? m.cursor : undefined));

async function until(condition: () => boolean, timeoutMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return condition();
}

test('sse() answers with an unbuffered event stream whose first bytes arrive at once', async (t) => {
  const server = await pushServer(t, [sse()]);
  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const token = await server.page();
  const started = performance.now();
  const response = await fetch(`${server.base}/sse?token=${token}`, { signal: controller.signal });
  const reader = response.body!.getReader();
  const first = await reader.read();

  // Held back, they would wait for the first heartbeat (15 s): seconds apart even on a loaded machine.
  t.true(performance.now() - started < 5_000, 'the first bytes are not held back');
  // A heartbeat may follow at once: the page's first poll is answered without waiting.
  t.true(new TextDecoder().decode(first.value).startsWith('retry: 2000\n: connected\n\n'));
  t.is(response.status, 200);
  t.is(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  t.is(response.headers.get('cache-control'), 'no-cache, no-transform');
  t.is(response.headers.get('x-accel-buffering'), 'no');
  t.is(response.headers.get('content-length'), null);
});

test('sse() sends each batch as one event, at once, whose id is the cursor of its last change', async (t) => {
  const server = await pushServer(t, [sse()]);
  // A second spec on the same rows: one change, two messages sharing one cursor.
  server.push.updates('items', () => [{ name: 'label', model: 'items', data: { label: 'title' } }]);
  const stream = await openStream(t, `${server.base}/sse?token=${await server.page()}`);
  t.deepEqual((await stream.next())?.comments, ['connected']);
  t.true(await until(() => server.push.stats().waiting === 1));

  const published = performance.now();
  await server.publish('one');
  const block = await stream.nextData();

  t.true(block.at - published < 500, `the event took ${Math.round(block.at - published)} ms`);
  t.deepEqual(
    messagesOf(block).map((m) => m.name),
    ['item', 'label'],
  );
  const [cursor, same] = cursorsOf(block);
  t.is(same, cursor);
  t.is(block.id, cursor);
});

test('sse() resumes from Last-Event-ID over the cursor parameter over the token', async (t) => {
  const server = await pushServer(t, [sse()]);
  const token = await server.page();
  await server.publish('a', 'b', 'c');
  const fromToken = await openStream(t, `${server.base}/sse?token=${token}`);
  const all = await fromToken.nextData();
  t.deepEqual(titlesOf(all), ['a', 'b', 'c']);
  const [a, b] = cursorsOf(all) as [string, string, string];
  fromToken.close();

  const fromCursor = await openStream(t, `${server.base}/sse?token=${token}&cursor=${a}`, { 'Last-Event-ID': '' });
  t.deepEqual(titlesOf(await fromCursor.nextData()), ['b', 'c'], 'an empty Last-Event-ID is none');
  fromCursor.close();
  const fromHeader = await openStream(t, `${server.base}/sse?token=${token}&cursor=${a}`, { 'Last-Event-ID': b });
  t.deepEqual(titlesOf(await fromHeader.nextData()), ['c']);
});

test('sse() answers a malformed Last-Event-ID 400 before the stream starts, and a POST 405', async (t) => {
  const server = await pushServer(t, [sse()]);
  const token = await server.page();
  const response = await fetch(`${server.base}/sse?token=${token}`, { headers: { 'Last-Event-ID': 'nope' } });
  t.is(response.status, 400);
  t.is(response.headers.get('content-type'), 'application/json; charset=utf-8');
  t.deepEqual(await response.json(), {
    error: { code: 'SERVERPUSH_ERR_BAD_CURSOR', message: 'cursor "nope" is malformed' },
  });
  const post = await fetch(`${server.base}/sse?token=${token}`, { method: 'POST' });
  t.is(post.status, 405);
  t.is(post.headers.get('allow'), 'GET');
  t.deepEqual(await post.json(), { error: { code: 'SERVERPUSH_ERR_BAD_REQUEST', message: 'sse accepts GET only' } });
});

test('sse() sends a heartbeat comment every heartbeatMs', async (t) => {
  const server = await pushServer(t, [sse({ heartbeatMs: 100 })]);
  const stream = await openStream(t, `${server.base}/sse?token=${await server.page()}`);
  const heartbeats: number[] = [];
  for (let i = 0; i < 10 && heartbeats.length < 5; i += 1) {
    const block = await stream.next(1_000);
    if (block?.comments.includes('heartbeat') === true) heartbeats.push(block.at);
  }
  // The first follows the page's first poll, which is answered at once; the rest are timed. Each
  // arrival may be late by a busy event loop, so the mean gap is what is held to heartbeatMs.
  t.is(heartbeats.length, 5);
  const mean = (heartbeats[4]! - heartbeats[1]!) / 3;
  t.true(mean >= 85 && mean < 300, `a mean gap of ${Math.round(mean)} ms`);
});

test('sse() ends the stream after a refresh, sent in an event without an id', async (t) => {
  const server = await pushServer(t, [sse()], { maxCount: 2 });
  const token = await server.page();
  await server.publish('a', 'b', 'c');
  const stream = await openStream(t, `${server.base}/sse?token=${token}`);
  const block = await stream.nextData();
  t.deepEqual(messagesOf(block), [{ name: 'refresh', reason: 'history' }]);
  t.is(block.id, undefined);
  t.is(await stream.next(), undefined);
});

test('sse() close() ends every open stream with a retry hint, and frees the server', async (t) => {
  const transport = sse({ retryMs: 1_000 });
  const server = await pushServer(t, [transport]);
  const streams = [
    await openStream(t, `${server.base}/sse?token=${await server.page()}`),
    await openStream(t, `${server.base}/sse?token=${await server.page()}`),
  ];
  for (const stream of streams) t.deepEqual((await stream.next())?.comments, ['connected']);
  t.true(await until(() => server.push.stats().waiting === 2));
  transport.close?.();
  for (const stream of streams) {
    let last: SseBlock | undefined;
    for (let i = 0, block = await stream.next(); block !== undefined && i < 10; i += 1, block = await stream.next())
      last = block;
    t.deepEqual(last?.comments, ['closing']);
    t.true(Number(last?.retry) >= 0 && Number(last?.retry) < 1_000, `retry: ${last?.retry}`);
  }
  t.is(server.push.stats().waiting, 0);
});

test('sse() frees the server when the client disconnects: push.stats().waiting goes to 0', async (t) => {
  const server = await pushServer(t, [sse({ heartbeatMs: 60_000 })]);
  const stream = await openStream(t, `${server.base}/sse?token=${await server.page()}`);
  await stream.next();
  t.true(await until(() => server.push.stats().waiting === 1), 'the stream waits for changes');
  stream.close();
  t.true(await until(() => server.push.stats().waiting === 0));
});

test('sse() reports an error after the stream started as an event, then ends the stream', async (t) => {
  const server = await pushServer(t, [sse()]);
  server.push.global(() => {
    throw new Error('an update function failed on purpose');
  });
  const errors = captureConsole(t, 'error');
  const stream = await openStream(t, `${server.base}/sse?token=${await server.page()}`);
  t.is(stream.response.status, 200);
  const block = await stream.nextData();
  t.deepEqual(JSON.parse(block.data), {
    status: 422,
    error: {
      code: 'SERVERPUSH_ERR_PAGE',
      message: 'the update specs of the global update functions cannot be built; see the server log',
    },
  });
  t.is(await stream.next(), undefined);
  t.is(errors.length, 1, 'the error is logged once');
});

test('sse() lets a browser resume with Last-Event-ID, without loss or duplicates', async (t) => {
  const transport = sse({ retryMs: 50 });
  const lastEventIds: Array<string | undefined> = [];
  const recording: Transport = {
    name: 'sse',
    handle(request, push) {
      lastEventIds.push(request.headers['last-event-id'] as string | undefined);
      return transport.handle(request, push);
    },
    close: () => transport.close?.(),
  };
  const server = await pushServer(t, [recording]);
  const source = new EventSource(`${server.base}/sse?token=${await server.page()}`);
  t.teardown(() => source.close());
  const received: ChangeMessage[] = [];
  source.addEventListener('message', (event) =>
    received.push(...(JSON.parse(event.data as string) as { messages: ChangeMessage[] }).messages),
  );
  await new Promise((resolve) => source.addEventListener('open', resolve, { once: true }));
  await server.publish('one');
  t.true(await until(() => received.length === 1));

  transport.close?.();
  await server.publish('two');
  t.true(await until(() => received.length === 2));
  await server.publish('three');
  t.true(await until(() => received.length === 3));
  // Events arrive in order: once the last one is in, one delivered twice would have shown before it.
  await server.publish('four');
  t.true(await until(() => (received.at(-1)?.data as { title: string } | undefined)?.title === 'four'));

  t.deepEqual(
    received.map((m) => (m.data as { title: string }).title),
    ['one', 'two', 'three', 'four'],
  );
  t.deepEqual(lastEventIds, [undefined, received[0]!.cursor]);
});

test('sse() sends CORS headers on the stream to an allowed origin', async (t) => {
  const server = await pushServer(t, [sse()], { origins: ['http://app.example:3000'] });
  const stream = await openStream(t, `${server.base}/sse?token=${await server.page()}`, {
    Origin: 'http://app.example:3000',
  });
  t.is(stream.response.headers.get('access-control-allow-origin'), 'http://app.example:3000');
  t.is(stream.response.headers.get('access-control-allow-credentials'), 'true');
  t.deepEqual((await stream.next())?.comments, ['connected']);
});

test('sse() validates its options', (t) => {
  t.throws(() => sse({ heartbeatMs: 0 }), {
    instanceOf: TypeError,
    message: 'The `heartbeatMs` option must be a positive integer, got 0',
  });
  t.throws(() => sse({ retryMs: 1.5 }), {
    instanceOf: TypeError,
    message: 'The `retryMs` option must be a positive integer, got 1.5',
  });
});
