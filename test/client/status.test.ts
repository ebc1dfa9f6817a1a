import test from 'ava';
import { connect } from '../../client/index.ts';
import { createPage, pageGlobals } from '../helpers/jsdom.ts';
import { livePage } from '../helpers/live-page.ts';
import { until } from '../helpers/until.ts';

test('connect() shows its state on <html data-serverpush-state>: connecting, connected, reconnecting, connected, stopped', async (t) => {
  const page = await livePage(t, { backoff: { initialMs: 50, maxMs: 50 } });
  const root = page.document.documentElement;
  const states: (string | null)[] = [page.state()];
  // What listeners of serverpush:connection read: the attribute is set before the event.
  page.document.addEventListener('serverpush:connection', () => states.push(page.state()));

  page.server.nothing();
  await page.server.poll(1);
  t.is(root.getAttribute('data-serverpush-transport'), 'long-poll');
  page.server.drop();
  await page.server.poll(2);
  page.server.nothing();
  await page.server.poll(3);
  page.client.close();
  t.deepEqual(states, ['connecting', 'connected', 'reconnecting', 'connected', 'stopped']);
  t.is(page.state(), 'stopped');
});

test('connect() shows stopped after an error that stops it, and reloading on a refresh', async (t) => {
  const refused = await livePage(t);
  refused.server.fail(400, { error: { code: 'SERVERPUSH_ERR_BAD_CURSOR', message: 'no such cursor' } });
  await until(() => refused.client.state === 'closed');
  t.is(refused.state(), 'stopped');
  t.is(refused.reloads(), 0);

  const refreshed = await livePage(t);
  await refreshed.send({ name: 'refresh', reason: 'history' });
  t.is(refreshed.state(), 'reloading');
  t.is(refreshed.reloads(), 1);
});

test('connect() shows connecting before its first request, on the document of its globals', (t) => {
  const window = createPage(t, { url: 'http://127.0.0.1:9/page' });
  const client = connect({ token: 'T', transports: ['long-poll'], share: false, globals: pageGlobals(window) });
  t.teardown(() => client.close());
  t.is(window.document.documentElement.getAttribute('data-serverpush-state'), 'connecting');
  t.false(window.document.documentElement.hasAttribute('data-serverpush-transport'));
});
