// createPublisher(): a process that only writes rows publishes them into the change log a push
// process shares. The worker is a real process on the same sqlite file; the page is followed with
// the harness.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Router from '@koa/router';
import test from 'ava';
import knexFactory from 'knex';
import { Model } from 'objection';
import { knexLog } from '../../adapters/knex-log/index.ts';
import { createPush } from '../../adapters/koa/index.ts';
import { objection } from '../../adapters/objection/index.ts';
import { createHarness } from '../../adapters/testing/index.ts';
import { createPublisher } from '../../core/publisher.ts';
import { memoryLog } from '../../core/memory-log.ts';
import { isPushError } from '../../core/errors.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { migrate, Note } from '../fixtures/publisher-models.ts';
import { secret } from '../helpers/push.ts';

const run = promisify(execFile);

test.serial(
  'createPublisher() in a worker process: its writes reach the pages a push process serves from the shared knex log',
  async (t) => {
    t.timeout(30_000);
    const directory = mkdtempSync(join(tmpdir(), 'serverpush-publisher-'));
    const filename = join(directory, 'app.sqlite');
    const knex = knexFactory({ client: 'better-sqlite3', connection: { filename }, useNullAsDefault: true });
    await knex.raw('pragma journal_mode = WAL');
    await migrate(knex);
    Model.knex(knex);
    const router = new Router();
    router.get('board', '/boards/:id', (ctx) => void (ctx.body = ctx.state.serverpush.tag()));
    const push = createPush({
      secret,
      router,
      orm: objection(),
      log: await knexLog({ knex, pollIntervalMs: 20 }),
      transports: [longPoll()],
    });
    push.updates('board', (ctx) => [
      { name: 'note', model: Note, params: { boardId: ctx.params['id']! }, data: { text: 'text' } },
    ]);
    const harness = createHarness(push, { router });
    t.teardown(async () => {
      await harness.close();
      await push.close();
      await knex.destroy();
      rmSync(directory, { recursive: true, force: true });
    });
    const mine = await harness.open<{ note: { text: string } }>('/boards/1', { identity: 1 });
    const theirs = await harness.open('/boards/1', { identity: 2 });

    const { stdout } = await run(process.execPath, ['--import=tsx', 'test/fixtures/publisher-worker.ts', filename]);
    t.is(stdout, 'worker done\n');

    t.like(await mine.next(), { name: 'note', op: 'insert', effect: 'enter', data: { text: 'from the worker' } });
    await mine.nothing(); // the rolled-back insert was never published
    t.is(await theirs.refresh(), 'disconnect', "the worker's disconnect({ identity: 2 }) reached the push process");
    t.is(
      await knex('notes')
        .count({ n: '*' })
        .first()
        .then((row) => Number(row?.n)),
      1,
    );
  },
);

test('createPublisher() publish() appends by hand; after close() it refuses with SERVERPUSH_ERR_CLOSED', async (t) => {
  const log = memoryLog();
  const seen: string[] = [];
  log.tail((change) => seen.push(`${change.model} ${change.op} ${JSON.stringify(change.id)}`));
  const publisher = createPublisher({ log });
  const [change] = await publisher.publish({ model: 'notes', op: 'insert', id: 7, after: { text: 'hand' } });
  t.like(change, { model: 'notes', op: 'insert', id: 7, before: null });
  await publisher.revalidate({ identity: 3 });
  t.deepEqual(seen, ['notes insert 7', 'serverpush:control update "revalidate"']);
  await publisher.close();
  const error = await t.throwsAsync(publisher.publish({ model: 'notes', op: 'delete', id: 7, after: null }));
  t.true(isPushError(error));
  t.like(error, { code: 'SERVERPUSH_ERR_CLOSED', message: 'the publisher is closed' });
  await t.throwsAsync(publisher.disconnect({ identity: 3 }), { message: 'the publisher is closed' });
});

test('createPublisher() refuses options without a change log, a bad ORM adapter and a bad filter', async (t) => {
  t.throws(() => createPublisher(undefined as never), {
    instanceOf: TypeError,
    message: 'createPublisher() options must be an object',
  });
  t.throws(() => createPublisher({} as never), {
    instanceOf: TypeError,
    message: 'The `log` option must be the change log the push processes share, e.g. `await knexLog({ knex })`',
  });
  t.throws(() => createPublisher({ log: memoryLog(), orm: {} as never }), {
    instanceOf: TypeError,
    message: 'The `orm` option must be an ORM adapter, e.g. `objection()`',
  });
  const publisher = createPublisher({ log: memoryLog() });
  await t.throwsAsync(publisher.disconnect((() => true) as never), {
    instanceOf: TypeError,
    message: 'disconnect(): the filter must be { identity }',
  });
  await publisher.close();
});
