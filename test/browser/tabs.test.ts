// Ten tabs of the counter demo in one Chromium profile, each transport forced in turn: every tab
// loads (a browser keeps six HTTP/1.1 connections per host, and each tab used to hold one), every
// tab sees an increment made in another, and the push server holds one connection from the
// browser. The tab holding it closes: the other nine go on, with nothing lost or repeated. A tab
// that reloads rejoins.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { BrowserContext, Page } from 'playwright-core';
import { createDemo, demoTransports } from '../../demo/app.ts';
import { browserAvailable, launch } from '../helpers/browser.ts';
import { until } from '../helpers/until.ts';

// Serial: each demo binds Objection's models to its own database, and that binding is global.
const browserTest = browserAvailable() ? test.serial : test.skip;

const tabCount = 10;

/** Opens a tab of `url` that records the cursor of every hits message it dispatches. */
async function openTab(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { seenCursors: string[] }).seenCursors = seen;
    document.addEventListener('serverpush:hits', (event) =>
      seen.push((event as CustomEvent & { message: { cursor: string } }).message.cursor),
    );
  });
  await page.goto(url, { timeout: 10_000 });
  return page;
}

const state = (page: Page) => page.evaluate(() => document.documentElement.dataset['serverpushState']);
const hits = (page: Page) => page.evaluate(() => Number(document.getElementById('hits')?.textContent));
const client = (page: Page) =>
  page.evaluate(() => {
    const { mode, leading, transport } = (
      window as unknown as { serverpush: { mode: string; leading: boolean; transport: string } }
    ).serverpush;
    return { mode, leading, transport };
  });
const seen = (page: Page) => page.evaluate(() => (window as unknown as { seenCursors: string[] }).seenCursors);

async function demo(t: ExecutionContext) {
  const app = await createDemo({ filename: join(mkdtempSync(join(tmpdir(), 'serverpush-')), 'demo.sqlite') });
  t.teardown(() => app.close());
  return { app, ...(await app.listen()) };
}

for (const transport of demoTransports) {
  browserTest(
    `ten tabs of the counter demo forced to ${transport} share one connection and survive its tab closing`,
    async (t) => {
      const { app, url } = await demo(t);
      const browser = await launch(t);
      const context = await browser.newContext();
      const tabs: Page[] = [];
      // One after another: each tab's visit counts a hit, which the tabs already open hear of.
      for (let i = 0; i < tabCount; i += 1) tabs.push(await openTab(context, `${url}?transport=${transport}`));
      for (const tab of tabs)
        await tab.waitForFunction(
          () => document.documentElement.dataset['serverpushState'] === 'connected',
          undefined,
          {
            timeout: 10_000,
          },
        );
      const roles = await Promise.all(tabs.map(client));
      t.true(
        roles.every((role) => role.mode === 'shared' && role.transport === transport),
        JSON.stringify(roles),
      );
      t.is(roles.filter((role) => role.leading).length, 1, 'one tab holds the connection');
      await until(() => app.push.stats().connections === 1, 5_000);
      t.is(app.push.stats().pages, tabCount);

      // An increment in the last tab reaches every tab.
      await tabs[tabCount - 1]!.click('#increment');
      const total = tabCount + 1;
      for (const tab of tabs)
        await tab.waitForFunction((n) => Number(document.getElementById('hits')?.textContent) === n, total, {
          timeout: 5_000,
        });

      // The tab holding the connection closes; the others go on.
      const holder = roles.findIndex((role) => role.leading);
      await tabs[holder]!.close();
      const rest = tabs.filter((_, index) => index !== holder);
      await rest[0]!.click('#increment');
      for (const tab of rest)
        await tab.waitForFunction((n) => Number(document.getElementById('hits')?.textContent) === n, total + 1, {
          timeout: 5_000,
        });
      t.is((await Promise.all(rest.map(client))).filter((role) => role.leading).length, 1, 'another tab took over');
      await until(() => app.push.stats().connections === 1, 5_000);

      // Each page saw each change once, in order: its cursors never repeat and only grow.
      for (const tab of rest) {
        const cursors = await seen(tab);
        t.is(new Set(cursors).size, cursors.length, `no change twice: ${cursors.join(' ')}`);
        const numbers = cursors.map((cursor) => Number.parseInt(cursor.split('.')[1]!, 36));
        t.deepEqual(
          numbers,
          [...numbers].sort((a, b) => a - b),
          'in order',
        );
      }
      t.deepEqual(
        await Promise.all(rest.map(hits)),
        rest.map(() => total + 1),
      );

      // A tab that reloads rejoins the shared connection.
      await rest[0]!.reload();
      await rest[0]!.waitForFunction(
        () => document.documentElement.dataset['serverpushState'] === 'connected',
        undefined,
        {
          timeout: 10_000,
        },
      );
      t.is((await client(rest[0]!)).mode, 'shared');
      await rest[1]!.click('#increment');
      await rest[0]!.waitForFunction((n) => Number(document.getElementById('hits')?.textContent) === n, total + 3, {
        timeout: 5_000,
      });
      t.is(await state(rest[0]!), 'connected');
      await until(() => app.push.stats().connections === 1, 5_000);
    },
  );
}
