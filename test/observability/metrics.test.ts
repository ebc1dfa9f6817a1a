// serverpush/metrics against a real Koa server on a real port: the browser client in jsdom connects
// over long-poll and over WebSocket, receives changes, is told to refresh and goes away, and each
// step moves the scraped counters, gauges and histograms as it should.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import { Registry } from 'prom-client';
import { WebSocket } from 'ws';
import { createPush, type KoaPush } from '../../adapters/koa/index.ts';
import { metrics } from '../../adapters/metrics/index.ts';
import { connect, type PushClient } from '../../client/index.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { websocket } from '../../transports/websocket.ts';
import { createPage, pageGlobals } from '../helpers/jsdom.ts';
import { secret } from '../helpers/push.ts';
import { listen } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';
import { sample } from './scrape.ts';

/** A to-do list app whose pages hear the tasks of their list; `/metrics` answers scrapes. */
async function app(t: ExecutionContext) {
  const router = new Router();
  const push = createPush({
    secret,
    router,
    transports: [websocket(), longPoll({ timeoutMs: 5_000 })],
    // A task titled "secret" is for nobody.
    authorize: (_ctx, change) => change.after?.['title'] !== 'secret',
  });
  t.teardown(() => push.close());
  router.get('list', '/lists/:id', (ctx) => {
    ctx.body = ctx.state.serverpush.tag();
  });
  push.updates('list', (ctx) => [
    { name: 'task', model: 'tasks', params: { listId: ctx.params['id']! }, data: { title: 'title' } },
    {
      name: 'shout',
      model: 'tasks',
      params: { listId: ctx.params['id']! },
      serializer: (_ctx, row) => {
        if (row['title'] === 'boom') throw new Error('the shout serializer cannot shout boom');
        return String(row['title']).toUpperCase();
      },
    },
  ]);
  router.get('/metrics', metrics(push));
  const koa = new Koa().use(push.routes()).use(push.middleware()).use(router.routes());
  const { url, server } = await listen(t, koa.callback());
  push.attach(server);
  return { url, push };
}

/** The list page in jsdom, connected over `transport`; resolves with its client and the titles it heard. */
async function open(t: ExecutionContext, url: string, list: number, transport: 'long-poll' | 'websocket') {
  const html = await (await fetch(`${url}/lists/${list}`)).text();
  const token = /data-token="([^"]+)"/.exec(html)![1]!;
  const window = createPage(t, { url: `${url}/lists/${list}` });
  const client: PushClient = connect({
    token,
    transports: [transport],
    share: false,
    globals: pageGlobals(window, {
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
      reload: () => {},
    }),
  });
  t.teardown(() => client.close());
  const titles: string[] = [];
  client.on('task', (data) => titles.push((data as { title: string }).title));
  await until(() => client.state === 'connected');
  return { client, titles };
}

/** Resolves once `predicate()` resolves true, checking every 20 ms for 5 s. */
async function eventually(predicate: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 5_000; Date.now() < deadline; ) {
    if (await predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`not within 5 s: ${predicate.toString()}`);
}

const publish = (push: KoaPush, list: number, id: number, title: string) =>
  push.publish({ model: 'tasks', op: 'insert', id, after: { id, listId: list, title } });

test.serial(
  'metrics() scraped while clients connect, receive changes, are refused, dropped and refreshed, and leave',
  async (t) => {
    const { url, push } = await app(t);
    const scrape = async () => {
      const response = await fetch(`${url}/metrics`);
      t.is(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      return response.text();
    };

    const before = await scrape();
    t.is(sample(before, 'serverpush_pages'), 0);
    t.is(sample(before, 'serverpush_changes_read_total'), 0);
    t.is(sample(before, 'serverpush_deliveries_total', { transport: 'websocket' }), 0);
    t.is(sample(before, 'serverpush_log_lag_changes'), 0);

    const polling = await open(t, url, 1, 'long-poll');
    const socket = await open(t, url, 1, 'websocket');
    await eventually(async () => sample(await scrape(), 'serverpush_connections', { transport: 'websocket' }) === 1);
    const connected = await scrape();
    t.is(sample(connected, 'serverpush_pages'), 2);
    t.is(sample(connected, 'serverpush_subscriptions'), 4, 'two specs on each page');
    t.is(sample(connected, 'serverpush_connections', { transport: 'websocket' }), 1);
    t.is(sample(connected, 'serverpush_connections', { transport: 'sse' }), 0);

    await publish(push, 1, 1, 'one');
    await publish(push, 1, 2, 'secret');
    await publish(push, 1, 3, 'boom');
    await publish(push, 2, 4, 'another list');
    await until(() => polling.titles.length === 2 && socket.titles.length === 2);
    t.deepEqual(polling.titles, ['one', 'boom']);
    t.deepEqual(socket.titles, ['one', 'boom']);

    const received = await scrape();
    t.is(sample(received, 'serverpush_changes_read_total'), 4);
    // Each page got "one" through both specs and "boom" through the field map only: 3 messages.
    t.is(sample(received, 'serverpush_deliveries_total', { transport: 'websocket' }), 3);
    t.is(sample(received, 'serverpush_deliveries_total', { transport: 'long-poll' }), 3);
    t.is(sample(received, 'serverpush_authorize_drops_total'), 2, '"secret" is dropped for both pages');
    // The field map is shared by the two pages; the function runs per page.
    t.is(sample(received, 'serverpush_serializer_calls_total', { kind: 'fields' }), 2);
    t.is(sample(received, 'serverpush_serializer_calls_total', { kind: 'function' }), 4);
    t.is(sample(received, 'serverpush_serializer_errors_total', { kind: 'function' }), 2);
    t.is(sample(received, 'serverpush_serializer_errors_total', { kind: 'fields' }), 0);
    for (const transport of ['websocket', 'long-poll']) {
      const count = sample(received, 'serverpush_delivery_latency_seconds_count', { transport });
      t.is(count, 3, `${transport}: one latency per change message`);
      t.is(sample(received, 'serverpush_delivery_latency_seconds_bucket', { transport, le: '+Inf' }), count);
      t.true(sample(received, 'serverpush_delivery_latency_seconds_sum', { transport })! < 5);
    }
    t.is(sample(received, 'serverpush_batch_messages_sum'), 6, 'every message written, in frames');
    t.true(sample(received, 'serverpush_batch_messages_count')! >= 2, 'a frame for each connection at least');
    t.is(sample(received, 'serverpush_log_lag_changes'), 0);

    const refused = await fetch(`${url}/serverpush/long-poll?token=forged`);
    t.is(refused.status, 401);
    await refused.text();
    t.is(sample(await scrape(), 'serverpush_rejected_requests_total', { code: 'SERVERPUSH_ERR_BAD_TOKEN' }), 1);

    t.is(await push.disconnect(() => true), 2);
    await until(() => polling.client.state === 'closed' && socket.client.state === 'closed');
    await eventually(async () => {
      const text = await scrape();
      return (
        sample(text, 'serverpush_connections', { transport: 'websocket' }) === 0 &&
        sample(text, 'serverpush_connections', { transport: 'long-poll' }) === 0
      );
    });
    const gone = await scrape();
    t.is(sample(gone, 'serverpush_refreshes_total', { reason: 'disconnect' }), 2);
    t.is(sample(gone, 'serverpush_refreshes_total', { reason: 'history' }), 0);
    t.is(sample(gone, 'serverpush_slow_disconnects_total', { transport: 'websocket' }), 0);
    t.is(sample(gone, 'serverpush_internal_errors_total'), 0);
  },
);

test('metrics() shares a registry by prefix, and close() takes its metrics out of it', async (t) => {
  const router = new Router();
  const first = createPush({ secret, router });
  const second = createPush({ secret, router });
  t.teardown(() => Promise.all([first.close(), second.close()]));
  const registry = new Registry();
  const one = metrics(first, { registry });
  const two = metrics(second, { registry, prefix: 'second_push_' });
  await first.publish({ model: 'tasks', op: 'insert', id: 1, after: { id: 1 } });
  const text = await registry.metrics();
  t.is(sample(text, 'serverpush_changes_read_total'), 1);
  t.is(sample(text, 'second_push_changes_read_total'), 0);
  t.is(one.registry, registry);
  one.close();
  two.close();
  t.is(await registry.metrics(), '\n');
});

test('metrics() refuses a bad push instance, bad options, and a registry that has its metrics already', (t) => {
  const push = createPush({ secret, router: new Router() });
  t.teardown(() => push.close());
  t.throws(() => metrics({} as never), {
    instanceOf: TypeError,
    message: 'metrics(): the first argument must be a push instance (createPush())',
  });
  t.throws(() => metrics(push, { registry: {} as never }), {
    instanceOf: TypeError,
    message: "The `registry` option must be a prom-client Registry (`new Registry()`, or prom-client's `register`)",
  });
  t.throws(() => metrics(push, { prefix: '9lives-' }), {
    instanceOf: TypeError,
    message:
      'The `prefix` option must start a Prometheus metric name (letters, digits, _ and :, not a digit first), got "9lives-"',
  });
  t.throws(() => metrics(push, { latencyBuckets: [1, 0.5] }), {
    instanceOf: TypeError,
    message: 'The `latencyBuckets` option must be a non-empty array of increasing finite numbers',
  });
  t.throws(() => metrics(push, { regsitry: new Registry() } as never), {
    instanceOf: TypeError,
    message: 'metrics(): unknown option `regsitry`; known: registry, prefix, latencyBuckets, batchBuckets',
  });
  const registry = new Registry();
  metrics(push, { registry });
  t.throws(() => metrics(push, { registry }), {
    instanceOf: TypeError,
    message:
      "metrics(): the registry has a metric named serverpush_connections already (another push instance's metrics?): pass another `prefix` or registry",
  });
});

test('metrics() without prom-client installed throws an error that says npm install prom-client', (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'serverpush-metrics-'));
  // A process in which prom-client cannot be found, as in an app that did not install it.
  // Loaded after tsx, so that its resolver is the one wrapped.
  const hide = join(directory, 'hide-prom-client.mjs');
  writeFileSync(
    hide,
    `import Module from 'node:module';
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'prom-client') {
    const error = new Error("Cannot find module 'prom-client'");
    error.code = 'MODULE_NOT_FOUND';
    throw error;
  }
  return resolve.call(this, request, ...rest);
};`,
  );
  const script = join(directory, 'scrape.mts');
  const root = fileURLToPath(new URL('../..', import.meta.url));
  writeFileSync(
    script,
    `import { createPush } from '${root}core/push.ts';
import { metrics } from '${root}adapters/metrics/index.ts';
const push = createPush({ secret: '${secret}' });
try {
  metrics(push);
} catch (error) {
  console.log(error.constructor.name + ': ' + error.message);
}
await push.close();`,
  );
  const run = spawnSync(process.execPath, ['--import=tsx', '--import', hide, script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.is(
    run.stdout.trim(),
    'Error: serverpush/metrics needs prom-client, an optional peer dependency that is not installed: npm install prom-client',
    run.stderr,
  );
});

test("metrics() registers the metrics the README's table and docs/observability.md list, with their types and labels", async (t) => {
  const push = createPush({ secret, router: new Router() });
  t.teardown(() => push.close());
  const registered = (await metrics(push).registry.getMetricsAsJSON())
    .map(({ name, type, values }) => {
      const labels = new Set(values.flatMap((value) => Object.keys(value.labels)).filter((label) => label !== 'le'));
      return `${name} ${type} ${[...labels].join(',')}`.trim();
    })
    .sort();
  for (const file of ['../../README.md', '../../docs/observability.md']) {
    const text = readFileSync(new URL(file, import.meta.url), 'utf8');
    const listed = [...text.matchAll(/^\| `(serverpush_\w+)` \| (gauge|counter|histogram) \| (?:`(\w+)`)? *\|/gm)]
      .map(([, name, type, label]) => `${name} ${type} ${label ?? ''}`.trim())
      .sort();
    t.deepEqual(listed, registered, file);
  }
});
