// The WebSocket transport: the conformance suite over `ws`, then its close codes, heartbeat,
// slow-reader bound, shutdown, origin check and plain-HTTP answers.

import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, type ClientOptions } from 'ws';
import type { PushEndpoint, Transport } from '../../core/transport.ts';
import { websocket } from '../../transports/websocket.ts';
import { conformance, muxConformance, pushServer } from './conformance.ts';
import { websocketMux } from './drivers/mux.ts';
import { socketUrl, websocketDriver } from './drivers/websocket.ts';
import { captureConsole } from '../helpers/console.ts';

conformance(websocketDriver, () => websocket({ heartbeatMs: 500 }));
muxConformance(websocketMux, () => websocket({ heartbeatMs: 500 }));

interface Closed {
  readonly code: number;
  readonly reason: string;
}

/** A `ws` client, terminated at teardown; `closed` resolves with the code and reason it got. */
function client(t: ExecutionContext, url: string, options: ClientOptions = {}) {
  const socket = new WebSocket(url, options);
  socket.on('error', () => {});
  const frames: unknown[] = [];
  socket.on('message', (data) => frames.push(JSON.parse(String(data))));
  const closed = new Promise<Closed>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  t.teardown(() => socket.terminate());
  return { socket, frames, closed, opened: once(socket, 'open') };
}

/** Waits until `predicate()` holds, polling for at most `ms`. */
async function until(predicate: () => boolean, ms = 2_000) {
  const deadline = Date.now() + ms;
  while (!predicate() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return predicate();
}

test('websocket() rejects bad options with a TypeError naming the option', (t) => {
  t.throws(() => websocket({ heartbeatMs: 0 }), {
    instanceOf: TypeError,
    message: 'The `heartbeatMs` option must be a positive integer, got 0',
  });
  t.throws(() => websocket({ maxBufferedBytes: 1.5 }), {
    instanceOf: TypeError,
    message: 'The `maxBufferedBytes` option must be a positive integer, got 1.5',
  });
});

test('websocket() closes a refused connection with 4000 + status and the reason "CODE: message"', async (t) => {
  const server = await pushServer(t, [websocket()]);
  const token = await server.page();
  const badToken = client(t, socketUrl(server.base, 'eyJ2IjoxfQ.AAAA'));
  const badCursor = client(t, socketUrl(server.base, token, 'not-a-cursor'));
  const missing = client(t, `${server.base.replace(/^http/, 'ws')}/websocket`);
  t.deepEqual(await badToken.closed, {
    code: 4401,
    reason: 'SERVERPUSH_ERR_BAD_TOKEN: the page token signature does not verify',
  });
  t.deepEqual(await badCursor.closed, {
    code: 4400,
    reason: 'SERVERPUSH_ERR_BAD_CURSOR: cursor "not-a-cursor" is malformed',
  });
  t.deepEqual(await missing.closed, {
    code: 4401,
    reason: 'SERVERPUSH_ERR_BAD_TOKEN: the `token` parameter is required',
  });
  t.deepEqual([badToken.frames, badCursor.frames], [[], []], 'nothing is sent before the check');
});

test('websocket() cuts a long close reason to 123 bytes at a character boundary', async (t) => {
  const server = await pushServer(t, [websocket()]);
  const cursor = 'é'.repeat(64);
  const { closed } = client(t, socketUrl(server.base, await server.page(), cursor));
  const { code, reason } = await closed;
  t.is(code, 4400);
  t.true(Buffer.byteLength(reason) <= 123);
  t.true(reason.startsWith('SERVERPUSH_ERR_BAD_CURSOR: cursor "éé'));
  t.true(reason.endsWith('" is …'), reason);
});

test('websocket() sends a refresh as a frame, then closes with 1000', async (t) => {
  const server = await pushServer(t, [websocket()], { maxCount: 1 });
  const token = await server.page();
  await server.publish('a', 'b');
  const { frames, closed } = client(t, socketUrl(server.base, token));
  t.deepEqual(await closed, { code: 1000, reason: 'refresh' });
  t.deepEqual(frames, [{ messages: [{ name: 'refresh', reason: 'history' }] }]);
});

test('websocket() closes with 4422 when the update specs cannot be built, and logs the cause', async (t) => {
  const server = await pushServer(t, [websocket()]);
  const failure = new Error('an update function failed on purpose');
  server.push.global(() => {
    throw failure;
  });
  const logged = captureConsole(t, 'error');
  const { closed } = client(t, socketUrl(server.base, await server.page()));
  t.deepEqual(await closed, {
    code: 4422,
    reason: 'SERVERPUSH_ERR_PAGE: the update specs of the global update functions cannot be built; see the server log',
  });
  t.deepEqual(logged, [
    ['serverpush: internal error while building the update specs of the global update functions:', failure],
  ]);
});

test('websocket() close() closes open sockets with 1001 and a reconnect hint, and refuses new ones so', async (t) => {
  const transport = websocket();
  const server = await pushServer(t, [transport]);
  const token = await server.page();
  const open = client(t, socketUrl(server.base, token));
  await open.opened;
  t.true(await until(() => server.push.stats().waiting === 1));
  transport.close?.();
  const shutdown = { code: 1001, reason: 'SERVERPUSH_ERR_CLOSED: the push server is shutting down; reconnect' };
  t.deepEqual(await open.closed, shutdown);
  t.true(await until(() => server.push.stats().waiting === 0), 'the loop stopped');
  t.deepEqual(await client(t, socketUrl(server.base, token)).closed, shutdown);
});

test('websocket() is closed with 1001 by push.close()', async (t) => {
  const server = await pushServer(t, [websocket()]);
  const { opened, closed } = client(t, socketUrl(server.base, await server.page()));
  await opened;
  await server.push.close();
  t.is((await closed).code, 1001);
});

test('websocket() terminates a peer that does not answer pings within two heartbeat intervals', async (t) => {
  const heartbeatMs = 200;
  const server = await pushServer(t, [websocket({ heartbeatMs })]);
  const token = await server.page();
  const live = client(t, socketUrl(server.base, token));
  let pings = 0;
  live.socket.on('ping', () => {
    pings += 1;
  });
  const dead = client(t, socketUrl(server.base, await server.page()), { autoPong: false });
  await Promise.all([live.opened, dead.opened]);
  const started = Date.now();
  const { code } = await dead.closed;
  const elapsed = Date.now() - started;
  t.is(code, 1006, 'terminated without a closing handshake');
  t.true(elapsed >= heartbeatMs - 20 && elapsed <= 2 * heartbeatMs + 150, `closed after ${elapsed} ms`);
  const answered = pings;
  t.true(await until(() => pings >= answered + 4, 10 * heartbeatMs), 'four more pings, each answered');
  t.is(live.socket.readyState, WebSocket.OPEN, 'a peer that answers stays open');
  const batch = firstBatch(live.socket);
  t.true(await until(() => server.push.stats().waiting === 1));
  await server.publish('still here');
  t.like(await batch, { messages: [{ name: 'item', data: { title: 'still here' } }] });
});

/** The next frame a ws client receives, parsed. */
async function firstBatch(socket: WebSocket): Promise<unknown> {
  const [data] = (await once(socket, 'message')) as [Buffer];
  return JSON.parse(String(data));
}

test('websocket() ignores frames from the client and closes one that sends too much with 1009', async (t) => {
  const server = await pushServer(t, [websocket()]);
  const chatty = client(t, socketUrl(server.base, await server.page()));
  await chatty.opened;
  chatty.socket.send('hello');
  chatty.socket.send(Buffer.alloc(16));
  const batch = firstBatch(chatty.socket);
  t.true(await until(() => server.push.stats().waiting === 1));
  await server.publish('heard');
  t.like(await batch, { messages: [{ name: 'item', data: { title: 'heard' } }] });
  chatty.socket.send('x'.repeat(10_000));
  t.is((await chatty.closed).code, 1009);
  const after = client(t, socketUrl(server.base, await server.page()));
  await after.opened;
  t.is(after.socket.readyState, WebSocket.OPEN, 'the server still serves');
});

test('websocket() answers a GET without an upgrade 426 and other methods 405', async (t) => {
  const server = await pushServer(t, [websocket()]);
  const get = await fetch(`${server.base}/websocket?token=x`);
  t.is(get.status, 426);
  t.is(get.headers.get('upgrade'), 'websocket');
  t.deepEqual(await get.json(), {
    error: { code: 'SERVERPUSH_ERR_BAD_REQUEST', message: 'websocket answers WebSocket upgrade requests only' },
  });
  const post = await fetch(`${server.base}/websocket`, { method: 'POST' });
  t.is(post.status, 405);
  t.is(post.headers.get('allow'), 'GET');
});

test('websocket().handle() names attach() when an upgrade request reaches the HTTP handler', async (t) => {
  const server = await pushServer(t, [websocket()]);
  const request = {
    method: 'GET',
    query: '',
    headers: { upgrade: 'websocket' },
    onClose: () => () => {},
    gone: false,
  };
  const response = await websocket().handle(request, server.push.endpoint(undefined));
  t.is(response.status, 426);
  t.deepEqual(JSON.parse(String(response.body)), {
    error: {
      code: 'SERVERPUSH_ERR_BAD_REQUEST',
      message: 'WebSocket upgrades do not reach serverpush: call push.attach(server)',
    },
  });
});

test('websocket() upgrades from an allowed origin; attach() refuses any other with 403', async (t) => {
  const server = await pushServer(t, [websocket()], { origins: ['http://app.example:3000'] });
  const token = await server.page();
  const allowed = client(t, socketUrl(server.base, token), { origin: 'http://app.example:3000' });
  await allowed.opened;
  const refused = new WebSocket(socketUrl(server.base, token), { origin: 'http://evil.example' });
  refused.on('error', () => {});
  t.teardown(() => refused.terminate());
  const [, response] = (await once(refused, 'unexpected-response')) as [unknown, import('node:http').IncomingMessage];
  t.is(response.statusCode, 403);
  let body = '';
  for await (const chunk of response) body += String(chunk);
  t.deepEqual(JSON.parse(body), {
    error: {
      code: 'SERVERPUSH_ERR_ORIGIN',
      message: 'origin http://evil.example is not allowed; list it in the `origins` option',
    },
  });
});

/** Opens a WebSocket by hand on a raw TCP socket and stops reading once the handshake is done. */
async function stalledClient(t: ExecutionContext, url: string): Promise<Socket> {
  const { host, pathname, search } = new URL(url);
  const [hostname = '', port = ''] = host.split(':');
  const socket = connect(Number(port), hostname);
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');
  socket.write(
    `GET ${pathname}${search} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  let head = Buffer.alloc(0);
  while (!head.includes('\r\n\r\n')) head = Buffer.concat([head, (await once(socket, 'data'))[0] as Buffer]);
  t.true(head.toString('latin1').startsWith('HTTP/1.1 101 '));
  socket.pause();
  socket.unshift(head.subarray(head.indexOf('\r\n\r\n') + 4));
  return socket;
}

/** Server-to-client frames (unmasked, unfragmented) parsed from `data`: text frames as JSON, the close frame as its code and reason. */
function parseFrames(data: Buffer): unknown[] {
  const frames: unknown[] = [];
  let at = 0;
  while (at + 2 <= data.length) {
    const opcode = data[at]! & 0x0f;
    let length = data[at + 1]! & 0x7f;
    let start = at + 2;
    if (length === 126) [length, start] = [data.readUInt16BE(at + 2), at + 4];
    else if (length === 127) [length, start] = [Number(data.readBigUInt64BE(at + 2)), at + 10];
    if (start + length > data.length) break;
    const payload = data.subarray(start, start + length);
    if (opcode === 0x1) frames.push(JSON.parse(payload.toString('utf8')));
    if (opcode === 0x8) frames.push({ close: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') });
    at = start + length;
  }
  return frames;
}

test('websocket() tells a reader that stops reading to refresh and closes it with 1008, its unsent bytes bounded', async (t) => {
  const maxBufferedBytes = 256 * 1024;
  const frameBytes = 200 * 1024;
  const inner = websocket({ maxBufferedBytes, heartbeatMs: 30_000 });
  let serverSide: Duplex | undefined;
  let answered = 0;
  const transport: Transport = {
    ...inner,
    upgrade(request, socket, head, push) {
      serverSide = socket;
      // Counts the frames written with changes.
      const counted: PushEndpoint = {
        open: (sink) =>
          push.open({
            write(batches) {
              if (batches.length > 0) answered += 1;
              sink.write(batches);
            },
          }),
        check: (token, cursor) => push.check(token, cursor),
        reportError: (error, where) => push.reportError(error, where),
      };
      inner.upgrade?.(request, socket, head, counted);
    },
  };
  const server = await pushServer(t, [transport]);
  const stalled = await stalledClient(t, socketUrl(server.base, await server.page()));
  let most = 0;
  const sampler = setInterval(() => (most = Math.max(most, serverSide?.writableLength ?? 0)), 1);
  t.teardown(() => clearInterval(sampler));
  const big = 'x'.repeat(frameBytes);
  let published = 0;
  // Enough to fill the kernel's buffers on both ends, then the cap; bounded in count.
  while (published < 400 && (await until(() => server.push.stats().waiting === 1, 500))) {
    await server.publish(big);
    published += 1;
    // One change per frame: the held poll takes it before the next change is published.
    await until(() => answered === published, 500);
  }
  t.true(published < 400, 'the server stopped serving the stalled reader');
  // A frame is written only while the total stays under the cap (or onto an empty buffer).
  t.true(most > 0 && most <= maxBufferedBytes + 1_024, `at most ${most} bytes waited unsent`);
  stalled.resume();
  const received: Buffer[] = [];
  stalled.on('data', (chunk: Buffer) => received.push(chunk));
  await until(
    () => parseFrames(Buffer.concat(received)).some((frame) => (frame as { close?: number }).close !== undefined),
    10_000,
  );
  const frames = parseFrames(Buffer.concat(received));
  t.deepEqual(frames.slice(-2), [
    { messages: [{ name: 'refresh', reason: 'slow' }] },
    { close: 1008, reason: 'SERVERPUSH_ERR_SLOW_READER: the client read too slowly and must reload' },
  ]);
  t.true(frames.length - 2 < published, 'changes past the cap were not written');
});

/** Protocol violations a client can send right after the handshake; each makes `ws` emit `'error'`. */
const violations: ReadonlyArray<readonly [string, Buffer]> = [
  ['a frame with a reserved opcode', Buffer.from([0x83, 0x80, 0, 0, 0, 0])],
  ['an unmasked frame', Buffer.from([0x81, 0x02, 0x68, 0x69])],
  ['a frame with an RSV bit set', Buffer.from([0xc1, 0x80, 0, 0, 0, 0])],
  ['a frame over 1 KiB', Buffer.concat([Buffer.from([0x81, 0xfe, 0x08, 0x00, 0, 0, 0, 0]), Buffer.alloc(2048)])],
  ['a close frame with invalid UTF-8', Buffer.from([0x88, 0x84, 0, 0, 0, 0, 0x03, 0xe8, 0xff, 0xfe])],
];

test('websocket() survives protocol violations on refused, shutting-down and accepted sockets, and goes on serving', async (t) => {
  const transport = websocket();
  const server = await pushServer(t, [transport]);
  const token = await server.page();
  const sendAll = async (url: string) => {
    for (const [, frame] of violations) {
      const socket = await stalledClient(t, url);
      socket.resume();
      socket.write(frame);
      await Promise.race([once(socket, 'close'), new Promise((resolve) => setTimeout(resolve, 1_000))]);
    }
  };
  await sendAll(socketUrl(server.base, 'x'));
  await sendAll(socketUrl(server.base, token, 'not-a-cursor'));
  await sendAll(socketUrl(server.base, token));
  // The process is alive (an unhandled 'error' would have ended it) and a normal client is served.
  const healthy = client(t, socketUrl(server.base, token));
  await healthy.opened;
  await server.publish('still here');
  t.true(await until(() => healthy.frames.length > 0));
  transport.close?.();
  await sendAll(socketUrl(server.base, token));
  t.pass();
});
