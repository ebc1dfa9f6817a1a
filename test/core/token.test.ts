// Page tokens: one spelling per token, so that token equality is string equality.

import test from 'ava';
import { PushError } from '../../core/errors.ts';
import { createTokens } from '../../core/token.ts';
import { secret } from '../helpers/push.ts';

const claims = { path: '/', query: '', identity: 7, languages: ['en'], cursor: 'c.1' };
const base64url = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The token with its last character's two unused low bits flipped: the same 32 bytes when decoded leniently. */
function lastBitsFlipped(token: string): string {
  const last = base64url.indexOf(token.at(-1) ?? '');
  return token.slice(0, -1) + base64url[last ^ 0b11];
}

test('createTokens().verify() accepts the signature only in its canonical spelling', (t) => {
  const tokens = createTokens(secret, 60_000);
  const token = tokens.sign(claims);
  const signature = token.slice(token.indexOf('.') + 1);
  t.is(signature.length, 43, 'base64url of a 32-byte MAC, unpadded');
  t.is(tokens.verify(token).claims.identity, 7);
  const spellings = {
    'padded with =': `${token}=`,
    'followed by junk after =': `${token}=anything`,
    'followed by characters outside base64url': `${token}!!`,
    'with the unused low bits of its last character flipped': lastBitsFlipped(token),
    'with a space inside': `${token.slice(0, -10)} ${token.slice(-10)}`,
    'in standard base64 (+/)': token.replaceAll('-', '+').replaceAll('_', '/'),
  };
  for (const [how, spelling] of Object.entries(spellings)) {
    if (spelling === token) continue; // `+/` spelling of a signature without `-` or `_`
    t.throws(
      () => tokens.verify(spelling),
      { instanceOf: PushError, message: 'the page token signature does not verify' },
      how,
    );
  }
});

test('createTokens().verify() refuses a signature of multi-byte characters without throwing anything else', (t) => {
  const tokens = createTokens(secret, 60_000);
  const token = tokens.sign(claims);
  const error = t.throws(() => tokens.verify(`${token.slice(0, -1)}é`), { instanceOf: PushError });
  t.is(error?.code, 'SERVERPUSH_ERR_BAD_TOKEN');
  t.is(error?.message, 'the page token signature does not verify');
});

test('createTokens().verify() refuses another spelling of the body: the MAC covers the body as written', (t) => {
  const tokens = createTokens(secret, 60_000);
  const token = tokens.sign(claims);
  const dot = token.indexOf('.');
  for (const body of [`${token.slice(0, dot)}=`, `${token.slice(0, dot)}!`, ` ${token.slice(0, dot)}`]) {
    t.throws(
      () => tokens.verify(`${body}${token.slice(dot)}`),
      { instanceOf: PushError, message: 'the page token signature does not verify' },
      body,
    );
  }
});

test('createTokens().verify() checks a bound token against the value presented, in its canonical spelling', (t) => {
  const tokens = createTokens(secret, 60_000);
  const token = tokens.sign(claims, 'session-1');
  t.is(tokens.verify(token, 'session-1').claims.cursor, 'c.1');
  for (const presented of [undefined, 'session-2', 'session-1 ', 'séssion-1']) {
    t.throws(
      () => tokens.verify(token, presented),
      { instanceOf: PushError, message: 'the page token belongs to another session' },
      String(presented),
    );
  }
  t.throws(() => tokens.verify(lastBitsFlipped(token), 'session-1'), {
    instanceOf: PushError,
    message: 'the page token signature does not verify',
  });
});
