import test from 'ava';
import type { Browser, Page } from 'playwright-core';
import { jsonp } from '../../transports/jsonp.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { sse } from '../../transports/sse.ts';
import { websocket } from '../../transports/websocket.ts';
import { browserAvailable, launch } from '../helpers/browser.ts';
import { authDemo } from '../helpers/auth-demo.ts';

// Serial: each demo binds Objection's models to its own database, and that binding is global.
const browserTest = browserAvailable() ? test.serial : test.skip;

interface Seen {
  readonly name: string;
  readonly effect: string;
  readonly id: unknown;
}

/** Logs `username` in, in a browser context of its own (its own cookies), and opens `tabs` /todos tabs. */
async function loggedIn(browser: Browser, url: string, username: string, tabs: number): Promise<Page[]> {
  const context = await browser.newContext();
  const first = await context.newPage();
  await first.goto(`${url}/login`);
  await first.fill('#username', username);
  await first.fill('#password', 'demo');
  await Promise.all([first.waitForURL(`${url}/todos`), first.click('#login')]);
  const pages = [first];
  while (pages.length < tabs) {
    const page = await context.newPage();
    await page.goto(`${url}/todos`);
    pages.push(page);
  }
  for (const page of pages) {
    await page.waitForFunction(() => document.documentElement.dataset['serverpushState'] === 'connected', undefined, {
      timeout: 10_000,
    });
    // Records every to-do event the page receives, to check afterwards what never arrived.
    await page.evaluate(() => {
      const seen: Seen[] = [];
      (window as unknown as { seen: Seen[] }).seen = seen;
      for (const name of ['my-todo', 'team-todo']) {
        document.addEventListener(`serverpush:${name}`, (event) => {
          const { effect, id } = (event as Event & { message: Seen }).message;
          seen.push({ name, effect, id });
        });
      }
    });
  }
  return pages;
}

const item = (list: 'my-todos' | 'team-todos', id: string) => `#${list} li[data-serverpush-id="${id}"]`;
const seen = (page: Page) => page.evaluate(() => (window as unknown as { seen: Seen[] }).seen);

browserTest(
  'the auth demo: items reach the pages of whoever may see them, and logout reloads the others',
  async (t) => {
    const { url } = await authDemo(t, [websocket(), sse(), longPoll(), jsonp()]);
    const browser = await launch(t);
    const [aliceFirst, aliceSecond] = (await loggedIn(browser, url, 'alice', 2)) as [Page, Page];
    const [bob] = (await loggedIn(browser, url, 'bob', 1)) as [Page];
    t.is(await bob.getAttribute('html', 'data-serverpush-transport'), 'websocket');

    // Alice adds an item in one tab: her other tab shows it, rendered as hers. (A tab is brought to
    // the front before it is used, as a user would: Chromium throttles the frames of background tabs.)
    await aliceFirst.bringToFront();
    await aliceFirst.fill('#new-title', 'Buy oat milk');
    await aliceFirst.click('#add');
    const added = aliceSecond.locator('#my-todos li', { hasText: 'Buy oat milk' });
    await added.waitFor({ timeout: 5_000 });
    const id = (await added.getAttribute('data-serverpush-id'))!;
    t.regex((await added.textContent()) ?? '', /alice \(yours\)/);
    await aliceFirst.locator(item('my-todos', id)).waitFor({ timeout: 5_000 });

    // She shares it: it enters bob's team list, rendered for bob (no controls), and hers.
    await aliceFirst.click(`${item('my-todos', id)} button[data-action="share"]`);
    const shared = bob.locator(item('team-todos', id));
    await shared.waitFor({ timeout: 5_000 });
    t.regex((await shared.textContent()) ?? '', /Buy oat milk\s+alice\s+shared/);
    t.is(await shared.locator('button').count(), 0);
    await aliceSecond.locator(item('team-todos', id)).waitFor({ timeout: 5_000 });
    // Changes arrive in order: the share came after the add, so bob never heard of the add.
    t.deepEqual(
      (await seen(bob)).filter((event) => String(event.id) === id),
      [{ name: 'team-todo', effect: 'enter', id: Number(id) }],
    );
    t.is(await bob.locator(item('my-todos', id)).count(), 0);

    // She gives it to bob: it leaves her list and enters his; both team lists show bob as its owner.
    await aliceSecond.bringToFront();
    await aliceSecond.selectOption(`${item('my-todos', id)} .owner-select`, '2');
    await aliceSecond.click(`${item('my-todos', id)} button[data-action="reassign"]`);
    await bob.locator(item('my-todos', id), { hasText: 'bob (yours)' }).waitFor({ timeout: 5_000 });
    await aliceFirst.locator(item('my-todos', id)).waitFor({ state: 'detached', timeout: 5_000 });
    await aliceSecond.locator(item('my-todos', id)).waitFor({ state: 'detached', timeout: 5_000 });
    await aliceFirst.locator(item('team-todos', id), { hasText: 'bob' }).waitFor({ timeout: 5_000 });
    t.regex((await bob.locator(item('team-todos', id)).textContent()) ?? '', /bob \(yours\)/);

    // Alice logs out in one tab: her other tab reloads, logged out; bob's page stays.
    await aliceFirst.bringToFront();
    await Promise.all([aliceFirst.waitForURL(`${url}/login`), aliceFirst.click('#logout')]);
    await aliceSecond.waitForURL(`${url}/login`, { timeout: 5_000 });
    t.is(await aliceSecond.locator('#login').count(), 1);
    t.is(bob.url(), `${url}/todos`);
    t.is(await bob.getAttribute('html', 'data-serverpush-state'), 'connected');
  },
);

browserTest(
  'the auth demo: a tab that logs in while another tab of the browser leads the shared WebSocket connects, and hears its changes',
  async (t) => {
    const { url } = await authDemo(t, [websocket(), longPoll()]);
    const browser = await launch(t);
    // Alice's tab leads the shared connection, its WebSocket opened with her session cookie.
    const [alice] = (await loggedIn(browser, url, 'alice', 1)) as [Page];
    t.is(await alice.evaluate(() => window.serverpush?.mode), 'shared');
    // In another tab of the same browser, bob logs in: a new session cookie, which the leader's
    // WebSocket never presented, binds his page's token. (Alice's cookie is dropped first, as when
    // her session expired: the login page sends a logged-in browser to its list.)
    await alice.context().clearCookies();
    const bob = await alice.context().newPage();
    await bob.goto(`${url}/login`);
    await bob.fill('#username', 'bob');
    await bob.fill('#password', 'demo');
    await Promise.all([bob.waitForURL(`${url}/todos`), bob.click('#login')]);
    await bob.waitForFunction(() => document.documentElement.dataset['serverpushState'] === 'connected', undefined, {
      timeout: 10_000,
    });
    await bob.fill('#new-title', 'Water the plants');
    await bob.click('#add');
    await bob.locator('#my-todos li', { hasText: 'Water the plants' }).waitFor({ timeout: 5_000 });
    t.is(await bob.getAttribute('html', 'data-serverpush-state'), 'connected');
  },
);
