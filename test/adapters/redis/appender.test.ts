import test, { type ExecutionContext } from 'ava';
import {
  createAppender,
  type Appended,
  type Appender,
  type AppenderHost,
  type Batch,
  type BufferBounds,
} from '../../../adapters/redis/appender.ts';

// The appender against a fake Redis: a stream of ids, a switch that makes calls fail, and a record
// of every call.

interface FakeRedis {
  readonly host: AppenderHost;
  /** Every batch sent, in order, with whether it failed. */
  readonly calls: Array<{ readonly batch: Batch; readonly failed: boolean }>;
  /** The changes the stream holds, in order. */
  readonly stream: string[];
  readonly rotations: string[];
  readonly warnings: string[];
  /** While true, every call fails (after `latencyMs`); a failed call may still have appended (`lost`). */
  down: boolean;
  /** Calls that fail append all the same, as when the answer is lost on the way back. */
  lost: boolean;
  epoch: string;
}

function fakeRedis(): FakeRedis {
  const fake: FakeRedis = {
    calls: [],
    stream: [],
    rotations: [],
    warnings: [],
    down: false,
    lost: false,
    epoch: 'e1',
    host: {
      async send(batch): Promise<Appended> {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const failed = fake.down;
        fake.calls.push({ batch, failed });
        if (failed && !fake.lost) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        // What the script does: a batch whose entries are there already is not written again.
        if (!written.has(batch.id)) {
          written.add(batch.id);
          fake.stream.push(...batch.json);
        }
        if (failed) throw new Error('Connection is closed.');
        const start = fake.stream.indexOf(batch.json[0]!);
        return { epoch: fake.epoch, ids: batch.json.map((_, index) => `${start + index}-0`) };
      },
      async rotate() {
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (fake.down) throw new Error('connect ECONNREFUSED');
        fake.rotations.push(fake.epoch);
        fake.epoch = `e${fake.rotations.length + 1}`;
      },
      newest: () => ({ epoch: fake.epoch, id: `${fake.stream.length}-0` }),
      failed: () => {},
      succeeded: () => {},
      gaveUp: (what) => void fake.warnings.push(what),
    },
  };
  const written = new Set<string>();
  return fake;
}

const bounds: BufferBounds = { maxBuffered: 1_000, maxBufferedBytes: 1_048_576, maxBufferedMs: 30_000 };

function appender(t: ExecutionContext, fake: FakeRedis, given: Partial<BufferBounds> = {}): Appender {
  const made = createAppender(fake.host, { ...bounds, ...given }, 'Redis at 127.0.0.1:6379');
  t.teardown(() => made.close(0));
  return made;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('createAppender() sends the appends that waited for a call together, in the order they were made', async (t) => {
  const fake = fakeRedis();
  const appends = appender(t, fake);
  const results = await Promise.all([appends.append(['a']), appends.append(['b', 'c']), appends.append(['d'])]);
  t.deepEqual(fake.stream, ['a', 'b', 'c', 'd']);
  t.deepEqual(
    fake.calls.map((call) => call.batch.json),
    [['a'], ['b', 'c', 'd']],
  );
  t.deepEqual(
    results.map((result) => result.ids),
    [['0-0'], ['1-0', '2-0'], ['3-0']],
  );
});

test('createAppender() tries a failed call again, with the same id, before any later append', async (t) => {
  const fake = fakeRedis();
  const appends = appender(t, fake);
  fake.down = true;
  const first = appends.append(['a']);
  await sleep(30);
  const second = appends.append(['b']);
  await sleep(100);
  t.deepEqual(fake.stream, []);
  fake.down = false;
  t.deepEqual((await first).ids, ['0-0']);
  t.deepEqual((await second).ids, ['1-0']);
  t.deepEqual(fake.stream, ['a', 'b']);
  const tries = fake.calls.filter((call) => call.batch.json[0] === 'a');
  t.true(tries.length >= 2);
  t.true(tries.every((call) => call.batch.id === tries[0]!.batch.id));
  t.deepEqual(
    tries.map((call) => call.batch.retry),
    [false, ...tries.slice(1).map(() => true)],
  );
  t.deepEqual(fake.rotations, []);
});

test('createAppender() appends a call once when its answer was lost', async (t) => {
  const fake = fakeRedis();
  const appends = appender(t, fake);
  fake.down = true;
  fake.lost = true;
  const first = appends.append(['a']);
  await sleep(30);
  fake.down = false;
  t.deepEqual((await first).ids, ['0-0']);
  t.deepEqual(fake.stream, ['a']);
});

test('createAppender() gives up what waited past maxBufferedMs, then starts a new epoch once Redis answers', async (t) => {
  const fake = fakeRedis();
  const appends = appender(t, fake, { maxBufferedMs: 100 });
  fake.down = true;
  const lost = appends.append(['a', 'b']);
  await t.throwsAsync(lost, {
    message:
      'redisLog(): 2 changes could not be appended to Redis at 127.0.0.1:6379 within 100 ms; every page will refresh (epoch)',
  });
  t.deepEqual(fake.warnings, [
    '2 changes could not be appended to Redis at 127.0.0.1:6379 within 100 ms; every page will refresh (epoch)',
  ]);
  fake.down = false;
  const deadline = Date.now() + 5_000;
  while (fake.rotations.length === 0 && Date.now() < deadline) await sleep(10);
  t.deepEqual(fake.rotations, ['e1']);
  // The later change goes to the new epoch. (A try still on its way when it was given up may
  // have appended the others, before the rotation.)
  t.like(await appends.append(['c']), { epoch: 'e2' });
  t.is(fake.stream.at(-1), 'c');
});

test('createAppender() starts the new epoch even when nothing more is appended', async (t) => {
  const fake = fakeRedis();
  const appends = appender(t, fake, { maxBufferedMs: 50 });
  fake.down = true;
  await t.throwsAsync(appends.append(['a']));
  await sleep(200);
  t.deepEqual(fake.rotations, []);
  fake.down = false;
  const deadline = Date.now() + 5_000;
  while (fake.rotations.length === 0 && Date.now() < deadline) await sleep(10);
  t.deepEqual(fake.rotations, ['e1']);
});

test('createAppender() gives up the oldest past maxBuffered changes, but only while Redis fails', async (t) => {
  const fake = fakeRedis();
  const appends = appender(t, fake, { maxBuffered: 2 });
  // Healthy: a burst past the bound waits its turn.
  const burst = await Promise.all([appends.append(['a', 'b']), appends.append(['c', 'd', 'e'])]);
  t.deepEqual(
    burst.flatMap((result) => result.ids),
    ['0-0', '1-0', '2-0', '3-0', '4-0'],
  );
  fake.down = true;
  const first = appends.append(['f']);
  const second = appends.append(['g']);
  await sleep(30);
  const third = appends.append(['h']);
  await t.throwsAsync(first, {
    message:
      'redisLog(): 1 change could not be appended to Redis at 127.0.0.1:6379 in time: more than 2 changes or 1048576 bytes waited; every page will refresh (epoch)',
  });
  fake.down = false;
  t.like(await second, { epoch: 'e2' });
  t.like(await third, { epoch: 'e2' });
  t.deepEqual(fake.stream.slice(5), ['g', 'h']);
});

test('createAppender() close() waits for what is buffered, then rejects what is left', async (t) => {
  const fake = fakeRedis();
  const appends = createAppender(fake.host, bounds, 'Redis at 127.0.0.1:6379');
  const sent = appends.append(['a']);
  await appends.close(1_000);
  t.like(await sent, { ids: ['0-0'] });
  const other = createAppender(fake.host, bounds, 'Redis at 127.0.0.1:6379');
  fake.down = true;
  const stuck = other.append(['b']);
  const started = Date.now();
  await other.close(100);
  t.true(Date.now() - started < 1_000);
  await t.throwsAsync(stuck, {
    message: 'redisLog(): closed before the changes could be appended to Redis at 127.0.0.1:6379',
  });
  await t.throwsAsync(other.append(['c']), { message: 'redisLog(): the log is closed' });
});
