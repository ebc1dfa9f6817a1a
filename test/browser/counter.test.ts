import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { createDemo } from '../../demo/app.ts';
import { browserAvailable, launch } from '../helpers/browser.ts';
import { listen } from '../helpers/server.ts';

const browserTest = browserAvailable() ? test : test.skip;

browserTest('the counter demo: an increment in one tab shows in the other', async (t) => {
  const demo = await createDemo({ filename: join(mkdtempSync(join(tmpdir(), 'serverpush-')), 'demo.sqlite') });
  t.teardown(() => demo.close());
  const { url } = await listen(t, demo.app.callback());
  const browser = await launch(t);
  const [first, second] = await Promise.all([browser.newPage(), browser.newPage()]);
  await first!.goto(url);
  await second!.goto(url);
  await Promise.all([first, second].map((page) => page!.waitForFunction(() => document.getElementById('state')?.textContent === 'connected')));
  t.is(await second!.textContent('#transport'), 'long-poll');
  // The second tab's visit counted a hit: the first tab hears of it.
  await first!.waitForFunction(() => document.getElementById('hits')?.textContent === '2');

  await first!.click('#increment');
  await second!.waitForFunction(() => document.getElementById('hits')?.textContent === '3', undefined, { timeout: 5_000 });
  await first!.waitForFunction(() => document.getElementById('hits')?.textContent === '3', undefined, { timeout: 5_000 });
  t.pass();
});
