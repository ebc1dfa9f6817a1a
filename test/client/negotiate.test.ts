// Transport negotiation and fallback, in jsdom against the real push server.

import test, { type ExecutionContext } from 'ava';
import { EventSource } from 'eventsource';
import { WebSocketServer } from 'ws';
import { connect, type PushClient } from '../../client/index.ts';
import { plan } from '../../client/negotiate.ts';
import { resolveGlobals } from '../../client/globals.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { sse } from '../../transports/sse.ts';
import { websocket } from '../../transports/websocket.ts';
import { pushServer } from '../transports/conformance.ts';
import { createPage, pageGlobals, type DomWindow } from '../helpers/jsdom.ts';

const all = () => [websocket({ heartbeatMs: 1_000 }), sse({ heartbeatMs: 1_000 }), longPoll({ timeoutMs: 1_000 })];

function open(
  t: ExecutionContext,
  window: DomWindow,
  base: string,
  token: string,
  options: { connectTimeoutMs?: number } = {},
): PushClient {
  const client = connect({
    token,
    base,
    transports: ['websocket', 'sse', 'long-poll'],
    backoff: { initialMs: 20, maxMs: 100 },
    ...options,
    globals: pageGlobals(window, { EventSource: EventSource as unknown as typeof globalThis.EventSource }),
  });
  t.teardown(() => client.close());
  return client;
}

const items = (client: PushClient) => {
  const seen: string[] = [];
  client.on('item', (data) => seen.push((data as { title: string }).title));
  return seen;
};

async function until(condition: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('connect() uses the first offered transport that works', async (t) => {
  const server = await pushServer(t, all());
  const window = createPage(t, { url: `${server.url}/items` });
  const client = open(t, window, server.base, await server.page());
  const seen = items(client);
  await until(() => client.state === 'connected');
  t.is(client.transport, 'websocket');
  await server.publish('hello');
  await until(() => seen.length === 1);
  t.deepEqual(seen, ['hello']);
});

test('connect() falls back within seconds when the server refuses WebSocket upgrades, losing nothing', async (t) => {
  const server = await pushServer(t, all(), { attach: false });
  const window = createPage(t, { url: `${server.url}/items` });
  const token = await server.page();
  await server.publish('before connecting');
  const started = Date.now();
  const client = open(t, window, server.base, token);
  const seen = items(client);
  await until(() => client.state === 'connected');
  t.true(Date.now() - started < 3_000);
  t.is(client.transport, 'sse');
  await server.publish('after');
  await until(() => seen.length === 2);
  t.deepEqual(seen, ['before connecting', 'after']);
});

test('connect() moves on from a WebSocket that dies as soon as it opens', async (t) => {
  const server = await pushServer(t, all(), { attach: false });
  const cutter = new WebSocketServer({ noServer: true });
  server.server.on('upgrade', (request, socket, head) =>
    cutter.handleUpgrade(request, socket, head, (ws) => ws.close(1011)),
  );
  t.teardown(() => cutter.close());
  const window = createPage(t, { url: `${server.url}/items` });
  const client = open(t, window, server.base, await server.page());
  await until(() => client.transport === 'sse' && client.state === 'connected');
  t.pass();
});

test('connect() tries first the transport that worked earlier in the browser session', async (t) => {
  const server = await pushServer(t, all());
  const window = createPage(t, { url: `${server.url}/items` });
  window.sessionStorage.setItem('serverpush:transport', 'long-poll@direct');
  const client = open(t, window, server.base, await server.page());
  await until(() => client.state === 'connected');
  t.is(client.transport, 'long-poll');
  client.close();
  const again = open(t, createPage(t, { url: `${server.url}/items` }), server.base, await server.page());
  await until(() => again.state === 'connected');
  t.is(again.transport, 'websocket', 'a new browser session starts from the page order');
});

test('connect() remembers the transport that connected', async (t) => {
  const server = await pushServer(t, all(), { attach: false });
  const window = createPage(t, { url: `${server.url}/items` });
  const client = open(t, window, server.base, await server.page());
  await until(() => client.state === 'connected');
  t.is(window.sessionStorage.getItem('serverpush:transport'), 'sse@direct');
});

test('plan() sends CORS-bound transports through the proxy when the push server is on another origin', (t) => {
  const window = createPage(t, { url: 'http://app.test/page' });
  const globals = resolveGlobals({ window, EventSource: EventSource as unknown as typeof globalThis.EventSource });
  const attempts = plan(
    ['websocket', 'sse', 'long-poll', 'jsonp'],
    globals,
    'http://push.test:8013/serverpush',
    'http://app.test/serverpush',
  );
  t.deepEqual(
    attempts.map((attempt) => `${attempt.transport.name} ${attempt.url}`),
    [
      'websocket http://push.test:8013/serverpush/websocket',
      'websocket http://app.test/serverpush/websocket',
      'sse http://app.test/serverpush/sse',
      'long-poll http://app.test/serverpush/long-poll',
      'jsonp http://push.test:8013/serverpush/jsonp',
    ],
  );
  const sameOrigin = plan(['sse', 'long-poll'], globals, 'http://app.test/serverpush', 'http://app.test/serverpush');
  t.deepEqual(
    sameOrigin.map((attempt) => attempt.via),
    ['direct', 'direct'],
  );
});
