// Fuzz: thousands of malformed requests and WebSocket frames against every endpoint of a real push
// server, before and after refused and accepted handshakes. The library answers none with a 5xx,
// reports no internal error, the process survives, and a normal client is served afterwards.
// (Bounded: about 3,000 requests and 1,000 sockets in well under a minute; bench/fuzz.ts runs more.)

import test from 'ava';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { WebSocket } from 'ws';
import { jsonp } from '../../transports/jsonp.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { sse } from '../../transports/sse.ts';
import { websocket } from '../../transports/websocket.ts';
import { pushServer } from '../transports/conformance.ts';

/** A small deterministic random source, so a failing run can be repeated. */
function seeded(seed: number) {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, pick, bytes };
}

const random = seeded(20_261_129);

/** Something a client might put where a token, cursor, callback, key or id goes. */
function junk(valid: readonly string[]): string {
  switch (random.int(9)) {
    case 0:
      return random.pick(valid);
    case 1:
      return random.pick(valid).slice(0, random.int(60));
    case 2:
      return `${random.pick(valid)}${random.pick(['.', '~', '%', '%zz', '\u0000', '\u2028', '..', '/'])}`;
    case 3:
      return 'x'.repeat(random.pick([0, 1, 129, 1_025, 9_000]));
    case 4:
      return encodeURIComponent(random.bytes(random.int(40)).toString('latin1'));
    case 5:
      return random.pick(['%', '%E0%A4%A', '%FF', '%00', '+%2B+', '&&&', '==', '~~~', 'null', 'undefined', '[]', '{}']);
    case 6:
      return random.bytes(random.int(30)).toString('base64url');
    case 7:
      return `${random.pick(valid)}.${random.int(1_000_000).toString(36)}`;
    default:
      return String(random.int(10) - 5);
  }
}

function query(token: string, cursor: string): string {
  const parts: string[] = [];
  const names = ['token', 'cursor', 'callback', 'p', 'mux', 'x', '', 'p'];
  for (let i = random.int(6); i >= 0; i -= 1) {
    const name = random.pick(names);
    const value =
      name === 'p'
        ? `${junk(['k1', 'a', '', 'bad key'])}~${junk([cursor, ''])}~${junk([token])}`
        : junk([token, cursor, 'cb', 'a.b', '1']);
    parts.push(
      random.next() < 0.1
        ? value
        : `${encodeURIComponent(name)}=${random.next() < 0.5 ? encodeURIComponent(value) : value}`,
    );
  }
  return parts.join('&');
}

interface Answer {
  readonly status: number;
  readonly body: string;
}

function send(url: URL, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    // Node's client refuses to send some characters at all; a browser would escape them.
    const sendable = path.replace(/[^\x21-\x7e]/g, (char) => encodeURIComponent(char));
    for (const [name, value] of Object.entries(headers)) headers[name] = value.replace(/[^\x20-\x7e]/g, '?');
    const outgoing = request({ host: url.hostname, port: url.port, method, path: sendable, headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
        // Streams (SSE) stay open: their first bytes are enough.
        if (text.length > 0 && response.headers['content-type']?.startsWith('text/event-stream')) outgoing.destroy();
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      response.on('close', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    outgoing.setTimeout(1_500, () => outgoing.destroy());
    outgoing.on('error', () => resolve({ status: -1, body: '' }));
    outgoing.end(body);
  });
}

test('every endpoint survives thousands of malformed requests and frames without a 5xx, and serves a normal client afterwards', async (t) => {
  t.timeout(90_000);
  const reported: unknown[] = [];
  const server = await pushServer(
    t,
    [
      longPoll({ timeoutMs: 200 }),
      sse({ heartbeatMs: 200 }),
      jsonp({ timeoutMs: 200 }),
      websocket({ heartbeatMs: 1_000 }),
    ],
    { silent: true },
  );
  // Internal errors are the library's bugs: none may be reported.
  (server.push as unknown as { reportError: (error: unknown) => void }).reportError = (error) => reported.push(error);
  const token = await server.page();
  const [change] = await server.publish('seed');
  const cursor = change!.cursor;
  const url = new URL(server.base);
  const paths = [
    'long-poll',
    'sse',
    'jsonp',
    'websocket',
    'client.js',
    'nope',
    '',
    '../items',
    '%2e%2e/items',
    'long-poll/',
  ];
  const methods = ['GET', 'GET', 'GET', 'POST', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH', 'TRACE'];
  const statuses = new Map<number, number>();
  const fives: Answer[] = [];

  // HTTP requests, 25 at a time.
  for (let round = 0; round < 120; round += 1) {
    const batch = Array.from({ length: 25 }, () => {
      const headers: Record<string, string> = {};
      if (random.next() < 0.3) headers['Last-Event-ID'] = junk([cursor, `k1=${cursor}`, 'a=b,c=d']);
      if (random.next() < 0.2)
        headers['Origin'] = random.pick(['http://evil.example', 'null', server.url, 'http://127.0.0.1', '%%%']);
      if (random.next() < 0.1) headers['Cookie'] = junk(['a=b', 'koa.sess=x']);
      if (random.next() < 0.1) headers['Upgrade'] = 'websocket';
      const body = random.next() < 0.1 ? random.bytes(random.int(2_000)) : undefined;
      return send(
        url,
        random.pick(methods),
        `/serverpush/${random.pick(paths)}?${query(token, cursor)}`,
        headers,
        body,
      );
    });
    for (const answer of await Promise.all(batch)) {
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status >= 500 && answer.status !== 503) fives.push(answer);
    }
  }

  // Raw bytes on the HTTP port: garbage request lines, bad chunking, half requests.
  for (let i = 0; i < 100; i += 1) {
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(
      random.pick([
        random.bytes(random.int(200)),
        Buffer.from(
          `GET /serverpush/long-poll?token=${token} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`,
        ),
        Buffer.from('GET /serverpush/sse HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n'),
        Buffer.from(`GET /serverpush/jsonp?callback=${'a'.repeat(10_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
      ]),
    );
    setTimeout(() => socket.destroy(), 50);
  }

  // WebSocket: frames before and after refused, one-page and shared handshakes.
  const socketUrls = [
    `/serverpush/websocket?token=x`,
    `/serverpush/websocket?token=${token}&cursor=${cursor}`,
    `/serverpush/websocket?token=${token}&cursor=bad`,
    '/serverpush/websocket?mux=1',
    '/serverpush/websocket?mux=1&token=x',
  ];
  const frames = () =>
    random.pick<Buffer | string>([
      random.bytes(random.int(100)),
      JSON.stringify({
        add: [{ key: junk(['k1', 'k2']), token: junk([token]), cursor: junk([cursor]) }],
        remove: [junk(['k1'])],
      }),
      JSON.stringify({ add: 'x' }),
      JSON.stringify({ add: [null, 1, 'a', { key: 'k' }] }),
      '{',
      'null',
      JSON.stringify({ add: Array.from({ length: 50 }, (_, n) => ({ key: `k${n}`, token, cursor })) }),
      'x'.repeat(70_000),
    ]);
  for (let round = 0; round < 40; round += 1) {
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const socket = new WebSocket(`ws://${url.host}${random.pick(socketUrls)}`);
        socket.on('error', () => {});
        const opened = await Promise.race([
          once(socket, 'open').then(() => true),
          once(socket, 'close').then(() => false),
        ]).catch(() => false);
        if (opened) {
          for (let n = random.int(4); n >= 0 && socket.readyState === WebSocket.OPEN; n -= 1) socket.send(frames());
        }
        await new Promise((resolve) => setTimeout(resolve, random.int(30)));
        socket.terminate();
      }),
    );
  }
  // Protocol violations on raw upgraded sockets (reserved opcodes, unmasked, RSV bits).
  for (let i = 0; i < 60; i += 1) {
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(
      `GET ${random.pick(socketUrls)} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await Promise.race([once(socket, 'data'), new Promise((resolve) => setTimeout(resolve, 200))]);
    socket.write(random.bytes(random.int(64) + 2));
    setTimeout(() => socket.destroy(), 20);
  }

  t.log(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
  t.deepEqual(fives.slice(0, 3), [], 'no 5xx from the library');
  t.deepEqual(reported, [], 'no internal error');

  // A normal client is still served.
  const fresh = await server.page();
  const polled = fetch(`${server.base}/long-poll?token=${fresh}`).then(async (response) => {
    t.is(response.status, 204, 'the first poll is answered at once');
    return fetch(`${server.base}/long-poll?token=${fresh}`);
  });
  setTimeout(() => void server.publish('after the storm'), 100);
  const answer = await polled;
  t.is(answer.status, 200);
  t.like(await answer.json(), { messages: [{ data: { title: 'after the storm' } }] });
});
