// A refusal a retry can get past (a limit, a busy server) says when, in each transport's framing:
// `Retry-After` and `error.retryAfter` over HTTP, `retryAfter` in a JSONP payload, ` (Retry-After: N)`
// after a WebSocket close reason.

import test from 'ava';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { jsonp } from '../../transports/jsonp.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { sse } from '../../transports/sse.ts';
import { websocket } from '../../transports/websocket.ts';
import { until } from '../helpers/until.ts';
import { pushServer } from './conformance.ts';
import { socketUrl } from './drivers/websocket.ts';

const limit = {
  code: 'SERVERPUSH_ERR_LIMIT',
  message: 'one address may hold 1 connections (maxConnectionsPerAddress)',
  retryAfter: 5,
};

test('a refusal past maxConnectionsPerAddress says when to retry, over every transport', async (t) => {
  const server = await pushServer(t, [longPoll(), jsonp(), sse(), websocket({ heartbeatMs: 60_000 })], {
    maxConnectionsPerAddress: 1,
  });
  const held = new WebSocket(socketUrl(server.base, await server.page()));
  t.teardown(() => held.terminate());
  await once(held, 'open');
  await until(() => server.push.stats().connections === 1);
  const token = await server.page();

  const polled = await fetch(`${server.base}/long-poll?token=${token}`);
  t.is(polled.status, 429);
  t.is(polled.headers.get('retry-after'), '5');
  t.deepEqual(await polled.json(), { error: limit });

  const streamed = await fetch(`${server.base}/sse?token=${token}`);
  t.is(streamed.status, 429);
  t.is(streamed.headers.get('retry-after'), '5');
  t.deepEqual(await streamed.json(), { error: limit });

  const script = await (await fetch(`${server.base}/jsonp?token=${token}&callback=cb`)).text();
  t.is(script, `/**/cb(${JSON.stringify({ error: limit, status: 429 })});`);

  const refused = new WebSocket(socketUrl(server.base, token));
  t.teardown(() => refused.terminate());
  const [code, reason] = await once(refused, 'close');
  t.is(code, 4429);
  t.is(String(reason), `${limit.code}: ${limit.message} (Retry-After: 5)`);
});
