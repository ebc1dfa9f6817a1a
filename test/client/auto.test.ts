import test from 'ava';
import { start } from '../../client/auto.ts';
import type { PushClient } from '../../client/index.ts';
import { createPage, nextEvent, pageGlobals } from '../helpers/jsdom.ts';
import { change, createPushServerDouble } from '../helpers/push-server-double.ts';

const tag = (attributes: string): string =>
  `<script src="/serverpush/client.js" data-serverpush ${attributes}></script>`;

test('start() connects with the data-token, data-base and data-transports of its tag and sets window.serverpush', async (t) => {
  const server = await createPushServerDouble(t);
  const window = createPage(t, {
    url: `${server.origin}/page`,
    body: tag('data-token="TOKEN" data-base="/serverpush" data-transports=" sse , long-poll"'),
  });
  const client = start(pageGlobals(window));
  t.teardown(() => client.close());

  t.is((window as unknown as { serverpush: PushClient }).serverpush, client);
  t.is(client.transport, 'long-poll');
  const hits = nextEvent(window, 'serverpush:hits');
  server.send(change('a.1', 'hits', '<b>1</b>'));
  t.is((await server.poll(0)).token, 'TOKEN');
  t.is((await hits).detail, '<b>1</b>');
});

test('start() prefers document.currentScript when it is a serverpush tag, and reuses its client', async (t) => {
  const server = await createPushServerDouble(t);
  const window = createPage(t, {
    url: `${server.origin}/page`,
    body: `${tag('data-token="FIRST" data-base="/nowhere"')}${tag('data-token="CURRENT"')}`,
  });
  const current = window.document.querySelectorAll('script')[1];
  Object.defineProperty(window.document, 'currentScript', { value: current });
  const client = start(pageGlobals(window));
  t.teardown(() => client.close());

  t.is((await server.poll(0)).token, 'CURRENT');
  t.is(start(pageGlobals(window)), client);
});

test('start() throws a TypeError when the page has no tag with a data-token', (t) => {
  for (const body of ['', tag(''), '<script data-token="T"></script>']) {
    const window = createPage(t, { url: 'http://127.0.0.1/' });
    window.document.body.innerHTML = body;
    t.throws(() => start(pageGlobals(window)), {
      instanceOf: TypeError,
      message: 'serverpush: the page has no <script data-serverpush data-token="…"> tag',
    });
  }
});
