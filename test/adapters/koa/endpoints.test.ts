// The push endpoints' Origin check: a browser's Origin must be the request's own origin (scheme,
// host and port) or listed in `origins`, for polls and WebSocket upgrades alike.

import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { WebSocket } from 'ws';
import { createPush } from '../../../adapters/koa/index.ts';
import { longPoll } from '../../../transports/long-poll.ts';
import { websocket } from '../../../transports/websocket.ts';
import { page, secret } from '../../helpers/push.ts';

/**
 * A push server on a plain-HTTP loopback port; `origins` is given its own origin (to list the
 * same host under another scheme) before the push instance is made.
 */
async function pushServer(
  t: ExecutionContext,
  { origins = () => [], proxy = false }: { origins?: (own: string) => string[]; proxy?: boolean } = {},
) {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const push = createPush({
    secret,
    router: new Router(),
    origins: origins(host),
    transports: [websocket(), longPoll({ timeoutMs: 100 })],
  });
  const app = new Koa();
  app.proxy = proxy;
  server.on('request', app.use(push.routes()).callback());
  push.attach(server);
  t.teardown(async () => {
    await push.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const token = await page(push);
  /** A first poll (answered at once) with `headers`: its status and error body, if any. */
  const poll = async (headers: Record<string, string>) => {
    const response = await fetch(`http://${host}/serverpush/long-poll?token=${token}`, { headers });
    return { status: response.status, body: response.status === 204 ? undefined : await response.json() };
  };
  /** A WebSocket upgrade from `origin`: `'open'`, or the status it was refused with. */
  const upgrade = async (origin: string): Promise<'open' | number> => {
    const socket = new WebSocket(`ws://${host}/serverpush/websocket?token=${token}`, { origin });
    socket.on('error', () => {});
    t.teardown(() => socket.terminate());
    const outcome = await Promise.race([
      once(socket, 'open').then(() => 'open' as const),
      once(socket, 'unexpected-response').then(([, response]) => (response as IncomingMessage).statusCode ?? 0),
    ]);
    socket.terminate();
    return outcome;
  };
  return { host, poll, upgrade };
}

const refused = (origin: string) => ({
  status: 403,
  body: {
    error: {
      code: 'SERVERPUSH_ERR_ORIGIN',
      message: `origin ${origin} is not allowed; list it in the \`origins\` option`,
    },
  },
});

test("routes() answers a browser whose Origin is the request's own origin, and refuses the same host under another scheme or port", async (t) => {
  const { host, poll } = await pushServer(t);
  t.deepEqual(await poll({ Origin: `http://${host}` }), { status: 204, body: undefined });
  t.deepEqual(await poll({ Origin: `http://${host.toUpperCase()}` }), { status: 204, body: undefined }, 'case');
  t.deepEqual(await poll({}), { status: 204, body: undefined }, 'no Origin: not a browser, or same-origin GET');
  for (const origin of [`https://${host}`, 'http://127.0.0.1:1', 'null', 'http://127.0.0.1']) {
    t.deepEqual(await poll({ Origin: origin }), refused(origin), origin);
  }
});

test('routes() takes the scheme from X-Forwarded-Proto only when app.proxy is set, as ctx.protocol does', async (t) => {
  const trusting = await pushServer(t, { proxy: true });
  const https = { Origin: `https://${trusting.host}`, 'X-Forwarded-Proto': 'https' };
  t.deepEqual(await trusting.poll(https), { status: 204, body: undefined });
  const plain = { Origin: `http://${trusting.host}`, 'X-Forwarded-Proto': 'https' };
  t.deepEqual(await trusting.poll(plain), refused(plain.Origin));

  const strict = await pushServer(t);
  const spoofed = { Origin: `https://${strict.host}`, 'X-Forwarded-Proto': 'https' };
  t.deepEqual(await strict.poll(spoofed), refused(spoofed.Origin));
});

test('routes() still answers an origin listed in `origins` whatever the scheme of the request', async (t) => {
  const { host, poll } = await pushServer(t, { origins: (own) => [`https://${own}`] });
  t.deepEqual(await poll({ Origin: `https://${host}` }), { status: 204, body: undefined });
  t.deepEqual(await poll({ Origin: `http://${host}` }), { status: 204, body: undefined });
});

test("attach() lets in an upgrade whose Origin is the connection's own origin and refuses another scheme with 403", async (t) => {
  const { host, upgrade } = await pushServer(t);
  t.is(await upgrade(`http://${host}`), 'open');
  t.is(await upgrade(`https://${host}`), 403, 'a plain connection is not https, whatever its headers say');
  t.is(await upgrade('http://127.0.0.1:1'), 403);

  const listed = await pushServer(t, { origins: (own) => [`https://${own}`] });
  t.is(await listed.upgrade(`https://${listed.host}`), 'open', 'the `origins` allow-list is unchanged');
});
