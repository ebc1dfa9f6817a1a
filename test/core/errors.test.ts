import test from 'ava';
import { readFileSync } from 'node:fs';
import { PushError, errorCodes, failureOf, isPushError } from '../../core/errors.ts';

test('PushError carries its code and the HTTP status of that code', (t) => {
  const error = new PushError('SERVERPUSH_ERR_BAD_CURSOR', 'cursor "x" is malformed');
  t.is(error.name, 'PushError');
  t.is(error.code, 'SERVERPUSH_ERR_BAD_CURSOR');
  t.is(error.status, 400);
  t.is(error.message, 'cursor "x" is malformed');
  t.true(isPushError(error));
  t.true(isPushError(error, 'SERVERPUSH_ERR_BAD_CURSOR'));
  t.false(isPushError(error, 'SERVERPUSH_ERR_BAD_TOKEN'));
  t.false(isPushError(new Error('x')));
});

test("PushError takes another status than its code's from its options", (t) => {
  const error = new PushError('SERVERPUSH_ERR_BAD_REQUEST', 'sse accepts GET only', { status: 405 });
  t.is(error.status, 405);
  t.is(error.code, 'SERVERPUSH_ERR_BAD_REQUEST');
});

test("failureOf() keeps a PushError's code, status and message, and hides anything else", (t) => {
  t.deepEqual(failureOf(new PushError('SERVERPUSH_ERR_BAD_TOKEN', 'no')), {
    status: 401,
    error: { code: 'SERVERPUSH_ERR_BAD_TOKEN', message: 'no' },
  });
  t.deepEqual(failureOf(new Error('secret detail')), {
    status: 500,
    error: { code: 'SERVERPUSH_ERR_INTERNAL', message: 'internal error; see the server log' },
  });
});

test("errorCodes and the README's error table list the same codes with the same statuses", (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const table = readme.slice(readme.indexOf('| code | status | meaning |'));
  const rows = [...table.matchAll(/^\| `(SERVERPUSH_ERR_[A-Z_]+)` \| (\d+)/gm)].map((match) => [
    match[1],
    Number(match[2]),
  ]);
  t.deepEqual(Object.fromEntries(rows), errorCodes);
});
