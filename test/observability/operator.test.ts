// The operator's view of the counter demo in Chromium: refused without the guard (alice logged in),
// and once in, the demo's routes with their page counts, its transports with their connections,
// the change log's position and the recent changes. Plus operator()'s refusal to mount without a
// guard, and its escaping, over plain HTTP.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Router from '@koa/router';
import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import type { Page } from 'playwright-core';
import { createPush, operator } from '../../adapters/koa/index.ts';
import { createDemo } from '../../demo/app.ts';
import { browserAvailable, launch } from '../helpers/browser.ts';
import { page, secret } from '../helpers/push.ts';
import { listen } from '../helpers/server.ts';

// Serial: each demo binds Objection's models to its own database, and that binding is global.
const browserTest = browserAvailable() ? test.serial : test.skip;

async function demo(t: ExecutionContext) {
  const app = await createDemo({ filename: join(mkdtempSync(join(tmpdir(), 'serverpush-')), 'demo.sqlite') });
  t.teardown(() => app.close());
  return (await app.listen()).url;
}

const connected = (tab: Page) =>
  tab.waitForFunction(() => document.documentElement.dataset['serverpushState'] === 'connected', undefined, {
    timeout: 10_000,
  });

/** The text of each row of the view's table `id`, cells joined by `|`. */
const rows = (tab: Page, id: string) =>
  tab.$$eval(`#${id} tbody tr`, (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent).join('|')),
  );

browserTest(
  "operator(): the counter demo's view refuses a visitor, and shows alice its routes and counts",
  async (t) => {
    const url = await demo(t);
    const browser = await launch(t);
    const context = await browser.newContext();
    const counter = await context.newPage();
    await counter.goto(url);
    await connected(counter);

    // Alice in a browser of her own: a tab that logs in does not join a connection opened before.
    const visitor = await (await browser.newContext()).newPage();
    const refused = await visitor.goto(`${url}operator`);
    t.is(refused?.status(), 403);
    t.is(await visitor.textContent('body'), "The operator's view is refused: its guard did not let this request in.");

    await visitor.goto(`${url}login`);
    await visitor.fill('#username', 'alice');
    await visitor.fill('#password', 'demo');
    await Promise.all([visitor.waitForURL(`${url}todos`), visitor.click('#login')]);
    await connected(visitor);
    await counter.click('#increment');
    await counter.waitForFunction(() => document.getElementById('hits')?.textContent === '2');

    const view = await visitor.context().newPage();
    const allowed = await view.goto(`${url}operator`);
    t.is(allowed?.status(), 200);
    t.is(await view.textContent('h1'), 'serverpush: this process');
    // A page of each route, both held, each browser on a WebSocket.
    t.deepEqual((await rows(view, 'routes')).sort(), ['home|1|1', 'todos|1|1']);
    t.deepEqual(await rows(view, 'transports'), ['websocket|2', 'sse|0', 'long-poll|0', 'jsonp|0']);
    const [log] = await rows(view, 'log');
    t.regex(log!, /^[a-z0-9]+\.\d+\|[a-z0-9]+\.\d+\|0$/, 'head, routed here, no lag');
    t.regex((await rows(view, 'changes'))[0]!, /^\d+ s ago\|counters\|1\|update\|1\|1$/);
    t.deepEqual(await rows(view, 'refreshes'), []);
    t.is(await view.textContent('#refreshes'), 'No page was told to refresh.');
  },
);

test('operator() refuses to mount without a guard, answers 403 when the guard throws, and escapes what it shows', async (t) => {
  const router = new Router();
  const push = createPush({ secret, router });
  t.teardown(() => push.close());
  t.throws(() => operator(push, {} as never), {
    instanceOf: TypeError,
    message:
      "operator(): the `guard` option is required: a function of the request that returns true for operators only (the view shows every viewer's page paths and the server's errors)",
  });
  t.throws(() => operator(push, { guard: () => true, recent: 0 }), {
    instanceOf: TypeError,
    message: 'The `recent` option must be a positive integer, got 0',
  });
  const errors: string[] = [];
  const guarded = createPush({ secret, router: new Router(), onError: (_error, where) => errors.push(where) });
  t.teardown(() => guarded.close());
  router.get(
    '/throws',
    operator(guarded, {
      guard: () => {
        throw new Error('no session store');
      },
    }),
  );
  router.get('/view', operator(push, { guard: (ctx) => ctx.get('X-Operator') === 'yes' }));
  const { url } = await listen(t, new Koa().use(push.routes()).use(router.routes()).callback());

  const thrown = await fetch(`${url}/throws`);
  t.is(thrown.status, 403);
  await thrown.text();
  t.deepEqual(errors, ["running the operator's view guard"]);
  t.is((await fetch(`${url}/view`, { method: 'GET' })).status, 403);

  // A page path and a refused request with markup in them are shown as text.
  await push.poll(await page(push, '/<b>bold</b>'), undefined, { waitMs: 10 });
  const bad = await fetch(`${url}/serverpush/long-poll?token=%3Cscript%3E`);
  t.is(bad.status, 401);
  await bad.text();
  await push.disconnect(() => true);
  await push.poll(await page(push, '/<b>bold</b>'), undefined, { waitMs: 10 });
  const html = await (await fetch(`${url}/view`, { headers: { 'X-Operator': 'yes' } })).text();
  t.false(html.includes('<b>bold'));
  t.false(html.includes('<script'));
  t.true(html.includes('SERVERPUSH_ERR_BAD_TOKEN'));
  t.true(html.includes('(no named route)'));
});
