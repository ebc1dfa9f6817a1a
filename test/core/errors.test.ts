import test from 'ava';
import { PushError, isPushError } from '../../core/errors.ts';

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
