import test from 'ava';
import { createReport, errorKind } from '../../core/report.ts';
import { captureConsole } from '../helpers/console.ts';

test.serial('createReport() warnOnce() warns with the serverpush: prefix once per key', (t) => {
  const warnings = captureConsole(t, 'warn');
  const report = createReport();
  t.true(report.warnOnce('a', 'the first mistake'));
  t.false(report.warnOnce('a', 'the first mistake, again'));
  t.true(report.warnOnce('b', 'another mistake'));
  t.deepEqual(warnings, [['serverpush: the first mistake'], ['serverpush: another mistake']]);
});

test.serial('createReport() error() logs a kind once a window, then once more with the count held back', (t) => {
  const errors = captureConsole(t, 'error');
  let now = 0;
  const report = createReport({ intervalMs: 60_000, now: () => now });
  const failure = (id: number) => new Error(`row ${id} vanished`);
  for (let id = 0; id < 86; id += 1) report.error(failure(id), 'answering a push request');
  report.error(new Error('another bug'), 'answering a push request');
  t.deepEqual(
    errors.map(([line, error]) => [line, (error as Error).message]),
    [
      ['serverpush: internal error while answering a push request:', 'row 0 vanished'],
      ['serverpush: internal error while answering a push request:', 'another bug'],
    ],
  );
  now = 59_999;
  report.error(failure(86), 'answering a push request');
  t.is(errors.length, 2);
  now = 60_000;
  report.error(failure(87), 'answering a push request');
  now = 120_000;
  report.error(failure(88), 'answering a push request');
  t.deepEqual(
    errors.slice(2).map(([line, error]) => [line, (error as Error).message]),
    [
      [
        'serverpush: internal error while answering a push request (86 more of this kind since the previous line were not logged):',
        'row 87 vanished',
      ],
      ['serverpush: internal error while answering a push request:', 'row 88 vanished'],
    ],
  );
});

test('createReport() admit() lets one occurrence of a kind through a window, and counts the rest', (t) => {
  let now = 0;
  const report = createReport({ intervalMs: 1_000, now: () => now });
  t.deepEqual(report.admit('x'), { held: 0 });
  t.is(report.admit('x'), undefined);
  t.is(report.admit('x'), undefined);
  t.deepEqual(report.admit('y'), { held: 0 });
  now = 1_000;
  t.deepEqual(report.admit('x'), { held: 2 });
});

test('createReport() remembers at most maxKeys kinds, forgetting the oldest', (t) => {
  const report = createReport({ maxKeys: 2, now: () => 0 });
  report.admit('a');
  report.admit('b');
  report.admit('c');
  t.deepEqual(report.admit('a'), { held: 0 }, 'a was forgotten');
  t.is(report.admit('c'), undefined);
});

test('errorKind() is where and the message with numbers left out', (t) => {
  t.is(errorKind(new TypeError('row 12 of 300'), 'x'), 'x\u0000TypeError: row # of #');
  t.is(errorKind(new Error('row 7 of 9'), 'x'), errorKind(new Error('row 8 of 10'), 'x'));
  t.not(errorKind(new Error('a'), 'x'), errorKind(new Error('a'), 'y'));
  t.is(errorKind('plain 5', 'x'), 'x\u0000plain #');
});
