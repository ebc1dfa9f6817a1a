import test, { type ExecutionContext } from 'ava';
import {
  connect,
  type GlobalsOptions,
  type PushClient,
  type PushClientOptions,
  type PushEvent,
} from '../../client/index.ts';
import { countedGlobals } from '../helpers/counted-globals.ts';
import { createPage, nextEvent, pageGlobals, recordEvents, type DomWindow } from '../helpers/jsdom.ts';
import { change, createPushServerDouble, type PushServerDouble } from '../helpers/push-server-double.ts';
import { until } from '../helpers/until.ts';

interface Setup {
  readonly server: PushServerDouble;
  readonly window: DomWindow;
  readonly client: PushClient;
  /** What the client still has going on: timers, requests in flight. None once it has stopped. */
  readonly activity: () => string[];
}

async function setup(
  t: ExecutionContext,
  options: { jquery?: boolean; globals?: GlobalsOptions } = {},
): Promise<Setup> {
  const server = await createPushServerDouble(t);
  const window = createPage(t, { url: `${server.origin}/page`, jquery: options.jquery ?? false });
  const counted = countedGlobals(window, options.globals);
  // The server double speaks long-poll only; negotiation is tested in negotiate.test.ts.
  const client = connect({
    token: 'TOKEN',
    base: server.base,
    transports: ['long-poll'],
    globals: counted.globals,
  });
  t.teardown(() => client.close());
  return { server, window, client, activity: counted.activity };
}

test('connect() dispatches each message as serverpush:<name> on document, in order, with data as detail', async (t) => {
  const { server, window, client } = await setup(t);
  const seen = recordEvents(window, ['serverpush:hits', 'serverpush:names']);
  const received: unknown[] = [];
  client.on('hits', (data, message) => received.push([data, message.cursor]));

  server.send(change('a.1', 'hits', '<b>4</b>'), change('a.1', 'names', ['x']));
  server.send(change('a.2', 'hits', { count: 5 }));
  await server.poll(2);

  t.deepEqual(
    seen.map(({ type, detail }) => [type, detail]),
    [
      ['serverpush:hits', '<b>4</b>'],
      ['serverpush:names', ['x']],
      ['serverpush:hits', { count: 5 }],
    ],
  );
  t.deepEqual((seen[0]!.event as PushEvent).message, change('a.1', 'hits', '<b>4</b>'));
  t.deepEqual(received, [
    ['<b>4</b>', 'a.1'],
    [{ count: 5 }, 'a.2'],
  ]);
});

test('connect() triggers jQuery serverpush_<name> with handlers receiving (event, data)', async (t) => {
  const { server, window } = await setup(t, { jquery: true });
  window.eval(`
    window.calls = [];
    jQuery(document).bind('serverpush_hits', function (event, data) {
      window.calls.push([event.type, data]);
    });
  `);

  server.send(change('a.1', 'hits', ['an', 'array']), change('a.2', 'hits', '<b>5</b>'));
  await server.poll(1);

  t.deepEqual((window as DomWindow & { calls: unknown }).calls, [
    ['serverpush_hits', ['an', 'array']],
    ['serverpush_hits', '<b>5</b>'],
  ]);
});

test('connect() never dispatches a message whose cursor it already received', async (t) => {
  const { server, window } = await setup(t);
  const seen = recordEvents(window, ['serverpush:hits']);
  server.send(change('a.1', 'hits', 1), change('a.1', 'hits', 'same cursor, same response'));
  server.send(change('a.1', 'hits', 'again'), change('a.2', 'hits', 2));
  server.send(change('a.2', 'hits', 'again'));
  await server.poll(3);

  t.deepEqual(
    seen.map((e) => e.detail),
    [1, 'same cursor, same response', 2],
  );
});

test('connect() reloads the page on a refresh message and stops', async (t) => {
  let reloads = 0;
  const { server, window, client, activity } = await setup(t, {
    jquery: true,
    globals: { reload: () => (reloads += 1) },
  });
  const seen = recordEvents(window, ['serverpush:hits', 'serverpush:refresh', 'serverpush:connection']);
  const refreshes: unknown[] = [];
  client.on('refresh', (detail, message) => refreshes.push([detail, message]));
  window.eval(`jQuery(document).on('serverpush_refresh', function (event, data) { window.reason = data.reason; });`);
  const refresh = nextEvent(window, 'serverpush:refresh');
  server.send(change('a.1', 'hits', 1), { name: 'refresh', reason: 'history' }, change('a.2', 'hits', 2));
  const event = await refresh;

  t.true(event.cancelable);
  t.deepEqual(event.detail, { reason: 'history' });
  t.is((window as DomWindow & { reason?: string }).reason, 'history');
  t.deepEqual(refreshes, [[{ reason: 'history' }, { name: 'refresh', reason: 'history' }]]);
  t.deepEqual(
    seen.map((e) => e.type),
    ['serverpush:connection', 'serverpush:hits', 'serverpush:refresh', 'serverpush:connection'],
  );
  t.is(client.state, 'closed');
  t.is(reloads, 1);
  // With no timer armed and no request in flight, the client cannot poll again.
  await until(() => activity().length === 0);
  t.is(server.polls.length, 1);
});

for (const [how, listener] of [
  ['a DOM listener', `document.addEventListener('serverpush:refresh', function (e) { e.preventDefault(); });`],
  ['a jQuery handler', `jQuery(document).on('serverpush_refresh', function (e) { e.preventDefault(); });`],
]) {
  test(`connect() does not reload on refresh when ${how} prevents it, and stops`, async (t) => {
    let reloads = 0;
    const { server, window, client } = await setup(t, {
      jquery: true,
      globals: { reload: () => (reloads += 1) },
    });
    window.eval(listener!);
    const refresh = nextEvent(window, 'serverpush:refresh');
    server.send({ name: 'refresh', reason: 'epoch' });
    await refresh;
    t.is(client.state, 'closed');
    t.is(reloads, 0);
  });
}

test('connect() keeps delivering when a listener throws, and reports the exception', async (t) => {
  const reported: unknown[] = [];
  const { server, window, client } = await setup(t, {
    jquery: true,
    globals: { reportError: (error) => reported.push(error) },
  });
  const boom = new Error('listener bug');
  client.on('hits', () => {
    throw boom;
  });
  window.eval(`jQuery(document).on('serverpush_hits', function () { throw new Error('jQuery bug'); });`);
  const seen = recordEvents(window, ['serverpush:hits']);
  server.send(change('a.1', 'hits', 1));
  server.send(change('a.2', 'hits', 2));
  await server.poll(2);

  t.deepEqual(
    seen.map((e) => e.detail),
    [1, 2],
  );
  t.deepEqual(
    reported.map((error) => (error as Error).message),
    ['jQuery bug', 'listener bug', 'jQuery bug', 'listener bug'],
  );
});

test('client.on() and client.off() add and remove listeners by name', async (t) => {
  const { server, client } = await setup(t);
  const calls: string[] = [];
  const hits = (data: unknown): void => {
    calls.push(`hits ${String(data)}`);
  };
  const other = (data: unknown): void => {
    calls.push(`other ${String(data)}`);
  };
  const connection = ({ state }: { state: string }): void => {
    calls.push(state);
  };
  client.on('hits', hits);
  client.on('other', other);
  client.on('connection', connection);
  server.send(change('a.1', 'hits', 1), change('a.1', 'other', 1));
  await server.poll(1);
  client.off('hits', hits);
  client.off('connection', connection);
  server.send(change('a.2', 'hits', 2), change('a.2', 'other', 2));
  await server.poll(2);
  client.close();

  t.deepEqual(calls, ['connected', 'hits 1', 'other 1', 'other 2']);
});

test('client.close() from a listener stops delivery of the rest of the response', async (t) => {
  const { server, window, client, activity } = await setup(t);
  const seen = recordEvents(window, ['serverpush:hits']);
  client.on('hits', (data) => {
    if (data === 1) client.close();
  });
  const states = recordEvents(window, ['serverpush:connection']);
  server.send(change('a.1', 'hits', 1), change('a.2', 'hits', 2));
  await nextEvent(window, 'serverpush:hits');
  t.deepEqual(
    seen.map((e) => e.detail),
    [1],
  );
  t.is(client.state, 'closed');
  t.is(client.cursor, 'a.1');
  t.deepEqual(
    states.map((e) => e.detail),
    [{ state: 'connected' }, { state: 'closed' }],
  );
  await until(() => activity().length === 0);
  t.is(server.polls.length, 1);
});

test('connect() starts after the current task, so listeners added right after it miss nothing', async (t) => {
  const server = await createPushServerDouble(t);
  const window = createPage(t, { url: server.origin });
  const client = connect({ token: 'T', transports: [], globals: pageGlobals(window) });
  t.is(client.state, 'connecting');
  t.is(client.transport, undefined);
  const errors: unknown[] = [];
  client.on('error', (error) => errors.push(error));
  await until(() => errors.length > 0);
  t.like(errors[0], {
    code: 'SERVERPUSH_ERR_NO_TRANSPORT',
    message: 'no usable transport among: none',
    status: undefined,
  });
  t.is(client.state, 'closed');
});

test('connect() skips transport names it does not know and those the browser cannot run', async (t) => {
  const server = await createPushServerDouble(t);
  const window = createPage(t, { url: server.origin });
  const globals = pageGlobals(window, { fetch: undefined, XMLHttpRequest: undefined });
  const client = connect({ token: 'T', transports: ['carrier-pigeon', 'long-poll'], globals });
  const error = nextEvent(window, 'serverpush:error');
  t.is(client.transport, undefined);
  t.like((await error).detail, {
    code: 'SERVERPUSH_ERR_NO_TRANSPORT',
    message: 'no usable transport among: carrier-pigeon, long-poll',
  });

  const known = connect({ token: 'T', transports: ['carrier-pigeon', 'long-poll'], globals: pageGlobals(window) });
  t.teardown(() => known.close());
  t.is(known.transport, 'long-poll');
});

test('connect() resolves a relative base against the page', async (t) => {
  const server = await createPushServerDouble(t);
  const window = createPage(t, { url: `${server.origin}/some/page?x=1` });
  const client = connect({
    token: 'a.b',
    base: '/serverpush/',
    transports: ['long-poll'],
    globals: pageGlobals(window),
  });
  t.teardown(() => client.close());
  t.is((await server.poll(0)).token, 'a.b');
});

test('connect() throws a TypeError naming the option that is wrong', (t) => {
  const window = createPage(t, { url: 'http://127.0.0.1/' });
  const globals = pageGlobals(window);
  const bad = (options: unknown): unknown => connect({ globals, ...(options as PushClientOptions) });
  t.throws(() => bad({}), { instanceOf: TypeError, message: 'options.token must be a non-empty string' });
  t.throws(() => bad({ token: '' }), { message: 'options.token must be a non-empty string' });
  t.throws(() => bad({ token: 'T', base: 1 }), { message: 'options.base must be a string' });
  t.throws(() => bad({ token: 'T', transports: 'long-poll' }), {
    message: 'options.transports must be an array of transport names',
  });
  t.throws(() => bad({ token: 'T', backoff: { initialMs: 0 } }), {
    message: 'options.backoff.initialMs must be a positive number',
  });
  t.throws(() => bad({ token: 'T', backoff: { initialMs: 100, maxMs: 50 } }), {
    message: 'options.backoff.maxMs must be a number no smaller than initialMs',
  });
  t.throws(() => connect({ token: 'T' }), {
    instanceOf: TypeError,
    message: 'options.globals.window is required outside a browser',
  });
});
