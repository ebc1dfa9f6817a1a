import test from 'ava';
import { memoryLog } from '../../core/memory-log.ts';
import type { ChangeInput } from '../../core/types.ts';

const change = (id: number): ChangeInput => ({
  model: 'counters',
  op: 'update',
  id,
  after: { id, hits: id },
  before: null,
});

test('memoryLog() since() returns the changes after a cursor, in order', async (t) => {
  const log = memoryLog({ epoch: 'e1' });
  const start = await log.head();
  const appended = await log.append([change(1), change(2), change(3)]);
  t.deepEqual(
    appended.map((c) => c.cursor),
    ['e1.1', 'e1.2', 'e1.3'],
  );
  const all = await log.since(start);
  t.true(all.ok);
  if (all.ok)
    t.deepEqual(
      all.changes.map((c) => c.id),
      [1, 2, 3],
    );
  const rest = await log.since(appended[0]!.cursor);
  if (rest.ok)
    t.deepEqual(
      rest.changes.map((c) => c.id),
      [2, 3],
    );
  const none = await log.since(await log.head());
  if (none.ok) t.deepEqual(none.changes, []);
});

test('memoryLog() answers a cursor older than its count bound with a history refresh', async (t) => {
  const log = memoryLog({ epoch: 'e1', maxCount: 2 });
  const start = await log.head();
  const appended = await log.append([change(1), change(2), change(3)]);
  t.deepEqual(await log.since(start), { ok: false, reason: 'history' });
  const kept = await log.since(appended[0]!.cursor);
  t.true(kept.ok);
  if (kept.ok)
    t.deepEqual(
      kept.changes.map((c) => c.id),
      [2, 3],
    );
});

test('memoryLog() answers a cursor older than its age bound with a history refresh', async (t) => {
  let clock = 1_000;
  const log = memoryLog({ epoch: 'e1', maxAgeMs: 100, now: () => clock });
  const start = await log.head();
  await log.append([change(1)]);
  clock += 50;
  const second = await log.append([change(2)]);
  clock += 60;
  t.deepEqual(await log.since(start), { ok: false, reason: 'history' });
  const kept = await log.since(second[0]!.cursor.replace(/\.2$/, '.1'));
  t.true(kept.ok);
  if (kept.ok)
    t.deepEqual(
      kept.changes.map((c) => c.id),
      [2],
    );
});

test('memoryLog() answers a cursor of another epoch with an epoch refresh', async (t) => {
  const before = memoryLog({ epoch: 'old' });
  await before.append([change(1)]);
  const after = memoryLog({ epoch: 'new' });
  t.deepEqual(await after.since(await before.head()), { ok: false, reason: 'epoch' });
  t.false(after.check('old.1'));
  t.true(after.check('new.0'));
});

test('memoryLog() throws SERVERPUSH_ERR_BAD_CURSOR for malformed and future cursors', async (t) => {
  const log = memoryLog({ epoch: 'e1' });
  await t.throwsAsync(log.since('not a cursor'), {
    code: 'SERVERPUSH_ERR_BAD_CURSOR',
    message: 'cursor "not a cursor" is malformed',
  });
  await t.throwsAsync(log.since('e1.5'), {
    code: 'SERVERPUSH_ERR_BAD_CURSOR',
    message: 'cursor "e1.5" is ahead of the change log',
  });
  t.throws(() => log.check('e1.-1'), { code: 'SERVERPUSH_ERR_BAD_CURSOR' });
});

test('memoryLog() tail() sees appended changes in order until stopped', async (t) => {
  const log = memoryLog();
  const seen: unknown[] = [];
  const stop = log.tail((c) => seen.push(c.id));
  await log.append([change(1), change(2)]);
  stop();
  await log.append([change(3)]);
  t.deepEqual(seen, [1, 2]);
});

test('memoryLog() keeps appends cheap over many trims', async (t) => {
  const log = memoryLog({ epoch: 'e1', maxCount: 10 });
  for (let i = 1; i <= 5_000; i += 1) await log.append([change(i)]);
  const last = await log.since(`e1.${(4995).toString(36)}`);
  t.true(last.ok);
  if (last.ok)
    t.deepEqual(
      last.changes.map((c) => c.id),
      [4996, 4997, 4998, 4999, 5000],
    );
});

test('memoryLog() rejects bad options with a TypeError naming the option', (t) => {
  t.throws(() => memoryLog({ maxCount: 0 }), {
    instanceOf: TypeError,
    message: 'The `maxCount` option must be a positive integer, got 0',
  });
  t.throws(() => memoryLog({ epoch: 'A.B' }), {
    instanceOf: TypeError,
    message: 'memoryLog(): the `epoch` option must be 1 to 16 characters of [a-z0-9]',
  });
});
