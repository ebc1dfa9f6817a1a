// Tests of the same-origin proxy against real servers on loopback: a target that records what it
// gets, an "evil" server that must never be reached, and raw requests where fetch would tidy paths.

import { once } from 'node:events';
import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import Koa from 'koa';
import Router from '@koa/router';
import { WebSocket, WebSocketServer } from 'ws';
import { createPush } from '../../../adapters/koa/index.ts';
import { proxy, type ProxyOptions } from '../../../adapters/proxy/index.ts';
import { longPoll } from '../../../transports/long-poll.ts';
import { secret } from '../../helpers/push.ts';
import { listen } from '../../helpers/server.ts';
import { until } from '../../helpers/until.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A server that records every request and answers with what it saw, unless `handler` answers. */
async function recorder(t: ExecutionContext, handler?: (req: IncomingMessage, res: ServerResponse) => boolean) {
  const seen: Seen[] = [];
  const { url, server } = await listen(t, async (req, res) => {
    let body = '';
    if (handler?.(req, res))
      return seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    for await (const chunk of req) body += String(chunk);
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    res.setHeader('Set-Cookie', 'from=target');
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
  });
  return { url, server, seen, port: (server.address() as AddressInfo).port };
}

/** A Koa app with the proxy in front of a fallback that answers "app"; listens on loopback. */
async function app(t: ExecutionContext, options: Omit<ProxyOptions, 'server'>, withServer = false) {
  const koa = new Koa();
  const server: Server = createServer();
  koa.use(proxy({ ...options, ...(withServer ? { server } : {}) }));
  koa.use((ctx) => {
    ctx.body = `app ${ctx.path}`;
  });
  server.on('request', koa.callback());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port, server };
}

/** Sends `text` as-is on a new connection; resolves with the status, head and body of the answer. */
async function raw(port: number, text: string): Promise<{ status: number; head: string; body: string }> {
  const socket = connect(port, '127.0.0.1');
  socket.setTimeout(5_000, () => socket.destroy(new Error('raw request timed out')));
  // Written, not ended: Node's server takes a half-closed connection for a client gone away.
  socket.write(text);
  let answer = '';
  for await (const chunk of socket) answer += String(chunk);
  const [head = '', body = ''] = answer.split('\r\n\r\n', 2);
  return { status: Number(head.split(' ', 3)[1]), head, body };
}

/** Asserts that an answer's head carries the headers of every answer that is not a stream. */
function hardened(t: ExecutionContext, head: string, label?: string) {
  t.regex(head, /\r\nCache-Control: no-store\r\n/i, label);
  t.regex(head, /\r\nX-Content-Type-Options: nosniff\r\n/i, label);
}

function get(path: string, host: string, headers = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${headers}Connection: close\r\n\r\n`;
}

function upgrade(path: string, host: string, protocol = 'websocket'): string {
  const key =
    protocol === 'websocket' ? 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' : '';
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\n${key}\r\n`;
}

/** A request with headers fetch would refuse to send (Connection, Keep-Alive, TE, Proxy-*). */
async function send(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const req = request(url, { headers, agent: false });
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  let body = '';
  for await (const chunk of res) body += String(chunk);
  return { status: res.statusCode ?? 0, headers: res.headers, body };
}

/** A free loopback port: listened on, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

test('proxy() throws a TypeError naming target for anything but a bare http(s) origin', (t) => {
  const message =
    'The `target` option must be an absolute http: or https: URL with no credentials, path or query, like "http://127.0.0.1:8013"';
  for (const target of [
    '/serverpush',
    '127.0.0.1:8013',
    'ftp://127.0.0.1',
    'ws://127.0.0.1:8013',
    'http://user:pass@127.0.0.1:8013',
    'http://127.0.0.1:8013/push',
    'http://127.0.0.1:8013/?a=1',
    'http://127.0.0.1:8013?',
    'http://127.0.0.1:8013/#x',
    42,
    undefined,
  ]) {
    t.throws(() => proxy({ target } as unknown as ProxyOptions), { instanceOf: TypeError, message }, String(target));
  }
  t.notThrows(() => proxy({ target: 'https://push.internal:8443/' }));
  t.notThrows(() => proxy({ target: new URL('http://[::1]:8013') }));
});

test('proxy() throws TypeErrors naming prefix, timeoutMs and server', (t) => {
  const target = 'http://127.0.0.1:8013';
  for (const prefix of ['serverpush', '/serverpush/', '/a//b', '/a/../b', '/', '']) {
    t.throws(
      () => proxy({ target, prefix }),
      {
        instanceOf: TypeError,
        message: 'The `prefix` option must be a path like "/serverpush", without a trailing slash',
      },
      prefix,
    );
  }
  for (const timeoutMs of [0, -1, 1.5, Number.NaN, 2 ** 31]) {
    t.throws(() => proxy({ target, timeoutMs }), {
      instanceOf: TypeError,
      message: 'The `timeoutMs` option must be a positive integer of milliseconds',
    });
  }
  t.throws(() => proxy({ target, server: {} as Server }), {
    instanceOf: TypeError,
    message: "The `server` option must be the app's http.Server",
  });
  for (const maxFreeSockets of [0, -1, 1.5, Number.NaN, 2 ** 31]) {
    t.throws(() => proxy({ target, maxFreeSockets }), {
      instanceOf: TypeError,
      message: 'The `maxFreeSockets` option must be a positive integer',
    });
  }
});

test('proxy() forwards method, path, query and cookies but never a body, and answers with the target response', async (t) => {
  const target = await recorder(t);
  const { url } = await app(t, { target: target.url });
  const response = await fetch(`${url}/serverpush/long-poll?token=a.b&cursor=7`, {
    method: 'POST',
    body: 'ack=7',
    headers: { Cookie: 'session=s1; theme=dark' },
  });
  t.is(response.status, 200);
  t.is(response.headers.get('set-cookie'), 'from=target');
  const seen = (await response.json()) as Seen;
  t.is(seen.method, 'POST');
  t.is(seen.url, '/serverpush/long-poll?token=a.b&cursor=7');
  t.is(seen.body, '', 'no push endpoint takes a body');
  t.is(seen.headers['content-length'], '0');
  t.is(seen.headers['transfer-encoding'], undefined);
  t.is(seen.headers.cookie, 'session=s1; theme=dark');
  t.is(seen.headers.host, `127.0.0.1:${target.port}`, 'the target is addressed by its own host');
});

test('proxy() passes requests outside the prefix to the next middleware', async (t) => {
  const target = await recorder(t);
  const { url } = await app(t, { target: target.url });
  for (const path of ['/', '/serverpush', '/serverpushx/long-poll', '/other/serverpush/x', '/SERVERPUSH/long-poll']) {
    t.is(await (await fetch(`${url}${path}`)).text(), `app ${path}`);
  }
  t.is(target.seen.length, 0);
});

test('proxy() drops hop-by-hop headers in both directions', async (t) => {
  const target = await recorder(t, (req, res) => {
    res.writeHead(200, {
      'Keep-Alive': 'timeout=99',
      'Proxy-Authenticate': 'Basic',
      Connection: 'X-Target-Hop',
      'X-Target-Hop': '1',
      'X-Target-Kept': '1',
      Upgrade: 'h2c',
    });
    res.end(JSON.stringify(req.headers));
    return true;
  });
  const { url } = await app(t, { target: target.url });
  const response = await send(`${url}/serverpush/long-poll`, {
    Connection: 'keep-alive, X-Client-Hop',
    'X-Client-Hop': '1',
    'Keep-Alive': 'timeout=5',
    'Proxy-Authorization': 'Basic eDp5',
    TE: 'trailers',
    Upgrade: 'h2c',
    'X-Client-Kept': 'yes',
  });
  const forwarded = JSON.parse(response.body) as IncomingHttpHeaders;
  for (const name of ['x-client-hop', 'keep-alive', 'proxy-authorization', 'te', 'upgrade'])
    t.is(forwarded[name], undefined, name);
  t.is(forwarded['x-client-kept'], 'yes');
  for (const name of ['x-target-hop', 'proxy-authenticate', 'upgrade']) t.is(response.headers[name], undefined, name);
  t.is(response.headers['keep-alive'], 'timeout=5', "the app server's own, not the target's timeout=99");
  t.is(response.headers.connection, 'keep-alive');
  t.is(response.headers['x-target-kept'], '1');
});

test('proxy() appends X-Forwarded-For and sets X-Forwarded-Proto and X-Forwarded-Host from the app request', async (t) => {
  const target = await recorder(t);
  const { url, port } = await app(t, { target: target.url });
  const first = (await (await fetch(`${url}/serverpush/sse`)).json()) as Seen;
  t.is(first.headers['x-forwarded-for'], '127.0.0.1');
  t.is(first.headers['x-forwarded-proto'], 'http');
  t.is(first.headers['x-forwarded-host'], `127.0.0.1:${port}`);
  const spoofed = await send(`${url}/serverpush/sse`, {
    'X-Forwarded-For': '203.0.113.7',
    'X-Forwarded-Proto': 'https',
    'X-Forwarded-Host': 'bank.example',
  });
  const { headers } = JSON.parse(spoofed.body) as Seen;
  t.is(headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
  t.is(headers['x-forwarded-proto'], 'http', 'the app does not trust proxy headers (app.proxy is false)');
  t.is(headers['x-forwarded-host'], `127.0.0.1:${port}`);
});

test("proxy() turns the page's own Origin into the target's, and passes any other Origin unchanged", async (t) => {
  const target = await recorder(t);
  const { url } = await app(t, { target: target.url });
  const own = (await (
    await fetch(`${url}/serverpush/long-poll`, { method: 'POST', headers: { Origin: url } })
  ).json()) as Seen;
  t.is(own.headers.origin, target.url, "the push server's same-origin check holds for the page's own origin");
  const foreign = (await (
    await fetch(`${url}/serverpush/long-poll`, { method: 'POST', headers: { Origin: 'http://evil.example' } })
  ).json()) as Seen;
  t.is(foreign.headers.origin, 'http://evil.example', "left for the push server's `origins` to judge");
  const otherScheme = url.replace(/^http:/, 'https:');
  const scheme = (await (
    await fetch(`${url}/serverpush/long-poll`, { method: 'POST', headers: { Origin: otherScheme } })
  ).json()) as Seen;
  t.is(scheme.headers.origin, otherScheme, 'the same host under another scheme is another origin');
  const opaque = (await (
    await fetch(`${url}/serverpush/long-poll`, { method: 'POST', headers: { Origin: 'null' } })
  ).json()) as Seen;
  t.is(opaque.headers.origin, 'null');
});

test('proxy() forwards a held long-poll request and its late answer', async (t) => {
  const target = await recorder(t, (_req, res) => {
    setTimeout(() => res.end('{"messages":[]}'), 300);
    return true;
  });
  const { url } = await app(t, { target: target.url });
  const started = Date.now();
  const response = await fetch(`${url}/serverpush/long-poll?token=x`);
  t.is(await response.text(), '{"messages":[]}');
  t.true(Date.now() - started >= 290);
});

test('proxy() streams server-sent events: the first event arrives before the second is written', async (t) => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let secondWritten = false;
  const target = await recorder(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
    res.write('id: 1\ndata: first\n\n');
    void released.then(() => {
      secondWritten = true;
      res.end('id: 2\ndata: second\n\n');
    });
    return true;
  });
  const { url } = await app(t, { target: target.url });
  const response = await fetch(`${url}/serverpush/sse?token=x`);
  t.is(response.headers.get('content-type'), 'text/event-stream');
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let received = '';
  while (!received.includes('data: first\n\n')) {
    const { value, done } = await within(reader.read(), 2_000, 'the first event');
    if (done) break;
    received += value;
  }
  t.false(secondWritten, 'the first event came through before the target wrote the second');
  release();
  for (let reads = 0; reads < 10; reads++) {
    const { value, done } = await within(reader.read(), 2_000, 'the end of the stream');
    if (done) break;
    received += value;
  }
  t.is(received, 'id: 1\ndata: first\n\nid: 2\ndata: second\n\n');
});

test('proxy() closes the target request when the client disconnects', async (t) => {
  let arrived!: () => void;
  const held = new Promise<void>((resolve) => (arrived = resolve));
  let targetClosed!: () => void;
  const closed = new Promise<void>((resolve) => (targetClosed = resolve));
  const target = await recorder(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write(': open\n\n');
    res.once('close', () => targetClosed());
    arrived();
    return true;
  });
  const { url } = await app(t, { target: target.url });
  const controller = new AbortController();
  const response = await fetch(`${url}/serverpush/sse?token=x`, { signal: controller.signal });
  await within(held, 2_000, 'the request reaching the target');
  t.is(response.status, 200);
  controller.abort();
  await within(closed, 2_000, 'the target seeing its request closed');
  t.pass();
});

test('proxy() answers 502 SERVERPUSH_ERR_PROXY when the target refuses connections, and the app goes on', async (t) => {
  const { url } = await app(t, { target: `http://127.0.0.1:${await closedPort()}` });
  const response = await fetch(`${url}/serverpush/long-poll?token=x`);
  t.is(response.status, 502);
  t.deepEqual(await response.json(), {
    error: { code: 'SERVERPUSH_ERR_PROXY', message: 'the push server cannot be reached' },
  });
  t.is(response.headers.get('cache-control'), 'no-store');
  t.is(response.headers.get('x-content-type-options'), 'nosniff');
  t.is(await (await fetch(`${url}/`)).text(), 'app /');
});

test('proxy() answers 504 when the target sends nothing for timeoutMs, and cuts a stream that falls silent', async (t) => {
  const target = await recorder(t, (req, res) => {
    if (req.url?.includes('stream')) {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(': open\n\n');
    }
    return true;
  });
  const { url } = await app(t, { target: target.url, timeoutMs: 200 });
  const started = Date.now();
  const response = await fetch(`${url}/serverpush/long-poll?token=x`);
  t.is(response.status, 504);
  t.deepEqual(await response.json(), {
    error: { code: 'SERVERPUSH_ERR_PROXY_TIMEOUT', message: 'the push server sent nothing for 200 ms' },
  });
  t.is(response.headers.get('cache-control'), 'no-store');
  t.is(response.headers.get('x-content-type-options'), 'nosniff');
  t.true(Date.now() - started >= 190);
  const stream = await fetch(`${url}/serverpush/stream`);
  t.is(stream.status, 200);
  await t.throwsAsync(within(stream.text(), 2_000, 'the silent stream being cut'), { message: 'terminated' });
  t.is(await (await fetch(`${url}/`)).text(), 'app /');
});

test('proxy() answers 502 when the target sends what Node will not forward, and the app goes on', async (t) => {
  const answers = [
    'HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok',
    'HTTP/1.1 200 OK\r\nX-Bad: a\u0001b\r\nContent-Length: 2\r\n\r\nok',
    'garbage\r\n\r\n',
  ];
  for (const answer of answers) {
    const target = createNetServer((socket) => socket.once('data', () => socket.end(answer)));
    target.listen(0, '127.0.0.1');
    await once(target, 'listening');
    t.teardown(() => target.close());
    const { url } = await app(t, { target: `http://127.0.0.1:${(target.address() as AddressInfo).port}` });
    const response = await fetch(`${url}/serverpush/long-poll`);
    t.is(response.status, 502, JSON.stringify(answer));
    t.deepEqual(await response.json(), {
      error: { code: 'SERVERPUSH_ERR_PROXY', message: 'the push server sent an answer that cannot be forwarded' },
    });
    t.is(await (await fetch(`${url}/`)).text(), 'app /');
  }
});

test('proxy() refuses path escapes with 400 and neither the target nor an evil server sees them', async (t) => {
  const target = await recorder(t);
  const evil = await recorder(t);
  const { port } = await app(t, { target: target.url });
  const host = `127.0.0.1:${port}`;
  const evilHost = `127.0.0.1:${evil.port}`;
  const refused = {
    '/serverpush/../admin': 'dot segments (. and ..) are not forwarded',
    '/serverpush/./long-poll': 'dot segments (. and ..) are not forwarded',
    '/serverpush/long-poll/..': 'dot segments (. and ..) are not forwarded',
    '/serverpush/%2e%2e/admin': 'encoded dots, slashes and backslashes are not forwarded',
    '/serverpush/.%2E/admin': 'encoded dots, slashes and backslashes are not forwarded',
    '/serverpush/..%2fadmin': 'encoded dots, slashes and backslashes are not forwarded',
    [`/serverpush/%2F%2F${evilHost}/x`]: 'encoded dots, slashes and backslashes are not forwarded',
    '/serverpush/x%5c..%5cadmin': 'encoded dots, slashes and backslashes are not forwarded',
    '/serverpush/..\\admin': 'path segments may hold only letters, digits, "-._~" and percent-escapes',
    [`/serverpush/\\\\${evilHost}\\x`]: 'path segments may hold only letters, digits, "-._~" and percent-escapes',
    [`/serverpush//${evilHost}/x`]: 'empty path segments (//) are not forwarded',
    '/serverpush/a//b': 'empty path segments (//) are not forwarded',
    '/serverpush/@evil:1/x': 'path segments may hold only letters, digits, "-._~" and percent-escapes',
    [`http://${evilHost}/serverpush/long-poll`]: 'absolute-form request targets are not forwarded',
    [`HTTP://${host}/serverpush/long-poll`]: 'absolute-form request targets are not forwarded',
  };
  for (const [path, message] of Object.entries(refused)) {
    const answer = await raw(port, get(path, host));
    t.is(answer.status, 400, path);
    t.deepEqual(JSON.parse(answer.body), { error: { code: 'SERVERPUSH_ERR_BAD_REQUEST', message } }, path);
    hardened(t, answer.head, path);
  }
  t.is(target.seen.length, 0, 'the target saw none of the refused requests');

  // Host header tricks and a query that looks like a path reach the target, and only the target.
  const forwarded = [
    get('/serverpush/long-poll', evilHost),
    get('/serverpush/long-poll', 'evil.example', `X-Forwarded-Host: ${evilHost}\r\n`),
    get(`/serverpush/long-poll?next=/../../${evilHost}/admin`, host),
    get(`/serverpush/long-poll?@${evilHost}/`, host),
  ];
  for (const text of forwarded) t.is((await raw(port, text)).status, 200, text);
  t.deepEqual(
    target.seen.map((seen) => [seen.url, seen.headers.host]),
    [
      ['/serverpush/long-poll', `127.0.0.1:${target.port}`],
      ['/serverpush/long-poll', `127.0.0.1:${target.port}`],
      [`/serverpush/long-poll?next=/../../${evilHost}/admin`, `127.0.0.1:${target.port}`],
      [`/serverpush/long-poll?@${evilHost}/`, `127.0.0.1:${target.port}`],
    ],
  );
  t.is(target.seen[0]?.headers['x-forwarded-host'], evilHost, 'the Host the app saw, as information only');

  // An absolute-form target outside the prefix is the app's business, not forwarded.
  t.is((await raw(port, get(`http://${evilHost}/other`, host))).body, 'app /other');
  t.is(evil.seen.length, 0, 'the evil server received nothing');
});

/** A WebSocket target: greets, echoes with a prefix, records upgrade requests and closes. */
async function wsTarget(t: ExecutionContext) {
  const upgrades: IncomingMessage[] = [];
  const closes: number[] = [];
  const { url, server } = await listen(t, (_req, res) => res.end('not a websocket'));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    upgrades.push(req);
    socket.send('hello');
    socket.on('message', (data) => socket.send(`echo ${String(data)}`));
    socket.on('close', (code) => closes.push(code));
  });
  t.teardown(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  return { url, upgrades, closes };
}

async function opened(
  t: ExecutionContext,
  url: string,
  origin?: string,
): Promise<{ socket: WebSocket; messages: string[]; next(): Promise<string> }> {
  const socket = new WebSocket(url, origin === undefined ? {} : { origin });
  t.teardown(() => socket.terminate());
  const messages: string[] = [];
  const waiting: ((message: string) => void)[] = [];
  socket.on('message', (data) => {
    const message = String(data);
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else messages.push(message);
  });
  await within(once(socket, 'open'), 2_000, 'the WebSocket opening');
  const next = () =>
    messages.length > 0
      ? Promise.resolve(messages.shift()!)
      : within(new Promise<string>((resolve) => waiting.push(resolve)), 2_000, 'a message');
  return { socket, messages, next };
}

test('proxy() forwards WebSocket upgrades under the prefix on the app server, messages both ways', async (t) => {
  const target = await wsTarget(t);
  const { port } = await app(t, { target: target.url }, true);
  const { socket, next } = await opened(
    t,
    `ws://127.0.0.1:${port}/serverpush/websocket?token=x`,
    `http://127.0.0.1:${port}`,
  );
  t.is(await next(), 'hello');
  socket.send('ping');
  t.is(await next(), 'echo ping');
  const [upgrade] = target.upgrades;
  t.is(upgrade?.url, '/serverpush/websocket?token=x');
  t.is(upgrade?.headers.host, new URL(target.url).host);
  t.is(upgrade?.headers['x-forwarded-for'], '127.0.0.1');
  t.is(upgrade?.headers['x-forwarded-proto'], 'http');
  t.is(upgrade?.headers['x-forwarded-host'], `127.0.0.1:${port}`);
  t.is(upgrade?.headers.origin, target.url, "the page's own origin, as the push server's");
  socket.close(1000);
  await until(() => target.closes.length > 0);
  t.deepEqual(target.closes, [1000], 'the close reaches the target');
});

test("proxy() passes on the push server's refusal of an upgrade, then closes the connection", async (t) => {
  const { url: targetUrl, server: target } = await listen(t, (_req, res) => res.end('not a websocket'));
  target.on('upgrade', (_req, socket) =>
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{"no":"entry"}'),
  );
  const { port } = await app(t, { target: targetUrl }, true);
  const answer = await raw(port, upgrade('/serverpush/websocket?token=x', `127.0.0.1:${port}`));
  t.is(answer.status, 403);
  t.regex(answer.head, /\r\ncontent-type: application\/json\r\n/i);
  t.regex(answer.head, /\r\nconnection: close(\r\n|$)/i);
  t.is(answer.body, '{"no":"entry"}');
});

test('proxy() leaves other upgrades to other listeners, and refuses them when it listens alone', async (t) => {
  const target = await wsTarget(t);
  const { port, server } = await app(t, { target: target.url }, true);
  const alone = await raw(port, upgrade('/chat', `127.0.0.1:${port}`));
  t.is(alone.status, 404);
  hardened(t, alone.head);
  const chat = new WebSocketServer({ noServer: true });
  chat.on('connection', (socket) => socket.send('chat'));
  server.on('upgrade', (req, socket, head) => {
    if (req.url === '/chat') chat.handleUpgrade(req, socket, head, (ws) => chat.emit('connection', ws, req));
  });
  t.teardown(() => new Promise<void>((resolve) => chat.close(() => resolve())));
  const { next } = await opened(t, `ws://127.0.0.1:${port}/chat`);
  t.is(await next(), 'chat');
  t.is(target.upgrades.length, 0);
});

test('proxy() refuses upgrade escapes and non-WebSocket upgrades, and reports an unreachable target with 502', async (t) => {
  const target = await wsTarget(t);
  const evil = await recorder(t);
  const { port } = await app(t, { target: target.url }, true);
  const host = `127.0.0.1:${port}`;
  const escapes = [
    '/serverpush/../admin',
    '/serverpush/%2e%2e/admin',
    `/serverpush//127.0.0.1:${evil.port}/x`,
    `http://127.0.0.1:${evil.port}/serverpush/websocket`,
  ];
  for (const path of escapes) t.is((await raw(port, upgrade(path, host))).status, 400, path);
  const withBody = await raw(
    port,
    upgrade('/serverpush/websocket', host).replace('\r\n\r\n', '\r\nContent-Length: 5\r\n\r\nhello'),
  );
  t.is(withBody.status, 400);
  t.deepEqual(JSON.parse(withBody.body), {
    error: { code: 'SERVERPUSH_ERR_BAD_REQUEST', message: 'GET requests with a body are not forwarded' },
  });
  const h2c = await raw(port, upgrade('/serverpush/websocket', host, 'h2c'));
  t.is(h2c.status, 400);
  t.deepEqual(JSON.parse(h2c.body), {
    error: { code: 'SERVERPUSH_ERR_BAD_REQUEST', message: 'only WebSocket upgrades are forwarded' },
  });
  hardened(t, h2c.head);
  t.is(target.upgrades.length, 0);
  t.is(evil.seen.length, 0);

  const gone = await app(t, { target: `http://127.0.0.1:${await closedPort()}` }, true);
  const answer = await raw(gone.port, upgrade('/serverpush/websocket', `127.0.0.1:${gone.port}`));
  t.is(answer.status, 502);
  t.deepEqual(JSON.parse(answer.body), {
    error: { code: 'SERVERPUSH_ERR_PROXY', message: 'the push server cannot be reached' },
  });
  hardened(t, answer.head);

  const { server: silentServer, url: silentUrl } = await listen(t, () => {});
  silentServer.on('upgrade', (_req, socket) => t.teardown(() => socket.destroy()));
  const silent = await app(t, { target: silentUrl, timeoutMs: 200 }, true);
  const timedOut = await raw(silent.port, upgrade('/serverpush/websocket', `127.0.0.1:${silent.port}`));
  t.is(timedOut.status, 504);
  t.deepEqual(JSON.parse(timedOut.body), {
    error: { code: 'SERVERPUSH_ERR_PROXY_TIMEOUT', message: 'the push server sent nothing for 200 ms' },
  });
  hardened(t, timedOut.head);
});

test('proxy() refuses a body on GET, HEAD, DELETE and OPTIONS with 400 and forwards none of it', async (t) => {
  const target = await recorder(t);
  const { port } = await app(t, { target: target.url });
  const host = `127.0.0.1:${port}`;
  // A chunked body on a GET: forwarded without its framing, it would reach the push server as a
  // second request of the proxy's making.
  const smuggled = `GET /serverpush/client.js HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
  const chunked = `Transfer-Encoding: chunked\r\n\r\n${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
  const requests = {
    GET: `GET /serverpush/long-poll HTTP/1.1\r\nHost: ${host}\r\n${chunked}`,
    HEAD: `HEAD /serverpush/long-poll HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\n\r\nhello`,
    DELETE: `DELETE /serverpush/long-poll HTTP/1.1\r\nHost: ${host}\r\n${chunked}`,
    OPTIONS: `OPTIONS /serverpush/long-poll HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 3\r\n\r\nabc`,
  };
  for (const [method, text] of Object.entries(requests)) {
    const answer = await raw(port, text);
    t.is(answer.status, 400, method);
    if (method !== 'HEAD') {
      t.deepEqual(
        JSON.parse(answer.body),
        { error: { code: 'SERVERPUSH_ERR_BAD_REQUEST', message: `${method} requests with a body are not forwarded` } },
        method,
      );
    }
    hardened(t, answer.head, method);
  }
  const empty = `GET /serverpush/long-poll HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
  t.is((await raw(port, empty)).status, 200, 'Content-Length: 0 is no body');
  t.deepEqual(
    target.seen.map(({ method, url }) => `${method} ${url}`),
    ['GET /serverpush/long-poll'],
    'the push server saw neither the refused requests nor the smuggled one',
  );
});

test("proxy() answers a POST with a large body with the push server's own 405, never 502", async (t) => {
  const push = createPush({ secret, router: new Router(), transports: [longPoll({ timeoutMs: 100 })] });
  t.teardown(() => push.close());
  const pushServer = await listen(t, new Koa().use(push.routes()).callback());
  const { url } = await app(t, { target: pushServer.url });
  for (const size of [1, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024]) {
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      const response = await fetch(`${url}/serverpush/long-poll?token=x`, { method: 'POST', body: 'x'.repeat(size) });
      const label = `${size} bytes, attempt ${attempt}`;
      t.is(response.status, 405, label);
      t.is(response.headers.get('allow'), 'GET', label);
      t.deepEqual(
        await response.json(),
        { error: { code: 'SERVERPUSH_ERR_BAD_REQUEST', message: 'long-poll accepts GET only' } },
        label,
      );
    }
  }
});

test('proxy() reuses one upstream connection for sequential requests', async (t) => {
  const target = await recorder(t);
  let connections = 0;
  target.server.on('connection', () => (connections += 1));
  const { url } = await app(t, { target: target.url });
  for (let request = 1; request <= 3; request += 1) {
    t.is((await fetch(`${url}/serverpush/long-poll?token=x`)).status, 200);
  }
  t.is(connections, 1);
  t.is(target.seen[0]?.headers.connection, 'keep-alive');
});

test('proxy() keeps at most maxFreeSockets idle upstream connections', async (t) => {
  let waiting: (() => void)[] = [];
  let connections = 0;
  // Holds each request until three are in, so that three upstream connections are open at once.
  const { url: targetUrl, server } = await listen(t, (_req, res) => {
    waiting.push(() => res.end('ok'));
    if (waiting.length === 3) {
      for (const answer of waiting) answer();
      waiting = [];
    }
  });
  server.on('connection', () => (connections += 1));
  const { url } = await app(t, { target: targetUrl, maxFreeSockets: 1 });
  const three = () =>
    Promise.all(
      [1, 2, 3].map(() =>
        within(
          fetch(`${url}/serverpush/sse`).then((r) => r.text()),
          2_000,
          'answers',
        ),
      ),
    );
  t.deepEqual(await three(), ['ok', 'ok', 'ok']);
  t.is(connections, 3);
  t.deepEqual(await three(), ['ok', 'ok', 'ok']);
  t.is(connections, 5, 'one idle connection was kept and reused, two were closed');
});
