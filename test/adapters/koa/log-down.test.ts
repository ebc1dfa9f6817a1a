// A change log that does not answer must not take page rendering down: the page middleware waits
// for the cursor a second at most, renders with a token that has its page reload once the log is
// back, and says so once per outage and once when it ends.

import test from 'ava';
import Router from '@koa/router';
import Koa from 'koa';
import { createPush } from '../../../adapters/koa/index.ts';
import type { ChangeLog } from '../../../core/change-log.ts';
import { memoryLog } from '../../../core/memory-log.ts';
import { longPoll } from '../../../transports/long-poll.ts';
import { secret } from '../../helpers/push.ts';
import { listen } from '../../helpers/server.ts';
import { captureConsole } from '../../helpers/console.ts';

test('push.middleware() renders pages while the change log hangs, whose first poll refreshes once the log is back; it warns once per outage', async (t) => {
  const inner = memoryLog();
  let down = true;
  const log: ChangeLog = { ...inner, head: () => (down ? new Promise<string>(() => {}) : inner.head()) };
  const warnings = captureConsole(t, 'warn');
  const router = new Router();
  const push = createPush({ secret, router, log, transports: [longPoll({ timeoutMs: 5_000 })] });
  t.teardown(() => push.close());
  router.get('home', '/', (ctx) => void (ctx.body = ctx.state.serverpush.token));
  push.updates('home', () => [{ name: 'hits', model: 'counters', data: { hits: 'hits' } }]);
  const { url } = await listen(t, new Koa().use(push.routes()).use(push.middleware()).use(router.routes()).callback());

  const started = Date.now();
  const first = await fetch(`${url}/`);
  const second = await fetch(`${url}/`);
  t.is(first.status, 200);
  t.is(second.status, 200);
  t.true(Date.now() - started < 3_500, 'the first page waited 2 s, the next one hardly at all');
  t.is(warnings.length, 1, 'one warning for the outage');
  t.regex(String(warnings[0]![0]), /^serverpush: the change log did not answer when a page rendered/);

  const poll = fetch(`${url}/serverpush/long-poll?token=${await first.text()}`);
  const early = await Promise.race([poll, new Promise((resolve) => setTimeout(resolve, 300, 'held'))]);
  t.is(early, 'held', 'held while the log is down');
  down = false;
  t.deepEqual(await (await poll).json(), { messages: [{ name: 'refresh', reason: 'unavailable' }] });
  // A read that hung is given up for a new one after 2 s: a page rendered then sees the log back.
  const deadline = Date.now() + 5_000;
  while (warnings.length < 2 && Date.now() < deadline) {
    await fetch(`${url}/`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.is(warnings.length, 2);
  t.regex(
    String(warnings[1]![0]),
    /^serverpush: the change log answers again after \d+ ms; \d+ page\(s\) rendered meanwhile reload once it is back$/,
  );
});
