// The counter demo, tested with the harness (`serverpush/testing`): its own app, `home` page,
// update function and `counter` fragment, re-rendered for each tab, in-process, no browser.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import { createHarness } from '../../adapters/testing/index.ts';
import { sessionMiddleware } from '../../demo/auth.ts';
import { createCounterPush, openCounterDatabase } from '../../demo/counter.ts';
import { Counter } from '../../demo/models.ts';
import { secret } from '../helpers/push.ts';

// Serial: each demo binds Objection's models to its own database, and that binding is global.
const serial = test.serial;

/** The counter's events: the `#hits` fragment. */
interface CounterEvents {
  readonly hits: string;
}

/** The counter demo as demo/app.ts mounts it on one port, on a sqlite file of its own, and a harness for it. */
async function setup(t: ExecutionContext) {
  const directory = mkdtempSync(join(tmpdir(), 'serverpush-counter-'));
  const knex = await openCounterDatabase(join(directory, 'demo.sqlite'));
  const { router, push } = createCounterPush({ secret });
  const app = new Koa();
  app.use(push.routes()).use(sessionMiddleware(app)).use(push.middleware()).use(router.routes());
  const harness = createHarness(push, app);
  t.teardown(async () => {
    await harness.close();
    await push.close();
    await knex.destroy();
    rmSync(directory, { recursive: true, force: true });
  });
  return { harness };
}

serial(
  "the counter page hears its own visit, the next tab's and each increment, as the re-rendered fragment",
  async (t) => {
    const { harness } = await setup(t);
    const first = await harness.open<CounterEvents>('/');
    t.regex(
      first.html,
      /<h1>Hits: <span data-serverpush-html="hits" data-serverpush-morph><span id="hits">1<\/span><\/span><\/h1>/,
    );
    // Its own visit counted after the page took its cursor: the page hears it, as a browser does.
    t.like(await first.next(), { name: 'hits', effect: 'update', id: 1, data: '<span id="hits">1</span>' });

    const second = await harness.open<CounterEvents>('/');
    t.is((await first.next()).data, '<span id="hits">2</span>', 'the first tab hears the second visit');
    t.is((await second.next()).data, '<span id="hits">2</span>');

    t.is((await harness.request('/increment', { method: 'POST' })).text, '{"hits":3}');
    t.is((await first.next()).data, '<span id="hits">3</span>');
    t.is((await second.next()).data, '<span id="hits">3</span>');
    await first.nothing();
  },
);

serial('a write outside the app reaches the counter page too: the demo publishes every Counter write', async (t) => {
  const { harness } = await setup(t);
  const page = await harness.open<CounterEvents>('/');
  await page.next();
  await Counter.query().patch({ hits: 42 }).where('id', 1);
  t.is((await page.next()).data, '<span id="hits">42</span>');
});

serial('the counter demo serves its push metrics at /metrics in the Prometheus text format', async (t) => {
  const { harness } = await setup(t);
  const page = await harness.open<CounterEvents>('/');
  await page.next();
  const response = await harness.request('/metrics');
  t.is(response.status, 200);
  t.is(response.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  t.regex(response.text, /^# HELP serverpush_pages Pages this process serves\.$/m);
  t.regex(response.text, /^serverpush_pages 1$/m);
  // The page's own visit, counted after it took its cursor, reached it over long-poll.
  t.regex(response.text, /^serverpush_deliveries_total\{transport="long-poll"\} 1$/m);
  t.regex(response.text, /^serverpush_delivery_latency_seconds_count\{transport="long-poll"\} 1$/m);
  t.regex(response.text, /^serverpush_serializer_calls_total\{kind="route"\} 1$/m);
});
