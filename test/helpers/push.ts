// Helpers for tests of createPush(): a secret, and a page token taken at the log's current head.

import type { ExecutionContext } from 'ava';
import type { Push } from '../../core/push.ts';

export const secret = 'test-secret-test-secret-test-secret!';

/** Renders a page: a token whose cursor is the log's head now, as the Koa middleware would. */
export async function page(
  push: Pick<Push<never, unknown>, 'token' | 'log'>,
  path = '/',
  identity: unknown = null,
  query = '',
): Promise<string> {
  return push.token({ path, query, identity, languages: ['en'], cursor: await push.log.head() });
}

/** Closes the push instance when the test ends. */
export function closing<P extends { close(): Promise<void> }>(t: ExecutionContext, push: P): P {
  t.teardown(() => push.close());
  return push;
}
