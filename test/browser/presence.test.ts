// Presence in Chromium across two push processes: the auth demo's pages, served by an app in this
// process, connect to one of two `serverpush` processes (demo/auth-push-server.ts) that share a
// Redis change log. Alice and bob (team 1) in three tabs: a join and a leave reach the others once
// per identity; killing a push process takes its members off the others' lists within the
// configured expiry; carol (team 2) never sees team 1's list.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Router from '@koa/router';
import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import { Model } from 'objection';
import type { Browser, Page } from 'playwright-core';
import { createPush } from '../../adapters/koa/index.ts';
import { objection } from '../../adapters/objection/index.ts';
import { redisLog } from '../../adapters/redis/index.ts';
import { authMigrationSource } from '../../demo/auth-migrations.ts';
import { authPushOptions, registerAuth, sessionMiddleware } from '../../demo/auth.ts';
import { startPushProcess, type PushProcess } from '../../demo/push-process.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { sse } from '../../transports/sse.ts';
import { websocket } from '../../transports/websocket.ts';
import { browserAvailable, launch } from '../helpers/browser.ts';
import { secret } from '../helpers/push.ts';
import { redisSkip, testRedis } from '../helpers/redis.ts';
import { listen } from '../helpers/server.ts';
import { openSqlite } from '../../demo/sqlite.ts';

const browserTest = browserAvailable() && redisSkip() === undefined ? test.serial : test.skip;

/** Presence timing of the push processes: short, so the test takes seconds. */
const heartbeatMs = 500;
const expiryMs = 1_500;
const leaveDelayMs = 1_000;

/** What a page's `serverpush:presence` listener recorded. */
interface Seen {
  readonly type: string;
  readonly channel: string;
  readonly member: string | null;
  readonly names: string[];
}

/** The auth demo's app in this process, its pages connecting to push process `a` or (with `?via=b`) `b`. */
async function twoProcesses(t: ExecutionContext) {
  const directory = mkdtempSync(join(tmpdir(), 'serverpush-presence-'));
  const filename = join(directory, 'auth.sqlite');
  const knex = openSqlite(filename);
  await knex.migrate.latest({ migrationSource: authMigrationSource });
  Model.knex(knex);
  const redis = await testRedis(t);
  const log = await redisLog({ url: redis.url, onWarning: () => {} });
  const origins: Record<'a' | 'b', string> = { a: '', b: '' };
  const router = new Router();
  const push = createPush({
    ...authPushOptions,
    secret,
    router,
    orm: objection(),
    log,
    transports: [websocket(), sse(), longPoll()],
    endpoint: (ctx) => `${ctx.query['via'] === 'b' ? origins.b : origins.a}/serverpush`,
  });
  registerAuth({ router, push });
  const app = new Koa();
  app.use(sessionMiddleware(app)).use(push.middleware()).use(router.routes()).use(router.allowedMethods());
  const { url } = await listen(t, app.callback());
  const processes: PushProcess[] = [];
  const start = () =>
    startPushProcess({
      app: new URL('../../demo/auth-push-server.ts', import.meta.url).pathname,
      env: {
        PUSH_SECRET: secret,
        DEMO_DB: filename,
        DEMO_LOG: 'redis',
        REDIS_URL: redis.url,
        APP_ORIGIN: url,
        PRESENCE_HEARTBEAT_MS: String(heartbeatMs),
        PRESENCE_EXPIRY_MS: String(expiryMs),
        PRESENCE_LEAVE_DELAY_MS: String(leaveDelayMs),
      },
    });
  const [a, b] = await Promise.all([start(), start()]);
  processes.push(a, b);
  origins.a = a.origin;
  origins.b = b.origin;
  t.teardown(async () => {
    for (const child of processes) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await push.close();
    await knex.destroy();
    rmSync(directory, { recursive: true, force: true });
  });
  return { url, a, b };
}

/** Logs `username` in, in a browser context of its own, whose pages record their presence events. */
async function login(browser: Browser, url: string, username: string): Promise<(via: 'a' | 'b') => Promise<Page>> {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    const seen: Seen[] = [];
    (window as unknown as { seen: Seen[] }).seen = seen;
    // No named functions in here: tsx would wrap them in a helper the page does not have.
    document.addEventListener('serverpush:presence', (event) => {
      const { type, channel, member, members } = event.detail;
      seen.push({
        type,
        channel,
        member: member === undefined ? null : (member.data as { name: string }).name,
        names: members.map((each) => (each.data as { name: string }).name),
      });
    });
  });
  // Logged in through the context's own requests (its cookies): a /todos page rendered by the login
  // form would be present for a moment, and the others would see it come and go.
  const answer = await context.request.post(`${url}/login`, { form: { username, password: 'demo' }, maxRedirects: 0 });
  if (answer.status() !== 303) throw new Error(`logging in as ${username}: ${answer.status()}`);
  return async (via) => {
    const page = await context.newPage();
    await page.goto(`${url}/todos?via=${via}`);
    await page.waitForFunction(() => document.documentElement.dataset['serverpushState'] === 'connected', undefined, {
      timeout: 10_000,
    });
    return page;
  };
}

const seen = (page: Page) => page.evaluate(() => (window as unknown as { seen: Seen[] }).seen);
/** The names the page's presence list shows, its own viewer included. */
const viewers = (page: Page) => page.locator('#viewers li').allTextContents();
const about = (events: Seen[], type: string, name: string) =>
  events.filter((e) => e.type === type && e.member === name);

browserTest(
  'presence in Chromium: joins and leaves once per identity across two push processes, a killed process takes its members, carol sees only her team',
  async (t) => {
    t.timeout(60_000);
    const { url, a } = await twoProcesses(t);
    const browser = await launch(t);
    const [asAlice, asBob, asCarol] = await Promise.all([
      login(browser, url, 'alice'),
      login(browser, url, 'bob'),
      login(browser, url, 'carol'),
    ]);

    // Bob first, on process b; then alice in two tabs, one on each process.
    const bob = await asBob('b');
    await bob.locator('#viewers li', { hasText: 'bob' }).waitFor({ state: 'attached', timeout: 5_000 });
    t.deepEqual(await viewers(bob), ['bob']);
    const aliceA = await asAlice('a');
    const aliceB = await asAlice('b');
    const carol = await asCarol('a');
    for (const page of [bob, aliceA, aliceB]) {
      await page.locator('#viewers li', { hasText: 'alice' }).waitFor({ state: 'attached', timeout: 5_000 });
      await page.locator('#viewers li', { hasText: 'bob' }).waitFor({ state: 'attached', timeout: 5_000 });
    }
    t.deepEqual((await viewers(bob)).sort(), ['alice', 'bob']);
    t.is(await bob.locator('#others-count').textContent(), '1');
    // Bob's own item is his, hidden: "who else" is alice.
    t.is(await bob.locator('#viewers li[data-serverpush-self]').textContent(), 'bob');
    t.false(await bob.locator('#viewers li[data-serverpush-self]').isVisible());
    t.is(about(await seen(bob), 'join', 'alice').length, 1, 'two tabs of alice on two processes are one join');

    // Alice closes her tab on process a: she is still there on b, nobody hears her leave.
    await aliceA.close({ runBeforeUnload: true });
    await new Promise((resolve) => setTimeout(resolve, leaveDelayMs + 1_000));
    t.deepEqual((await viewers(bob)).sort(), ['alice', 'bob']);
    t.is(about(await seen(bob), 'leave', 'alice').length, 0);
    // Her last tab closes: one leave.
    await aliceB.close({ runBeforeUnload: true });
    await bob.locator('#viewers li', { hasText: 'alice' }).waitFor({ state: 'detached', timeout: 5_000 });
    t.is(about(await seen(bob), 'leave', 'alice').length, 1);

    // She comes back on process a, which is then killed: within the expiry, she is gone from bob's list.
    const aliceAgain = await asAlice('a');
    await bob.locator('#viewers li', { hasText: 'alice' }).waitFor({ state: 'attached', timeout: 5_000 });
    t.is(about(await seen(bob), 'join', 'alice').length, 2);
    t.deepEqual((await viewers(aliceAgain)).sort(), ['alice', 'bob']);
    a.kill('SIGKILL');
    const killed = Date.now();
    await bob.locator('#viewers li', { hasText: 'alice' }).waitFor({ state: 'detached', timeout: 10_000 });
    const took = Date.now() - killed;
    t.log(
      `alice left bob's list ${took} ms after her push process was killed (heartbeat ${heartbeatMs} ms, expiry ${expiryMs} ms)`,
    );
    // expiryMs after its last heartbeat, found by a sweep every heartbeatMs; slack for the browser and a loaded machine.
    t.true(took <= expiryMs + heartbeatMs + 2_000, `took ${took} ms`);
    t.is(about(await seen(bob), 'leave', 'alice').length, 2);
    t.deepEqual(await viewers(bob), ['bob']);

    // Carol, team 2, on the killed process too: she only ever saw her own team's channel, alone.
    const carolSaw = await seen(carol);
    t.true(carolSaw.length > 0);
    t.true(carolSaw.every((event) => event.channel === 'team:2:todos'));
    t.true(carolSaw.every((event) => event.names.every((name) => name === 'carol')));
    t.true((await seen(bob)).every((event) => event.channel === 'team:1:todos' && !event.names.includes('carol')));
  },
);
