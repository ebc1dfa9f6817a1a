// Chaos: the network between push processes and their change log is cut, stalled, or the service
// restarted, while changes are written; a page polling a real long-poll endpoint gets every change
// once, in order, or a `refresh`, never a silent gap, and the service resumes by itself. Also a
// push process (the real CLI) killed with SIGKILL mid-stream: its page resumes on another process.
// Each test is bounded (the longest, a 12 s cut, takes about 13 s); they run one at a time.

import { once } from 'node:events';
import Router from '@koa/router';
import test, { type ExecutionContext } from 'ava';
import type { Knex } from 'knex';
import createKnex from 'knex';
import Koa from 'koa';
import { Model } from 'objection';
import { knexLog } from '../../adapters/knex-log/index.ts';
import { migrateKnexLog } from '../../adapters/knex-log/migration.ts';
import { createPush as createKoaPush } from '../../adapters/koa/index.ts';
import { objection, pushable } from '../../adapters/objection/index.ts';
import { redisLog, type RedisLogOptions } from '../../adapters/redis/index.ts';
import type { ChangeLog } from '../../core/change-log.ts';
import { createPush } from '../../core/push.ts';
import type { ChangeInput, Message } from '../../core/types.ts';
import { startPushProcess } from '../../demo/push-process.ts';
import { knexConfig, postgres, testDatabases } from '../helpers/databases.ts';
import { secret } from '../helpers/push.ts';
import { redisSkip, testRedis } from '../helpers/redis.ts';
import { relay } from '../helpers/relay.ts';
import { listen } from '../helpers/server.ts';
import { longPoll } from '../../transports/long-poll.ts';

const redisTest = redisSkip() === undefined ? test.serial : test.serial.skip;
const postgresql = (await testDatabases()).find((db) => db.dialect === 'postgresql')!;
const postgresTest = postgresql.skip === undefined ? test.serial : test.serial.skip;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `done()` holds, checking every 20 ms, at most `ms`; says whether it held. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await sleep(20);
  return done();
}

const item = (seq: number): ChangeInput => ({
  model: 'items',
  op: 'insert',
  id: seq,
  after: { id: seq, seq },
  before: null,
});
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A push server over HTTP (Koa, long-poll) whose `/items` page listens to every item. */
async function pushServer(t: ExecutionContext, log: ChangeLog) {
  const router = new Router();
  const push = createKoaPush({ secret, router, log, transports: [longPoll({ timeoutMs: 1_000 })] });
  t.teardown(() => push.close());
  router.get('items', '/items', (ctx) => {
    ctx.body = ctx.state.serverpush.token;
  });
  push.updates('items', () => [{ name: 'item', model: 'items', data: { seq: 'seq' } }]);
  const app = new Koa().use(push.routes()).use(push.middleware()).use(router.routes());
  const { url } = await listen(t, app.callback());
  return { push, base: `${url}/serverpush`, page: async () => (await fetch(`${url}/items`)).text() };
}

/** What one page received over long-poll: the `seq` of each change, and the refreshes. */
interface Follower {
  readonly seqs: number[];
  readonly refreshes: string[];
  /** Failed polls (the client retries them), for the log. */
  readonly errors: string[];
  /** Polls from now on go to `base` (another push process), resuming from the last cursor. */
  moveTo(base: string): void;
  stop(): Promise<void>;
}

/**
 * Polls `base` for the page of `token` as the browser client would: again at once after an answer,
 * after 100 ms after a failure, from the cursor of the last message received. A refresh ends it,
 * as a page reloads. Bounded: 60 s at most.
 */
function follow(base: string, token: string): Follower {
  const seqs: number[] = [];
  const refreshes: string[] = [];
  const errors: string[] = [];
  let cursor: string | undefined;
  let stopped = false;
  let controller = new AbortController();
  const loop = (async () => {
    const deadline = Date.now() + 60_000;
    while (!stopped && refreshes.length === 0 && Date.now() < deadline) {
      try {
        controller = new AbortController();
        const query = new URLSearchParams(cursor === undefined ? { token } : { token, cursor });
        const response = await fetch(`${base}/long-poll?${query}`, { signal: controller.signal });
        if (response.status === 204) continue;
        if (response.status !== 200) throw new Error(`${response.status} ${await response.text()}`);
        const { messages } = (await response.json()) as { messages: Message[] };
        for (const message of messages) {
          if ('reason' in message) refreshes.push(message.reason);
          else {
            seqs.push((message.data as { seq: number }).seq);
            cursor = message.cursor;
          }
        }
      } catch (error) {
        if (stopped) break;
        errors.push(error instanceof Error ? error.message : String(error));
        await sleep(100);
      }
    }
  })();
  return {
    seqs,
    refreshes,
    errors,
    moveTo(next) {
      base = next;
      controller.abort();
    },
    async stop() {
      stopped = true;
      controller.abort();
      await loop;
    },
  };
}

/** Warnings collected instead of printed. */
/** A page rendered anew after a refresh hears the next change (`seq`), within `ms`, and nothing else. */
async function reloadedHears(
  t: ExecutionContext,
  server: Awaited<ReturnType<typeof pushServer>>,
  app: { publish(change: ReturnType<typeof item>): Promise<unknown> },
  seq: number,
  ms: number,
): Promise<void> {
  const reloaded = follow(server.base, await server.page());
  t.teardown(() => reloaded.stop());
  await app.publish(item(seq));
  t.true(await until(() => reloaded.seqs.length === 1, ms));
  await reloaded.stop();
  t.deepEqual({ seqs: reloaded.seqs, refreshes: reloaded.refreshes }, { seqs: [seq], refreshes: [] });
}

function warnings() {
  const list: string[] = [];
  return { list, onWarning: (message: string) => void list.push(message) };
}

async function redisLogOf(t: ExecutionContext, url: string, options: Partial<RedisLogOptions> = {}) {
  const log = await redisLog({ url, blockMs: 1_000, ...options });
  t.teardown(() => log.close());
  return log;
}

redisTest(
  'a 12 s cut between the push processes and Redis: writes made during it reach the page after it, nothing lost',
  async (t) => {
    t.timeout(30_000);
    const redis = await testRedis(t);
    const cable = await relay(t, redis);
    const { list, onWarning } = warnings();
    const app = createPush({ secret, log: await redisLogOf(t, cable.url(redis.url), { onWarning }) });
    t.teardown(() => app.close());
    const server = await pushServer(t, await redisLogOf(t, cable.url(redis.url), { onWarning }));
    const page = follow(server.base, await server.page());
    t.teardown(() => page.stop());
    for (const seq of range(1, 5)) await app.publish(item(seq));
    t.true(await until(() => page.seqs.length === 5, 5_000));

    await cable.cut(12_000);
    const started = Date.now();
    const during: Promise<unknown>[] = [];
    for (const seq of range(6, 10)) {
      during.push(app.publish(item(seq)));
      await sleep(500);
    }
    await until(() => cable.connections > 0, 15_000);
    t.true(Date.now() - started >= 12_000);
    const results = await Promise.allSettled(during);
    t.deepEqual(
      results.map((result) => result.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'],
      'publish() waited for Redis instead of failing',
    );
    for (const seq of range(11, 15)) await app.publish(item(seq));
    await until(() => page.seqs.length >= 15 || page.refreshes.length > 0, 10_000);
    await page.stop();
    t.log(
      `the page: ${page.seqs.length} changes, refreshes ${JSON.stringify(page.refreshes)}; ${page.errors.length} failed polls`,
    );
    t.deepEqual({ seqs: page.seqs, refreshes: page.refreshes }, { seqs: range(1, 15), refreshes: [] });
    // Each log warned once when Redis failed and once when it was back.
    t.is(list.filter((warning) => warning.includes(' failed (')).length, 2, list.join('\n'));
    t.is(list.filter((warning) => warning.includes(' is back after ')).length, 2, list.join('\n'));
  },
);

redisTest(
  'a Redis cut longer than maxBufferedMs: the changes given up make every page refresh (epoch), and the service resumes',
  async (t) => {
    t.timeout(45_000);
    const redis = await testRedis(t);
    const cable = await relay(t, redis);
    const { list, onWarning } = warnings();
    const app = createPush({
      secret,
      log: await redisLogOf(t, cable.url(redis.url), { maxBufferedMs: 1_500, onWarning }),
    });
    t.teardown(() => app.close());
    const server = await pushServer(t, await redisLogOf(t, cable.url(redis.url), { onWarning }));
    const page = follow(server.base, await server.page());
    t.teardown(() => page.stop());
    for (const seq of range(1, 3)) await app.publish(item(seq));
    t.true(await until(() => page.seqs.length === 3, 5_000));
    await cable.cut(4_000);
    const lost = await Promise.allSettled([app.publish(item(4)), app.publish(item(5))]);
    t.deepEqual(
      lost.map((result) => result.status),
      ['rejected', 'rejected'],
    );
    t.true(await until(() => page.refreshes.length > 0, 15_000), 'the page was told to refresh');
    await page.stop();
    t.deepEqual(page.refreshes, ['epoch']);
    // A try still on its way may have appended them before the new epoch: then in order, once.
    t.deepEqual(
      page.seqs.filter((seq) => seq > 3),
      range(4, 3 + page.seqs.filter((seq) => seq > 3).length),
    );
    t.true(list.some((warning) => warning.endsWith('every page will refresh (epoch)')));
    // The reloaded page works on.
    // Under load the push server's reader may still be reconnecting after the cut.
    await reloadedHears(t, server, app, 6, 15_000);
  },
);

redisTest(
  'a 3 s stall (packets dropped) between the push processes and Redis: nothing lost, nothing doubled',
  async (t) => {
    t.timeout(30_000);
    const redis = await testRedis(t);
    const cable = await relay(t, redis);
    const app = createPush({ secret, log: await redisLogOf(t, cable.url(redis.url), { onWarning: () => {} }) });
    t.teardown(() => app.close());
    const server = await pushServer(t, await redisLogOf(t, cable.url(redis.url), { onWarning: () => {} }));
    const page = follow(server.base, await server.page());
    t.teardown(() => page.stop());
    for (const seq of range(1, 5)) await app.publish(item(seq));
    t.true(await until(() => page.seqs.length === 5, 5_000));
    cable.stall(3_000);
    const during: Promise<unknown>[] = [];
    for (const seq of range(6, 10)) {
      during.push(app.publish(item(seq)));
      await sleep(300);
    }
    await Promise.all(during);
    for (const seq of range(11, 15)) await app.publish(item(seq));
    await until(() => page.seqs.length >= 15 || page.refreshes.length > 0, 10_000);
    await page.stop();
    t.deepEqual({ seqs: page.seqs, refreshes: page.refreshes }, { seqs: range(1, 15), refreshes: [] });
  },
);

redisTest(
  'Redis restarted with its data while changes are written: the page gets every change once, in order',
  async (t) => {
    t.timeout(30_000);
    const redis = await testRedis(t, { persist: true });
    const app = createPush({ secret, log: await redisLogOf(t, redis.url, { onWarning: () => {} }) });
    t.teardown(() => app.close());
    const server = await pushServer(t, await redisLogOf(t, redis.url, { onWarning: () => {} }));
    const page = follow(server.base, await server.page());
    t.teardown(() => page.stop());
    for (const seq of range(1, 5)) await app.publish(item(seq));
    t.true(await until(() => page.seqs.length === 5, 5_000));
    await redis.stop();
    const during = [app.publish(item(6)), app.publish(item(7))];
    await sleep(1_000);
    await redis.start();
    await Promise.all(during);
    for (const seq of range(8, 10)) await app.publish(item(seq));
    await until(() => page.seqs.length >= 10 || page.refreshes.length > 0, 10_000);
    await page.stop();
    t.deepEqual({ seqs: page.seqs, refreshes: page.refreshes }, { seqs: range(1, 10), refreshes: [] });
  },
);

redisTest(
  'Redis restarted without its data while changes are written: the page refreshes (epoch), and a new page works',
  async (t) => {
    t.timeout(30_000);
    const redis = await testRedis(t);
    const app = createPush({ secret, log: await redisLogOf(t, redis.url, { onWarning: () => {} }) });
    t.teardown(() => app.close());
    const server = await pushServer(t, await redisLogOf(t, redis.url, { onWarning: () => {} }));
    const page = follow(server.base, await server.page());
    t.teardown(() => page.stop());
    for (const seq of range(1, 5)) await app.publish(item(seq));
    t.true(await until(() => page.seqs.length === 5, 5_000));
    await redis.stop();
    const during = [app.publish(item(6)), app.publish(item(7))];
    await sleep(1_000);
    await redis.start();
    await Promise.all(during);
    t.true(await until(() => page.refreshes.length > 0, 10_000), 'the page was told to refresh');
    await page.stop();
    t.deepEqual({ seqs: page.seqs, refreshes: page.refreshes }, { seqs: range(1, 5), refreshes: ['epoch'] });
    await reloadedHears(t, server, app, 8, 5_000);
  },
);

redisTest(
  'a push process (the CLI) killed with SIGKILL mid-stream: its page resumes on another, nothing lost',
  async (t) => {
    t.timeout(30_000);
    const redis = await testRedis(t);
    const env = { GROUP_REDIS_URL: redis.url, GROUP_REDIS_KEY: 'chaos', GROUP_SECRET: secret };
    const [doomed, survivor] = await Promise.all(
      [1, 2].map(async () => {
        const child = await startPushProcess({ app: 'test/fixtures/group-app.ts', env });
        t.teardown(() => void child.kill('SIGKILL'));
        return child;
      }),
    );
    // The app renders the page and publishes, on the same log, as the app process would.
    const { groupPush } = await import('../fixtures/group-app.ts');
    const app = await groupPush(redis.url, 'chaos', secret);
    t.teardown(() => app.close());
    const token = app.token({
      path: '/groups/1',
      query: '',
      identity: null,
      languages: [],
      cursor: await app.log.head(),
    });
    const page = follow(`${doomed!.origin}/serverpush`, token);
    t.teardown(() => page.stop());
    const total = 400;
    for (let seq = 0; seq < total; seq += 10) {
      await app.publish(
        range(seq, seq + 9).map((n) => ({
          model: 'items',
          op: 'insert',
          id: n,
          after: { id: n, group: n % 2, seq: n },
          before: null,
        })),
      );
      if (seq === total / 2) {
        doomed!.kill('SIGKILL');
        await once(doomed!, 'exit');
        page.moveTo(`${survivor!.origin}/serverpush`);
      }
      await sleep(10);
    }
    const expected = range(0, total - 1).filter((n) => n % 2 === 1);
    await until(() => page.seqs.length >= expected.length || page.refreshes.length > 0, 15_000);
    await page.stop();
    t.log(`${page.errors.length} failed polls while the process was gone`);
    t.deepEqual({ seqs: page.seqs, refreshes: page.refreshes }, { seqs: expected, refreshes: [] });
  },
);

postgresTest(
  'a 3 s cut between a push process and PostgreSQL: outbox writes made during it reach the page after it',
  async (t) => {
    t.timeout(30_000);
    const knex = await postgresql.connect(t);
    await migrateKnexLog(knex);
    await knex.schema.createTable('items', (table) => {
      table.increments('id');
      table.integer('seq').notNullable();
    });
    class Item extends pushable(Model) {
      static override tableName = 'items';
      declare id: number;
      declare seq: number;
    }
    // The app writes on its own connection; the push process reads through the relay.
    const app = createPush({ secret, orm: objection({ knex }), log: await knexLog({ knex, onWarning: () => {} }) });
    t.teardown(() => app.close());
    const cable = await relay(t, postgres);
    const schema = (knex.client.config as Knex.Config).searchPath?.[0];
    const config = knexConfig('postgresql', schema);
    const relayed = createKnex({
      ...config,
      connection: { ...(config.connection as object), port: cable.port, connectionTimeoutMillis: 1_000 },
      log: { warn: () => {} },
    });
    t.teardown(() => relayed.destroy());
    const { list, onWarning } = warnings();
    const server = await pushServer(t, await knexLog({ knex: relayed, onWarning }));
    const page = follow(server.base, await server.page());
    t.teardown(() => page.stop());
    const write = (seq: number) =>
      knex.transaction(async (trx) => {
        await Item.query(trx).insert({ seq });
      });
    for (const seq of range(1, 5)) await write(seq);
    t.true(await until(() => page.seqs.length === 5, 5_000));

    await cable.cut(3_000);
    for (const seq of range(6, 10)) {
      await write(seq);
      await sleep(300);
    }
    await until(() => cable.connections > 0, 5_000);
    for (const seq of range(11, 15)) await write(seq);
    await until(() => page.seqs.length >= 15 || page.refreshes.length > 0, 10_000);
    await page.stop();
    t.log(`${page.errors.length} failed polls during the cut`);
    t.deepEqual({ seqs: page.seqs, refreshes: page.refreshes }, { seqs: range(1, 15), refreshes: [] });
    t.is(list.length, 2, list.join('\n'));
    t.regex(
      list[0]!,
      /^serverpush: PostgreSQL at 127\.0\.0\.1:\d+ failed \(.+\); reading changes resumes when it is back$/,
    );
    t.regex(list[1]!, /^serverpush: PostgreSQL at 127\.0\.0\.1:\d+ is back after \d+\.\d s \(\d+ failed attempts?\)$/);
  },
);
