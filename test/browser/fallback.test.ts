import test from 'ava';
import Router from '@koa/router';
import Koa from 'koa';
import { createPush } from '../../adapters/koa/index.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { sse } from '../../transports/sse.ts';
import { websocket } from '../../transports/websocket.ts';
import { browserAvailable, launch } from '../helpers/browser.ts';
import { secret } from '../helpers/push.ts';
import { listen } from '../helpers/server.ts';

const browserTest = browserAvailable() ? test : test.skip;

browserTest('a server that refuses WebSocket upgrades: the client falls back within seconds', async (t) => {
  const router = new Router();
  // WebSocket is offered but push.attach() is never called: every upgrade is refused.
  const push = createPush({ secret, router, transports: [websocket(), sse(), longPoll()] });
  t.teardown(() => push.close());
  push.updates('page', () => [{ name: 'note', model: 'notes', data: { text: 'text' } }]);
  router.get('page', '/', (ctx) => {
    ctx.type = 'html';
    ctx.body = `<ul id="notes"></ul><script>
      document.addEventListener('serverpush:note', (event) => {
        document.getElementById('notes').insertAdjacentHTML('beforeend', '<li>' + event.detail.text + '</li>');
      });
    </script>${ctx.state.serverpush.tag()}`;
  });
  const { url } = await listen(t, new Koa().use(push.routes()).use(push.middleware()).use(router.routes()).callback());
  const browser = await launch(t);
  const page = await browser.newPage();
  const started = Date.now();
  await page.goto(url);
  await page.waitForFunction(
    () => (window as unknown as { serverpush?: { state: string } }).serverpush?.state === 'connected',
    undefined,
    { timeout: 5_000 },
  );
  t.true(Date.now() - started < 5_000);
  t.is(
    await page.evaluate(() => (window as unknown as { serverpush: { transport: string } }).serverpush.transport),
    'sse',
  );
  await push.publish({ model: 'notes', op: 'insert', id: 1, after: { id: 1, text: 'fell back' }, before: null });
  await page.waitForFunction(() => document.querySelector('#notes li')?.textContent === 'fell back', undefined, {
    timeout: 5_000,
  });
  t.pass();
});
