// Logout with split ports: the app process logs out, the pages live in the push server process; the
// disconnect travels through the shared change log and ends them there.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { createDemo } from '../../demo/app.ts';
import { CookieJar } from '../helpers/auth-demo.ts';

test.serial('POST /logout ends the pages a separate push process holds', async (t) => {
  t.timeout(60_000);
  const demo = await createDemo({
    filename: join(mkdtempSync(join(tmpdir(), 'serverpush-')), 'demo.sqlite'),
    split: true,
  });
  t.teardown(() => demo.close());
  const { url, pushUrl } = await demo.listen();
  const jar = new CookieJar();
  await jar.fetch(`${url}login`, {
    method: 'POST',
    body: new URLSearchParams({ username: 'alice', password: 'demo' }),
  });
  const token = /data-token="([^"]+)"/.exec(await (await jar.fetch(`${url}todos`)).text())![1]!;
  const poll = () => jar.fetch(`${pushUrl}/serverpush/long-poll?token=${token}`);
  // Answered at once: with who else is viewing the list (the auth demo declares presence).
  t.is((await poll()).status, 200, 'the page connects to the push process');
  const held = poll();
  await new Promise((resolve) => setTimeout(resolve, 200));
  await jar.fetch(`${url}logout`, { method: 'POST' });
  const response = await held;
  t.is(response.status, 200);
  t.deepEqual(await response.json(), { messages: [{ name: 'refresh', reason: 'disconnect' }] });
});
