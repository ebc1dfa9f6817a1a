// The examples of README "Observability" and docs/observability.md, type-checked by `npm test`'s
// tsc and run here against a real server.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import test from 'ava';
import Koa from 'koa';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createPush, operator } from '../../adapters/koa/index.ts';
import { metrics } from '../../adapters/metrics/index.ts';
import { secret } from '../helpers/push.ts';
import { listen } from '../helpers/server.ts';

test('the Observability examples mount metrics and the operator view, an observer counts, and a metrics port of its own answers', async (t) => {
  const router = new Router();
  const push = createPush({ secret, router });
  t.teardown(() => push.close());

  router.get('/metrics', metrics(push)); // Prometheus text format
  router.get('/_serverpush', operator(push, { guard: (ctx) => ctx.state.user?.admin === true })); // read-only HTML

  const refreshes: string[] = [];
  const stop = push.observe({ refreshed: (reason) => refreshes.push(reason) });
  t.teardown(stop);

  // Beside the app's own metrics and Node's (a registry of the test's own, not prom-client's global one).
  const register = new Registry();
  collectDefaultMetrics({ register });
  const beside = metrics(push, { registry: register, prefix: 'beside_' });
  t.regex(await beside.text(), /^process_cpu_user_seconds_total /m);

  // A push process started with the `serverpush` command: its metrics on a port of their own.
  const scrape = metrics(push, { registry: new Registry() });
  const metricsServer = createServer(async (_request, response) => {
    response.setHeader('Content-Type', scrape.registry.contentType);
    response.end(await scrape.text());
  }).listen(0, '127.0.0.1');
  t.teardown(() => void metricsServer.close());
  await new Promise((resolve) => metricsServer.once('listening', resolve));
  const port = (metricsServer.address() as AddressInfo).port;
  t.regex(await (await fetch(`http://127.0.0.1:${port}/`)).text(), /^serverpush_pages 0$/m);

  const app = new Koa().use(async (ctx, next) => {
    ctx.state['user'] = { admin: ctx.get('X-Admin') === 'yes' };
    await next();
  });
  const { url } = await listen(t, app.use(push.routes()).use(router.routes()).callback());
  t.regex(await (await fetch(`${url}/metrics`)).text(), /^serverpush_pages 0$/m);
  t.is((await fetch(`${url}/_serverpush`)).status, 403);
  t.is((await fetch(`${url}/_serverpush`, { headers: { 'X-Admin': 'yes' } })).status, 200);
});
