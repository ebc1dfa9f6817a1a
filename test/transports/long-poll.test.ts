import test from 'ava';
import { longPoll } from '../../transports/long-poll.ts';
import { conformance, muxConformance, pushServer } from './conformance.ts';
import { longPollMux } from './drivers/mux.ts';
import { longPollDriver } from './drivers/long-poll.ts';

conformance(longPollDriver, () => longPoll({ timeoutMs: 500 }));
muxConformance(longPollMux, () => longPoll({ timeoutMs: 500 }));

test('longPoll() answers 204 when nothing changed within timeoutMs', async (t) => {
  const server = await pushServer(t, [longPoll({ timeoutMs: 100 })]);
  const token = await server.page();
  t.is((await fetch(`${server.base}/long-poll?token=${token}`)).status, 204, 'the first poll is answered at once');
  const started = Date.now();
  const held = await fetch(`${server.base}/long-poll?token=${token}`);
  t.is(held.status, 204);
  t.true(Date.now() - started >= 90);
});

test('longPoll() answers a cross-origin request from an allowed origin with CORS headers, and refuses others', async (t) => {
  const server = await pushServer(t, [longPoll({ timeoutMs: 100 })], { origins: ['http://app.example:3000'] });
  const token = await server.page();
  const allowed = await fetch(`${server.base}/long-poll?token=${token}`, {
    headers: { Origin: 'http://app.example:3000' },
  });
  t.is(allowed.headers.get('access-control-allow-origin'), 'http://app.example:3000');
  t.is(allowed.headers.get('access-control-allow-credentials'), 'true');
  const preflight = await fetch(`${server.base}/long-poll`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://app.example:3000', 'Access-Control-Request-Method': 'GET' },
  });
  t.is(preflight.status, 204);
  t.is(preflight.headers.get('access-control-allow-methods'), 'GET');
  const refused = await fetch(`${server.base}/long-poll?token=${token}`, {
    headers: { Origin: 'http://evil.example' },
  });
  t.is(refused.status, 403);
  t.deepEqual(await refused.json(), {
    error: {
      code: 'SERVERPUSH_ERR_ORIGIN',
      message: 'origin http://evil.example is not allowed; list it in the `origins` option',
    },
  });
  t.is(refused.headers.get('access-control-allow-origin'), null);
});

test('longPoll() with no origins configured refuses every cross-origin browser request', async (t) => {
  const server = await pushServer(t, [longPoll({ timeoutMs: 100 })]);
  const response = await fetch(`${server.base}/long-poll?token=${await server.page()}`, {
    headers: { Origin: 'http://localhost:1' },
  });
  t.is(response.status, 403);
  const sameOrigin = await fetch(`${server.base}/long-poll?token=${await server.page()}`, {
    headers: { Origin: server.url },
  });
  t.is(sameOrigin.status, 204);
});
