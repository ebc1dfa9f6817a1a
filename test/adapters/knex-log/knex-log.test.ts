import test, { type ExecutionContext } from 'ava';
import createKnex, { type Knex } from 'knex';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { knexSnakeCaseMappers, Model } from 'objection';
import { knexLog, type KnexLog, type KnexLogOptions } from '../../../adapters/knex-log/index.ts';
import { down, knexLogMigrations, migrateKnexLog } from '../../../adapters/knex-log/migration.ts';
import { objection, pushable } from '../../../adapters/objection/index.ts';
import { createPush } from '../../../core/push.ts';
import type { Change, ChangeInput, ChangeMessage } from '../../../core/types.ts';
import { knexConfig, postgres, testDatabases, type TestDatabase } from '../../helpers/databases.ts';
import { closing, page, secret } from '../../helpers/push.ts';
import { relay } from '../../helpers/relay.ts';

// Every test runs on sqlite (a file, so that a second knex can open it as another process would)
// and on PostgreSQL (a schema of its own).

const databases = await testDatabases();

const change = (id: number): ChangeInput => ({
  model: 'counters',
  op: 'update',
  id,
  after: { id, hits: id },
  before: { id, hits: id - 1 },
});

interface Database {
  readonly knex: Knex;
  /** Another knex on the same database, as another process would have; destroyed when the test ends. */
  reopen(): Promise<Knex>;
}

/** A fresh database with the change log's migration run. */
async function migrated(t: ExecutionContext, db: TestDatabase): Promise<Database> {
  let reopen: () => Promise<Knex>;
  let knex: Knex;
  if (db.dialect === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'serverpush-knex-log-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const config = { ...knexConfig('sqlite'), connection: { filename: join(dir, 'app.sqlite') } };
    reopen = async () => {
      const other = createKnex(config);
      t.teardown(() => other.destroy());
      return other;
    };
    knex = await reopen();
  } else {
    knex = await db.connect(t);
    const config = knexConfig('postgresql', (knex.client.config as Knex.Config).searchPath?.[0]);
    reopen = async () => {
      const other = createKnex(config);
      t.teardown(() => other.destroy());
      return other;
    };
  }
  await migrateKnexLog(knex);
  return { knex, reopen };
}

/** A log on `knex` with short timings, closed when the test ends. */
async function opened(t: ExecutionContext, knex: Knex, options: Partial<KnexLogOptions> = {}): Promise<KnexLog> {
  const log = await knexLog({ knex, pollIntervalMs: 20, ...options });
  t.teardown(() => log.close());
  return log;
}

/** Resolves once `done()` holds; fails the test after `timeoutMs`. */
async function until(t: ExecutionContext, done: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) {
      t.fail(`not done within ${timeoutMs} ms`);
      return;
    }
    await sleep(10);
  }
}

function tailed(t: ExecutionContext, log: KnexLog): Change[] {
  const seen: Change[] = [];
  t.teardown(log.tail((c) => seen.push(c)));
  return seen;
}

const idsOf = (changes: readonly Change[]) => changes.map((c) => c.id);

for (const db of databases) {
  const title = (what: string) => `${what} (${db.dialect})`;
  const maybe = db.skip === undefined ? test : test.skip;

  maybe(title('knexLog() since() returns the changes after a cursor, in order'), async (t) => {
    const { knex } = await migrated(t, db);
    const log = await opened(t, knex);
    const start = await log.head();
    t.regex(start, /^[a-f0-9]{10}\.0$/);
    const appended = await log.append([
      change(1),
      change(2),
      { model: 'tags', op: 'delete', id: ['post', 7], after: null, before: { post: 'post', tag: 7 } },
    ]);
    const epoch = start.split('.')[0]!;
    t.deepEqual(
      appended.map((c) => c.cursor),
      [`${epoch}.1`, `${epoch}.2`, `${epoch}.3`],
    );
    t.is(await log.head(), `${epoch}.3`);
    t.deepEqual(await log.since(start), { ok: true, changes: appended });
    const rest = await log.since(appended[1]!.cursor);
    t.deepEqual(rest, { ok: true, changes: [appended[2]!] });
    t.deepEqual(await log.since(await log.head()), { ok: true, changes: [] });
    t.true(log.compare(appended[0]!.cursor, appended[2]!.cursor) < 0);
  });

  maybe(title("knexLog() works on a knex with objection's snake case mappers"), async (t) => {
    const { knex } = await migrated(t, db);
    const mapped = createKnex({ ...(knex.client.config as Knex.Config), ...knexSnakeCaseMappers() });
    t.teardown(() => mapped.destroy());
    const log = await opened(t, mapped, { trimIntervalMs: 20, maxCount: 1 });
    const seen = tailed(t, log);
    const start = await log.head();
    const appended = await log.append([
      change(1),
      { model: 'tags', op: 'insert', id: ['a', 1], after: { postId: 'a' } },
    ]);
    await until(t, () => seen.length === 2);
    t.deepEqual(seen, appended);
    await until(t, async () => !(await log.since(start)).ok);
    t.deepEqual(await log.since(appended[0]!.cursor), { ok: true, changes: [appended[1]!] });
  });

  maybe(title('knexLog() throws SERVERPUSH_ERR_BAD_CURSOR for malformed and future cursors'), async (t) => {
    const { knex } = await migrated(t, db);
    const log = await opened(t, knex);
    await log.append([change(1)]);
    const epoch = (await log.head()).split('.')[0]!;
    await t.throwsAsync(log.since('not a cursor'), {
      code: 'SERVERPUSH_ERR_BAD_CURSOR',
      message: 'cursor "not a cursor" is malformed',
    });
    await t.throwsAsync(log.since(`${epoch}.5`), {
      code: 'SERVERPUSH_ERR_BAD_CURSOR',
      message: `cursor "${epoch}.5" is ahead of the change log`,
    });
    t.throws(() => log.check(`${epoch}.-1`), { code: 'SERVERPUSH_ERR_BAD_CURSOR' });
    // Another process may have issued it: its tail will catch up.
    t.true(log.check(`${epoch}.5`));
  });

  maybe(title('knexLog() answers cursors of a recreated database with an epoch refresh'), async (t) => {
    const { knex } = await migrated(t, db);
    const before = await opened(t, knex);
    await before.append([change(1)]);
    const old = await before.head();
    await before.close();
    await knex.migrate.rollback({ migrationSource: knexLogMigrations(), tableName: 'serverpush_migrations' });
    await migrateKnexLog(knex);
    const after = await opened(t, knex);
    await after.append([change(1)]);
    t.false(after.check(old));
    t.deepEqual(await after.since(old), { ok: false, reason: 'epoch' });
    t.not((await after.head()).split('.')[0], old.split('.')[0]);
  });

  maybe(
    title("knexLog() tail() of a second log on the database sees the first one's appends, in order, once"),
    async (t) => {
      const { knex, reopen } = await migrated(t, db);
      const first = await opened(t, knex);
      const second = await opened(t, await reopen());
      const third = await opened(t, await reopen());
      const seen = [tailed(t, first), tailed(t, second), tailed(t, third)];
      for (let i = 1; i <= 10; i += 1) await [first, second, third][i % 3]!.append([change(i), change(100 + i)]);
      // Tails deliver in order: once each has the last change, one delivered twice would show before it.
      await first.append([change(999)]);
      await until(t, () => seen.every((changes) => changes.at(-1)?.id === 999));
      const expected = [...Array.from({ length: 10 }, (_, i) => [i + 1, 101 + i]).flat(), 999];
      for (const changes of seen) t.deepEqual(idsOf(changes), expected);
      t.deepEqual(
        seen[1]!.map((c) => c.cursor),
        seen[0]!.map((c) => c.cursor),
      );
    },
  );

  maybe(title('knexLog() trims by count and answers an older cursor with a history refresh'), async (t) => {
    const { knex } = await migrated(t, db);
    const log = await opened(t, knex, { maxCount: 3, trimIntervalMs: 20 });
    const start = await log.head();
    const appended = await log.append([1, 2, 3, 4, 5].map(change));
    await until(t, async () => Number((await knex('serverpush_changes').count({ n: '*' }))[0]?.['n']) === 3);
    t.deepEqual(await log.since(start), { ok: false, reason: 'history' });
    t.deepEqual(await log.since(appended[0]!.cursor), { ok: false, reason: 'history' });
    t.deepEqual(await log.since(appended[1]!.cursor), { ok: true, changes: appended.slice(2) });
  });

  maybe(title('knexLog() trims by age and keeps its horizon when every change is gone'), async (t) => {
    const { knex } = await migrated(t, db);
    const log = await opened(t, knex, { maxAgeMs: 200, trimIntervalMs: 20 });
    const start = await log.head();
    const old = await log.append([change(1), change(2)]);
    await until(t, async () => Number((await knex('serverpush_changes').count({ n: '*' }))[0]?.['n']) === 0);
    t.deepEqual(await log.since(start), { ok: false, reason: 'history' });
    t.is(await log.head(), old[1]!.cursor);
    t.deepEqual(await log.since(old[1]!.cursor), { ok: true, changes: [] });
    const fresh = await log.append([change(3)]);
    t.deepEqual(await log.since(old[1]!.cursor), { ok: true, changes: fresh });
  });

  maybe(title("knexLog() replays the changes after a client's cursor once restarted"), async (t) => {
    const { knex, reopen } = await migrated(t, db);
    const push = closing(t, createPush({ secret, log: await knexLog({ knex, pollIntervalMs: 20 }) }));
    push.global(() => [{ name: 'hits', model: 'counters', data: { hits: 'hits' } }]);
    const token = await page(push);
    await push.publish([change(1), change(2)]);
    const seen = (await push.poll(token, undefined, { waitMs: 0 })) as ChangeMessage[];
    t.deepEqual(
      seen.map((m) => m.id),
      [1, 2],
    );
    await push.publish([change(3), change(4)]);
    await push.close();

    const restarted = closing(t, createPush({ secret, log: await opened(t, await reopen()) }));
    restarted.global(() => [{ name: 'hits', model: 'counters', data: { hits: 'hits' } }]);
    const missed = (await restarted.poll(token, seen[1]!.cursor, { waitMs: 0 })) as ChangeMessage[];
    t.deepEqual(
      missed.map((m) => [m.id, m.data]),
      [
        [3, { hits: 3 }],
        [4, { hits: 4 }],
      ],
    );
  });

  maybe(title('objection() with a knexLog() publishes a committed write through the log'), async (t) => {
    const { knex, Todo, push } = await outbox(t, db);
    const token = await page(push);
    t.deepEqual(await push.poll(token, undefined, { waitMs: 0 }), []);
    await knex.transaction(async (trx) => {
      await Todo.query(trx).insert({ title: 'write the outbox' });
      t.is(await changeRows(trx), 1); // inside the transaction already
      const undone = trx.transaction(async (savepoint) => {
        await Todo.query(savepoint).insert({ title: 'undone' });
        throw new Error('undo');
      });
      await t.throwsAsync(undone, { message: 'undo' });
      await Todo.query(trx).patch({ title: 'and commit it' }).where('title', 'write the outbox');
    });
    // The reader may settle the transaction's ids in two reads (it saw the sequence mid-transaction),
    // so the two changes can come in two responses: read on, from the cursor, until both are here.
    const messages: ChangeMessage[] = [];
    for (let tries = 0; messages.length < 2 && tries < 10; tries += 1) {
      messages.push(...((await push.poll(token, messages.at(-1)?.cursor, { waitMs: 5_000 })) as ChangeMessage[]));
    }
    t.deepEqual(
      messages.map(({ name, op, model, id, data }) => ({ name, op, model, id, data })),
      [
        { name: 'todo', op: 'insert', model: 'todos', id: 1, data: { title: 'write the outbox' } },
        { name: 'todo', op: 'update', model: 'todos', id: 1, data: { title: 'and commit it' } },
      ],
    );
    t.is(await changeRows(knex), 2);
  });

  maybe(title('objection() with a knexLog() publishes nothing for a rolled-back write'), async (t) => {
    const { knex, Todo, push } = await outbox(t, db);
    const token = await page(push);
    await push.poll(token, undefined, { waitMs: 0 });
    await t.throwsAsync(
      knex.transaction(async (trx) => {
        await Todo.query(trx).insert({ title: 'never' });
        await Todo.query(trx).patch({ title: 'nor this' });
        throw new Error('changed my mind');
      }),
      { message: 'changed my mind' },
    );
    t.deepEqual(await push.poll(token, undefined, { waitMs: 300 }), []);
    t.is(await changeRows(knex), 0);
    await Todo.query().insert({ title: 'this one' });
    const messages = (await push.poll(token, undefined, { waitMs: 5_000 })) as ChangeMessage[];
    t.deepEqual(
      messages.map((m) => m.data),
      [{ title: 'this one' }],
    );
  });

  maybe(title('objection() with a knexLog() fails the write when its change rows cannot be written'), async (t) => {
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    const { knex, Todo } = await outbox(t, db, () => circular);
    await t.throwsAsync(
      knex.transaction(async (trx) => {
        await Todo.query(trx).insert({ title: 'alone' });
      }),
      { instanceOf: TypeError, message: /circular/i },
    );
    t.is(await changeRows(knex), 0);
    t.is((await knex('todos').count({ n: '*' }))[0]?.['n'], db.dialect === 'sqlite' ? 0 : '0');
  });

  maybe(
    title(
      'knexLog() since() answers a cursor behind its horizon without reading rows, and reads the rest 1,000 rows a query',
    ),
    async (t) => {
      const { knex } = await migrated(t, db);
      const log = await opened(t, knex, { maxCount: 1_500, trimIntervalMs: 20 });
      const start = await log.head();
      const appended = await log.append(Array.from({ length: 2_500 }, (_, i) => change(i)));
      await until(t, async () => (await changeRows(knex)) === 1_500);
      // Rows each query on the change table returned, from now on (the tail's idle reads return none).
      const read: number[] = [];
      knex.on('query-response', (response: unknown, query: { sql: string }) => {
        const rows = Array.isArray(response) ? response.length : 0;
        if (/from [`"]serverpush_changes[`"]/.test(query.sql) && rows > 0) read.push(rows);
      });
      t.deepEqual(await log.since(start), { ok: false, reason: 'history' });
      t.deepEqual(read, [], 'a cursor behind the horizon reads no change row');
      const kept = await log.since(appended[999]!.cursor);
      t.deepEqual(kept.ok && kept.changes, appended.slice(1_000));
      t.deepEqual(read, [1_000, 500]);
    },
  );

  maybe(
    title('knexLog() fails with the migration hint when its tables are missing, and keeps the cause'),
    async (t) => {
      const knex = db.dialect === 'sqlite' ? createKnex(knexConfig('sqlite')) : await db.connect(t);
      if (db.dialect === 'sqlite') t.teardown(() => knex.destroy());
      const error = await t.throwsAsync(knexLog({ knex }), {
        message: 'knexLog(): cannot read serverpush_changes_meta: did the migration run (migrateKnexLog())?',
      });
      t.true(error?.cause instanceof Error);
    },
  );

  // PostgreSQL only: killed connections, NOTIFY, and transactions that commit out of id order.
  if (db.dialect !== 'postgresql') continue;

  maybe(title('objection() with a knexLog() commits neither row when the transaction dies between them'), async (t) => {
    const { knex, Todo, reopen } = await outbox(t, db);
    const other = await reopen(); // the app's pool may hand out the killed connection once more
    await t.throwsAsync(
      knex.transaction(async (trx) => {
        await Todo.query(trx).insert({ title: 'doomed' });
        t.is(await changeRows(trx), 1);
        const { rows } = (await trx.raw('select pg_backend_pid() as pid')) as { rows: Array<{ pid: number }> };
        await other.raw('select pg_terminate_backend(?)', [rows[0]!.pid]);
      }),
    );
    t.is(await changeRows(other), 0);
    t.is((await other('todos').count({ n: '*' }))[0]?.['n'], '0');
  });

  maybe(
    title("knexLog() tail() hears of another process's append through NOTIFY, well within pollIntervalMs"),
    async (t) => {
      const { knex, reopen } = await migrated(t, db);
      const writer = await opened(t, knex, { pollIntervalMs: 5_000 });
      const reader = await opened(t, await reopen(), { pollIntervalMs: 5_000 });
      // knexLog() resolves once it LISTENs, and tail() listens at once: nothing to wait for.
      const seen = tailed(t, reader);
      const started = Date.now();
      await writer.append([change(1)]);
      await until(t, () => seen.length === 1, 1_000);
      t.true(Date.now() - started < 1_000);
      t.deepEqual(idsOf(seen), [1]);
    },
  );

  maybe(title('knexLog() delivers changes of transactions that commit out of id order in id order'), async (t) => {
    const { knex, reopen } = await migrated(t, db);
    const readerKnex = await reopen();
    const log = await opened(t, readerKnex);
    // Each poll of the reader starts with a read of the id sequence's last value.
    let polls = 0;
    readerKnex.on('query', ({ sql }: { sql: string }) => {
      if (sql.includes('pg_sequence_last_value')) polls += 1;
    });
    const polled = (count: number) => {
      const from = polls;
      return until(t, () => polls >= from + count);
    };
    const seen = tailed(t, log);
    const start = await log.head();
    const first = await knex.transaction();
    const second = await knex.transaction();
    await log.outbox.appendWithin(first, [change(1)]);
    await log.outbox.appendWithin(second, [change(2)]);
    await second.commit();
    await polled(15);
    t.deepEqual(seen, []);
    t.is(await log.head(), start);
    t.deepEqual(await log.since(start), { ok: true, changes: [] });
    await first.commit();
    await until(t, () => seen.length === 2);
    t.deepEqual(idsOf(seen), [1, 2]);
    const third = await knex.transaction();
    await log.outbox.appendWithin(third, [change(3)]);
    await log.append([change(4)]);
    await polled(10);
    t.deepEqual(idsOf(seen), [1, 2]);
    await third.rollback();
    await until(t, () => seen.length === 3);
    t.deepEqual(idsOf(seen), [1, 2, 4]);
  });

  maybe(
    title('knexLog() tail() of every log sees every change of concurrent transactions once, in id order'),
    async (t) => {
      const { knex, reopen } = await migrated(t, db);
      const logs = [await opened(t, knex), await opened(t, await reopen()), await opened(t, await reopen())];
      const seen = logs.map((log) => tailed(t, log));
      const committed: number[] = [];
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          await sleep(i % 7);
          const trx = await knex.transaction();
          await logs[i % 3]!.outbox.appendWithin(trx, [change(i), change(1_000 + i)]);
          await sleep((i * 37) % 23); // commits in another order than the ids
          if (i % 5 === 4) return trx.rollback();
          committed.push(i, 1_000 + i);
          return trx.commit();
        }),
      );
      // Tails deliver in order: once each has the last change, one delivered twice would show before it.
      await logs[0]!.append([change(9_999)]);
      committed.push(9_999);
      await until(t, () => seen.every((changes) => changes.at(-1)?.id === 9_999));
      const ids = (changes: readonly Change[]) => changes.map((c) => Number.parseInt(c.cursor.split('.')[1]!, 36));
      for (const changes of seen) {
        t.deepEqual(
          ids(changes),
          [...ids(changes)].sort((a, b) => a - b),
        );
        t.deepEqual(
          (idsOf(changes) as number[]).sort((a, b) => a - b),
          [...committed].sort((a, b) => a - b),
        );
      }
      t.deepEqual(seen[1], seen[0]);
      t.deepEqual(seen[2], seen[0]);
    },
  );

  maybe(title("knexLog() close() ends its LISTEN connection and leaves the app's knex open"), async (t) => {
    const { knex } = await migrated(t, db);
    const listening = async () => {
      const { rows } = (await knex.raw(
        `select count(*)::int as n from pg_stat_activity where query = 'listen "serverpush_changes_' || to_regclass('serverpush_changes')::oid || '"'`,
      )) as { rows: Array<{ n: number }> };
      return rows[0]!.n;
    };
    const log = await opened(t, knex);
    t.is(await listening(), 1);
    await log.close();
    await until(t, async () => (await listening()) === 0);
    t.is(await changeRows(knex), 0);
  });

  maybe(
    title('knexLog() warns once when the database fails and once when it is back, and reads on by itself'),
    async (t) => {
      const { knex } = await migrated(t, db);
      const cable = await relay(t, postgres);
      const schema = (knex.client.config as Knex.Config).searchPath?.[0];
      const config = knexConfig('postgresql', schema);
      // What knex itself prints: a line for every connection its pool fails to make.
      const printed: string[] = [];
      const relayed = createKnex({
        ...config,
        connection: { ...(config.connection as object), port: cable.port, connectionTimeoutMillis: 1_000 },
        log: { warn: (message: string) => void printed.push(message) },
      });
      t.teardown(() => relayed.destroy());
      const warnings: string[] = [];
      const reader = await opened(t, relayed, { onWarning: (message) => warnings.push(message) });
      const writer = await opened(t, knex);
      const seen = tailed(t, reader);
      await writer.append([change(1)]);
      await until(t, () => seen.length === 1);
      await cable.cut();
      for (let i = 2; i <= 4; i += 1) {
        await writer.append([change(i)]);
        await sleep(300);
      }
      // Polled every 20 ms for about a second: one warning, and knex printed no more than twice.
      t.is(warnings.length, 1, warnings.join('\n'));
      t.true(printed.length <= 2, `knex printed ${printed.length} times`);
      t.regex(
        warnings[0]!,
        new RegExp(
          `^serverpush: PostgreSQL at 127\\.0\\.0\\.1:${cable.port} failed \\(.+\\); reading changes resumes when it is back$`,
        ),
      );
      await cable.restore();
      await until(t, () => seen.length === 4);
      t.deepEqual(idsOf(seen), [1, 2, 3, 4]);
      await until(t, () => warnings.length === 2);
      t.regex(
        warnings[1]!,
        new RegExp(
          `^serverpush: PostgreSQL at 127\\.0\\.0\\.1:${cable.port} is back after \\d+\\.\\d s \\(\\d+ failed attempts?\\)$`,
        ),
      );
    },
  );
}

test('knexLog() fails naming the database and the cause, not the migration, when PostgreSQL cannot be reached', async (t) => {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const knex = createKnex({ ...knexConfig('postgresql'), connection: { ...postgres, port }, log: { warn() {} } });
  t.teardown(() => knex.destroy());
  const error = await t.throwsAsync(knexLog({ knex }), {
    message: `knexLog(): cannot reach PostgreSQL at 127.0.0.1:${port} (connect ECONNREFUSED 127.0.0.1:${port})`,
  });
  t.like(error?.cause, { code: 'ECONNREFUSED' });
});

test('knexLog() rejects bad options with a TypeError naming the option', async (t) => {
  const knex = createKnex(knexConfig('sqlite'));
  t.teardown(() => knex.destroy());
  await t.throwsAsync(knexLog({ knex, maxCount: 0 }), {
    instanceOf: TypeError,
    message: 'The `maxCount` option must be a positive integer, got 0',
  });
  await t.throwsAsync(knexLog({ knex, pollIntervalMs: 1.5 }), {
    instanceOf: TypeError,
    message: 'The `pollIntervalMs` option must be a positive integer, got 1.5',
  });
  await t.throwsAsync(knexLog({ knex, table: 'bad-name' }), {
    instanceOf: TypeError,
    message: 'The `table` option must be 1 to 50 lower-case letters, digits or underscores, not starting with a digit',
  });
  await t.throwsAsync(knexLog({ knex, notify: 'yes' as unknown as boolean }), {
    instanceOf: TypeError,
    message: 'The `notify` option must be a boolean',
  });
  await t.throwsAsync(knexLog({ knex: {} as Knex }), {
    instanceOf: TypeError,
    message: 'The `knex` option must be a knex instance, not a transaction',
  });
  await t.throwsAsync(knexLog({ knex }), {
    message: 'knexLog(): cannot read serverpush_changes_meta: did the migration run (migrateKnexLog())?',
  });
});

test('knexLogMigrations() creates the tables of another table name, and down() drops them', async (t) => {
  const knex = createKnex(knexConfig('sqlite'));
  t.teardown(() => knex.destroy());
  await knex.migrate.latest({ migrationSource: knexLogMigrations({ table: 'push_changes' }) });
  t.deepEqual(await knex('knex_migrations').pluck('name'), ['push_changes_v1']);
  const log = await knexLog({ knex, table: 'push_changes' });
  t.teardown(() => log.close());
  await log.append([{ model: 'tags', op: 'insert', id: ['post', 7], after: { post: 'post', tag: 7 } }]);
  t.is((await knex('push_changes').first('pk'))?.pk, '["post",7]');
  await log.close();
  await down(knex, 'push_changes');
  t.false(await knex.schema.hasTable('push_changes_meta'));
});

/** A push instance whose log is a knexLog() and whose ORM is objection(), with a pushable `todos` model. */
async function outbox(t: ExecutionContext, db: TestDatabase, toRow?: (model: Model) => Record<string, unknown>) {
  const { knex, reopen } = await migrated(t, db);
  await knex.schema.createTable('todos', (table) => {
    table.increments('id');
    table.string('title').notNullable();
  });
  class Todo extends pushable(Model) {
    static override tableName = 'todos';
    declare id: number;
    declare title: string;
  }
  Todo.knex(knex);
  const log = await knexLog({ knex, pollIntervalMs: 20 });
  const push = closing(t, createPush({ secret, orm: objection(toRow === undefined ? {} : { toRow }), log }));
  push.global(() => [{ name: 'todo', model: Todo, data: { title: 'title' } }]);
  return { knex, reopen, Todo, push, log };
}

async function changeRows(knex: Knex): Promise<number> {
  return Number((await knex('serverpush_changes').count({ n: '*' }))[0]?.['n']);
}
