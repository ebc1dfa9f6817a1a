import test from 'ava';
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { PushClient } from '../../client/index.ts';
import { createPage, nextEvent } from '../helpers/jsdom.ts';
import { change, createPushServerDouble } from '../helpers/push-server-double.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('client/build.mjs builds the classic script and the ES module, and the script connects from its tag', async (t) => {
  await promisify(execFile)(process.execPath, ['client/build.mjs'], { cwd: root });
  const script = await readFile(`${root}dist/client/serverpush.js`, 'utf8');
  const module = await readFile(`${root}dist/client/serverpush.mjs`, 'utf8');
  t.true((await stat(`${root}dist/client/serverpush.js`)).size > 0);
  t.regex(module, /export\s*{[^}]*\bconnect\b/);
  t.notRegex(script, /^\s*(import|export)\b/m);

  // jsdom has no fetch, so the built script falls back to its XMLHttpRequest.
  const server = await createPushServerDouble(t);
  const window = createPage(t, {
    url: `${server.origin}/page`,
    body: '<script data-serverpush data-token="TOKEN" data-base="/serverpush" data-transports="long-poll"></script>',
  });
  window.eval(script);
  const client = (window as unknown as { serverpush?: PushClient }).serverpush;
  if (client === undefined) return t.fail('window.serverpush is not set');
  t.teardown(() => client.close());

  t.is(client.transport, 'long-poll');
  const hits = nextEvent(window, 'serverpush:hits');
  server.send(change('a.1', 'hits', 3));
  t.is((await server.poll(0)).token, 'TOKEN');
  t.is((await hits).detail, 3);
  t.is((await server.poll(1)).cursor, 'a.1');
});
