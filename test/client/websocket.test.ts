// The WebSocket client transport in a jsdom page whose WebSocket is the `ws` package's, against a
// real push server, through `open(session)` with a session recorded by the test.

import test, { type ExecutionContext } from 'ava';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { resolveGlobals, type GlobalsOptions } from '../../client/globals.ts';
import type { TransportSession } from '../../client/transports/index.ts';
import { websocket as clientWebsocket } from '../../client/transports/websocket.ts';
import type { Transport } from '../../core/transport.ts';
import { websocket } from '../../transports/websocket.ts';
import { countedGlobals } from '../helpers/counted-globals.ts';
import { createPage, pageGlobals, type DomWindow } from '../helpers/jsdom.ts';
import { until } from '../helpers/until.ts';
import { pushServer } from '../transports/conformance.ts';
import { messagesOf, onePage } from '../helpers/session.ts';

/** A jsdom page at `url` whose `WebSocket` is `ws`'s. */
function page(t: ExecutionContext, url: string): DomWindow {
  const window = createPage(t, { url });
  window.WebSocket = WebSocket as unknown as typeof window.WebSocket;
  return window;
}

/** What the transport told its session, in order: `[kind, …details]`. */
type Event = readonly unknown[];

/** Opens the client transport on a session that records what it is told; stopped at teardown. */
function opened(
  t: ExecutionContext,
  window: DomWindow,
  url: string,
  token: string,
  options: { globals?: GlobalsOptions; cursor?: string } = {},
) {
  const events: Event[] = [];
  let { cursor } = options;
  let stopped = false;
  let stop = () => {};
  const session: TransportSession = {
    url,
    ...onePage(token, () => cursor),
    globals: resolveGlobals(pageGlobals(window, options.globals)),
    backoff: { initialMs: 40, maxMs: 100 },
    receive: messagesOf((messages) => {
      events.push([
        'receive',
        messages.map((m) => (m as { data?: { title: string } }).data?.title ?? (m as { name: string }).name),
      ]);
      for (const message of messages as Array<{ cursor?: string; name: string }>) {
        if (message.cursor !== undefined) cursor = message.cursor;
        // As the client does: a refresh stops it.
        if (message.name === 'refresh') halt();
      }
    }),
    connected: () => events.push(['connected']),
    retrying: (error) => events.push(['retrying', error.code, error.message, error.status]),
    failed(error) {
      events.push(['failed', error.code, error.message, error.status]);
      halt();
    },
  };
  function halt() {
    if (stopped) return;
    stopped = true;
    stop();
  }
  stop = clientWebsocket.open(session);
  t.teardown(halt);
  return {
    events,
    stop: halt,
    /** Resolves once `count` events were recorded; rejects after 5 s. */
    async seen(count: number) {
      const deadline = Date.now() + 5_000;
      while (events.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      if (events.length < count) throw new Error(`only ${JSON.stringify(events)} within 5 s`);
      return events.slice(0, count);
    },
  };
}

/** A websocket() transport whose server-side sockets the test can cut. */
function cuttable(inner: Transport) {
  const sockets: Duplex[] = [];
  const transport: Transport = {
    ...inner,
    upgrade(request, socket, head, push) {
      sockets.push(socket);
      inner.upgrade?.(request, socket, head, push);
    },
  };
  return {
    transport,
    cut: () => {
      for (const socket of sockets.splice(0)) socket.destroy();
    },
  };
}

test('websocket.supported() needs a WebSocket constructor on the window', (t) => {
  const window = page(t, 'http://127.0.0.1:1/');
  t.true(clientWebsocket.supported(resolveGlobals(pageGlobals(window))));
  delete (window as { WebSocket?: unknown }).WebSocket;
  t.false(clientWebsocket.supported(resolveGlobals(pageGlobals(window))));
});

test('websocket.open() connects over ws: with the token, reports connected, and hands over each frame in order', async (t) => {
  const server = await pushServer(t, [websocket()]);
  const window = page(t, `${server.url}/items`);
  const token = await server.page();
  await server.publish('rendered meanwhile');
  const connection = opened(t, window, `${server.base}/websocket`, token);
  t.deepEqual(await connection.seen(2), [['connected'], ['receive', ['rendered meanwhile']]]);
  await server.publish('live');
  t.deepEqual(await connection.seen(3), [['connected'], ['receive', ['rendered meanwhile']], ['receive', ['live']]]);
});

test('websocket.open() reconnects after a dropped connection from session.cursor(), losing and repeating nothing', async (t) => {
  const { transport, cut } = cuttable(websocket());
  const server = await pushServer(t, [transport]);
  const window = page(t, `${server.url}/items`);
  const connection = opened(t, window, `${server.base}/websocket`, await server.page(), {
    globals: { random: () => 0 },
  });
  await connection.seen(1);
  await server.publish('before');
  await connection.seen(2);
  cut();
  await connection.seen(3);
  await server.publish('while away');
  t.deepEqual(await connection.seen(5), [
    ['connected'],
    ['receive', ['before']],
    ['retrying', 'SERVERPUSH_ERR_NETWORK', 'the connection closed (code 1006)', undefined],
    ['connected'],
    ['receive', ['while away']],
  ]);
});

test('websocket.open() stops with failed() on 4401 and 4400, with the code, message and status of the close', async (t) => {
  const server = await pushServer(t, [websocket()]);
  const window = page(t, `${server.url}/items`);
  const counted = countedGlobals(window);
  const badToken = opened(t, window, `${server.base}/websocket`, 'eyJ2IjoxfQ.AAAA', { globals: counted.globals });
  const badCursor = opened(t, window, `${server.base}/websocket`, await server.page(), {
    cursor: 'not-a-cursor',
    globals: counted.globals,
  });
  t.deepEqual(await badToken.seen(2), [
    ['connected'],
    ['failed', 'SERVERPUSH_ERR_BAD_TOKEN', 'the page token signature does not verify', 401],
  ]);
  t.deepEqual(await badCursor.seen(2), [
    ['connected'],
    ['failed', 'SERVERPUSH_ERR_BAD_CURSOR', 'cursor "not-a-cursor" is malformed', 400],
  ]);
  // No retry armed and no socket open: nothing more can happen.
  await until(() => counted.activity().length === 0);
  t.deepEqual([badToken.events.length, badCursor.events.length], [2, 2], 'no retry after failed()');
});

test('websocket.open() retries a handshake the server refused, which the page sees as 1006', async (t) => {
  const server = await pushServer(t, [websocket()]);
  const window = page(t, `${server.url}/items`);
  const connection = opened(t, window, `${server.url}/elsewhere/websocket`, 'x', { globals: { random: () => 0 } });
  t.deepEqual(await connection.seen(2), [
    ['retrying', 'SERVERPUSH_ERR_NETWORK', 'the connection closed (code 1006)', undefined],
    ['retrying', 'SERVERPUSH_ERR_NETWORK', 'the connection closed (code 1006)', undefined],
  ]);
});

test('websocket.open() retries the 1001 of a shutting-down server with capped, jittered backoff', async (t) => {
  const inner = websocket();
  const server = await pushServer(t, [inner]);
  const window = page(t, `${server.url}/items`);
  const waits: number[] = [];
  const connection = opened(t, window, `${server.base}/websocket`, await server.page(), {
    globals: {
      random: () => 0.5,
      setTimeout: (callback, ms) => {
        waits.push(ms);
        return setTimeout(callback, ms);
      },
    },
  });
  await connection.seen(1);
  inner.close?.();
  const shutdown = ['retrying', 'SERVERPUSH_ERR_CLOSED', 'the push server is shutting down; reconnect', undefined];
  t.deepEqual(await connection.seen(8), [
    ['connected'],
    shutdown,
    ['connected'],
    shutdown,
    ['connected'],
    shutdown,
    ['connected'],
    shutdown,
  ]);
  // Half of min(maxMs, initialMs * 2 ** failures): a connection closed at once is not a success.
  t.deepEqual(waits.slice(0, 4), [20, 40, 50, 50]);
});

test('websocket.open() does nothing more once a refresh stopped the session (the server closes with 1000)', async (t) => {
  const server = await pushServer(t, [websocket()], { maxCount: 1 });
  const window = page(t, `${server.url}/items`);
  const token = await server.page();
  await server.publish('a', 'b');
  const counted = countedGlobals(window);
  const connection = opened(t, window, `${server.base}/websocket`, token, { globals: counted.globals });
  t.deepEqual(await connection.seen(2), [['connected'], ['receive', ['refresh']]]);
  await until(() => counted.activity().length === 0);
  t.is(connection.events.length, 2);
});

test('websocket.open() retries a frame without messages as SERVERPUSH_ERR_BAD_RESPONSE', async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of wss.clients) socket.terminate();
        wss.close(() => resolve());
      }),
  );
  await new Promise((resolve) => wss.once('listening', resolve));
  wss.on('connection', (socket) => socket.send('<html>captive portal</html>'));
  const url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const window = page(t, `${url}/`);
  const connection = opened(t, window, `${url}/serverpush/websocket`, 'token');
  t.deepEqual(await connection.seen(3), [
    ['connected'],
    ['retrying', 'SERVERPUSH_ERR_BAD_RESPONSE', 'the server sent a frame without messages', undefined],
    ['connected'],
  ]);
});

test('websocket.open() derives wss: from https: and sends the token and the cursor', (t) => {
  const window = page(t, 'https://push.example/');
  const urls: string[] = [];
  window.WebSocket = class {
    onopen = null;
    onmessage = null;
    onclose = null;
    onerror = null;
    constructor(url: string) {
      urls.push(url);
    }
    close() {}
  } as unknown as typeof window.WebSocket;
  const session: TransportSession = {
    url: 'https://push.example/serverpush/websocket',
    ...onePage('TO+KEN/=', () => 'a.1/+'),
    globals: resolveGlobals(pageGlobals(window)),
    backoff: { initialMs: 40, maxMs: 100 },
    receive: () => {},
    connected: () => {},
    retrying: () => {},
    failed: () => {},
  };
  clientWebsocket.open(session)();
  t.deepEqual(urls, ['wss://push.example/serverpush/websocket?token=TO%2BKEN%2F%3D&cursor=a.1%2F%2B']);
});

test('websocket.open() stop function closes the socket, and the server holds nothing for it', async (t) => {
  const server = await pushServer(t, [websocket()]);
  const window = page(t, `${server.url}/items`);
  const connection = opened(t, window, `${server.base}/websocket`, await server.page());
  await connection.seen(1);
  await until(() => server.push.stats().waiting === 1);
  connection.stop();
  await until(() => server.push.stats().waiting === 0);
  t.is(server.push.stats().waiting, 0);
  t.is(connection.events.length, 1, 'nothing is reported after stop');
});
