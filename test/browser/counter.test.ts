import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { Page } from 'playwright-core';
import { createDemo, demoTransports } from '../../demo/app.ts';
import { browserAvailable, launch } from '../helpers/browser.ts';

// Serial: each demo binds Objection's models to its own database, and that binding is global.
const browserTest = browserAvailable() ? test.serial : test.skip;

async function demo(t: ExecutionContext, split = false) {
  const app = await createDemo({ filename: join(mkdtempSync(join(tmpdir(), 'serverpush-')), 'demo.sqlite'), split });
  t.teardown(() => app.close());
  return app.listen();
}

const connected = (page: Page) =>
  page.waitForFunction(() => document.documentElement.dataset['serverpushState'] === 'connected');
const hits = (page: Page, count: number) =>
  page.waitForFunction((n) => document.getElementById('hits')?.textContent === String(n), count, { timeout: 5_000 });

browserTest('the counter demo: an increment in one tab shows in the other', async (t) => {
  const { url } = await demo(t);
  const browser = await launch(t);
  const [first, second] = await Promise.all([browser.newPage(), browser.newPage()]);
  await first!.goto(url);
  await second!.goto(url);
  await Promise.all([connected(first!), connected(second!)]);
  t.is(await second!.getAttribute('html', 'data-serverpush-transport'), 'websocket');
  // The second tab's visit counted a hit: the first tab hears of it.
  await hits(first!, 2);
  await first!.click('#increment');
  await hits(second!, 3);
  await hits(first!, 3);
});

for (const transport of demoTransports) {
  browserTest(`the counter demo forced to ${transport}: updates arrive`, async (t) => {
    const { url } = await demo(t);
    const browser = await launch(t);
    const [first, second] = await Promise.all([browser.newPage(), browser.newPage()]);
    await first!.goto(`${url}?transport=${transport}`);
    await second!.goto(`${url}?transport=${transport}`);
    await Promise.all([connected(first!), connected(second!)]);
    t.is(
      await first!.evaluate(() => (window as unknown as { serverpush: { transport: string } }).serverpush.transport),
      transport,
    );
    await first!.click('#increment');
    await hits(second!, 3);
  });
}

browserTest('the split demo without CORS: the client falls back and updates arrive', async (t) => {
  const { url, pushUrl } = await demo(t, true);
  t.not(new URL(pushUrl!).port, new URL(url).port);
  const browser = await launch(t);
  const [first, second] = await Promise.all([browser.newPage(), browser.newPage()]);
  await first!.goto(url);
  await second!.goto(url);
  await Promise.all([connected(first!), connected(second!)]);
  const { transport, via } = await first!.evaluate(
    () => (window as unknown as { serverpush: { transport: string; via: string } }).serverpush,
  );
  t.log(`connected with ${transport} (${via})`);
  // The push port refuses this origin, so only the proxy or JSONP can carry updates.
  t.true(via === 'proxy' || transport === 'jsonp');
  await first!.click('#increment');
  await hits(second!, 3);
});

browserTest('the split demo over JSONP: the page has finished loading while a poll is pending', async (t) => {
  const { url } = await demo(t, true);
  const browser = await launch(t);
  const [first, second] = await Promise.all([browser.newPage(), browser.newPage()]);
  await first!.goto(`${url}?transport=jsonp`);
  await second!.goto(`${url}?transport=jsonp`);
  await Promise.all([connected(first!), connected(second!)]);
  const state = await first!.evaluate(() => ({
    readyState: document.readyState,
    pending: document.querySelectorAll('script[src*="/jsonp?"]').length,
  }));
  t.deepEqual(state, { readyState: 'complete', pending: 1 });
  await second!.click('#increment');
  await hits(first!, 3);
});
