// The auth demo's /todos page in Chromium, live by its attributes alone (no page script touches the
// lists or the status): rows inserted, updated, moved out of a viewer's lists and deleted in the
// database reach alice's and bob's pages as each may see them; the connection is cut and restored
// under both pages, and the status banner, pure CSS, follows.

import test from 'ava';
import type { Browser, Page } from 'playwright-core';
import { Todo } from '../../demo/auth.ts';
import { jsonp } from '../../transports/jsonp.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { sse } from '../../transports/sse.ts';
import { websocket } from '../../transports/websocket.ts';
import { authDemo } from '../helpers/auth-demo.ts';
import { browserAvailable, launch } from '../helpers/browser.ts';
import { tcpRelay } from '../helpers/tcp-relay.ts';

// Serial: each demo binds Objection's models to its own database, and that binding is global.
const browserTest = browserAvailable() ? test.serial : test.skip;

async function loggedIn(browser: Browser, url: string, username: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${url}/login`);
  await page.fill('#username', username);
  await page.fill('#password', 'demo');
  await Promise.all([page.waitForURL(`${url}/todos`), page.click('#login')]);
  await state(page, 'connected');
  return page;
}

const state = (page: Page, value: string) =>
  page.waitForFunction((expected) => document.documentElement.dataset['serverpushState'] === expected, value, {
    timeout: 10_000,
  });
const item = (page: Page, list: 'my-todos' | 'team-todos', id: number) =>
  page.locator(`#${list} > li[data-serverpush-id="${id}"]`);

browserTest('the auth demo live by attributes: insert, update, move-out and delete for two viewers', async (t) => {
  const demo = await authDemo(t, [websocket(), sse(), longPoll(), jsonp()]);
  const browser = await launch(t);
  const alice = await loggedIn(browser, demo.url, 'alice');
  const bob = await loggedIn(browser, demo.url, 'bob');

  // Nothing but the attributes makes the lists live: the page's own script never listens to serverpush.
  const scripts = await alice.$$eval('script:not([src])', (tags) => tags.map((tag) => tag.textContent ?? ''));
  t.false(
    scripts.some((script) => /serverpush[:_]|window\.serverpush/.test(script)),
    'no page script handles serverpush events or calls the client',
  );

  // Insert: alice's shared item enters both her lists, and bob's team list, rendered for each.
  const { id } = await Todo.query().insert({
    ownerId: 1,
    teamId: 1,
    title: 'Plan the party',
    done: false,
    shared: true,
  });
  await item(alice, 'my-todos', id).filter({ hasText: 'alice (yours)' }).waitFor({ timeout: 5_000 });
  await item(alice, 'team-todos', id).waitFor({ timeout: 5_000 });
  await item(bob, 'team-todos', id).filter({ hasText: 'Plan the party' }).waitFor({ timeout: 5_000 });
  t.is(await item(bob, 'team-todos', id).locator('button').count(), 0, "bob sees alice's item without controls");

  // Update: in place; alice's own list morphs the element she has (the same node, her typing kept).
  await alice.evaluate((itemId) => {
    const element = document.querySelector(`#my-todos > li[data-serverpush-id="${itemId}"]`) as HTMLElement & {
      kept?: boolean;
    };
    element.kept = true;
  }, id);
  await Todo.query().patch({ title: 'Plan the big party' }).where('id', id);
  await item(bob, 'team-todos', id).filter({ hasText: 'Plan the big party' }).waitFor({ timeout: 5_000 });
  await item(alice, 'my-todos', id).filter({ hasText: 'Plan the big party' }).waitFor({ timeout: 5_000 });
  t.true(
    await alice.evaluate(
      (itemId) =>
        (document.querySelector(`#my-todos > li[data-serverpush-id="${itemId}"]`) as HTMLElement & { kept?: boolean })
          .kept === true,
      id,
    ),
    'morphed, not replaced',
  );
  t.is(await bob.locator('#my-todos > li').filter({ hasText: 'party' }).count(), 0);

  // Move-out: unshared, it leaves both team lists; given to bob, it leaves alice's list and enters his.
  await Todo.query().patch({ shared: false }).where('id', id);
  await item(bob, 'team-todos', id).waitFor({ state: 'detached', timeout: 5_000 });
  await item(alice, 'team-todos', id).waitFor({ state: 'detached', timeout: 5_000 });
  t.is(await item(alice, 'my-todos', id).count(), 1);
  await Todo.query().patch({ ownerId: 2 }).where('id', id);
  await item(alice, 'my-todos', id).waitFor({ state: 'detached', timeout: 5_000 });
  await item(bob, 'my-todos', id).filter({ hasText: 'bob (yours)' }).waitFor({ timeout: 5_000 });

  // Delete: it leaves bob's list; the seeded items stay where they were.
  await Todo.query().deleteById(id);
  await item(bob, 'my-todos', id).waitFor({ state: 'detached', timeout: 5_000 });
  t.deepEqual(
    await bob.$$eval('#my-todos > li', (items) => items.map((li) => li.querySelector('.title')?.textContent)),
    ['Book the team lunch'],
  );
  t.deepEqual(
    await alice.$$eval('#my-todos > li', (items) => items.map((li) => li.querySelector('.title')?.textContent)),
    ['Water the plants'],
  );
});

browserTest('the status banner follows the connection: connected, reconnecting, connected, by CSS alone', async (t) => {
  const demo = await authDemo(t, [websocket(), sse(), longPoll(), jsonp()]);
  const relay = await tcpRelay(t, demo.url);
  const browser = await launch(t);
  const bob = await loggedIn(browser, relay.url, 'bob');
  const banner = bob.locator('.live-banner.reconnecting');
  t.false(await banner.isVisible());
  t.is(await bob.locator('.live-state').evaluate((span) => getComputedStyle(span, '::after').content), '"live"');

  relay.cut();
  await state(bob, 'reconnecting');
  await banner.waitFor({ state: 'visible', timeout: 5_000 });
  t.is(
    await bob.locator('.live-state').evaluate((span) => getComputedStyle(span, '::after').content),
    '"reconnecting…"',
  );
  // A change made while the page is cut off arrives once it is back: it resumes from its cursor.
  const { id } = await Todo.query().insert({ ownerId: 1, teamId: 1, title: 'While away', done: false, shared: true });

  relay.restore();
  await state(bob, 'connected');
  await banner.waitFor({ state: 'hidden', timeout: 5_000 });
  await item(bob, 'team-todos', id).filter({ hasText: 'While away' }).waitFor({ timeout: 10_000 });
  t.false(await bob.locator('.live-banner.stopped').isVisible());
  t.is(bob.url(), `${relay.url}/todos`, 'no reload');
});

browserTest(
  'the tab that logs out follows its own navigation: the disconnect refresh it receives is ignored',
  async (t) => {
    const demo = await authDemo(t, [websocket(), sse(), longPoll(), jsonp()]);
    const browser = await launch(t);
    const context = await browser.newContext();
    const [leaving, other] = [await context.newPage(), await context.newPage()];
    await leaving.goto(`${demo.url}/login`);
    await leaving.fill('#username', 'alice');
    await leaving.fill('#password', 'demo');
    await Promise.all([leaving.waitForURL(`${demo.url}/todos`), leaving.click('#login')]);
    await other.goto(`${demo.url}/todos`);
    await Promise.all([state(leaving, 'connected'), state(other, 'connected')]);

    const requests: string[] = [];
    leaving.on('request', (request) => {
      if (request.isNavigationRequest()) requests.push(`${request.method()} ${new URL(request.url()).pathname}`);
    });
    await leaving.bringToFront();
    await Promise.all([leaving.waitForURL(`${demo.url}/login`), leaving.click('#logout')]);
    // The other tab reloads on its refresh, and is logged out.
    await other.waitForURL(`${demo.url}/login`, { timeout: 5_000 });
    t.deepEqual(requests, ['POST /logout', 'GET /login'], 'no reload of /todos cut into the logout');
  },
);
