// Debug logging in the browser client: `connect({ debug: true })` or the `serverpush:debug`
// localStorage flag log, to the page's console, the transports skipped and why, the one tried, the
// state changes, and the messages received and dispatched. In jsdom, against the long-poll server
// double over real HTTP.

import test, { type ExecutionContext } from 'ava';
import { connect, type PushClientOptions } from '../../client/index.ts';
import { createPage, pageGlobals, type DomWindow } from '../helpers/jsdom.ts';
import { change, createPushServerDouble } from '../helpers/push-server-double.ts';
import { until } from '../helpers/until.ts';

/** A page whose `console.debug` lines are recorded (the first argument of each). */
async function setup(t: ExecutionContext, flag?: string) {
  const server = await createPushServerDouble(t);
  const window = createPage(t, { url: `${server.origin}/page` });
  if (flag !== undefined) window.localStorage.setItem('serverpush:debug', flag);
  const lines: string[] = [];
  window.console.debug = (line: unknown) => void lines.push(String(line));
  const open = (options: Partial<PushClientOptions> = {}) => {
    const client = connect({
      token: 'TOKEN',
      base: server.base,
      // No WebSocket here, and jsdom has no EventSource: both are skipped, as is a name the client lacks.
      transports: ['websocket', 'sse', 'carrier-pigeon', 'long-poll'],
      globals: pageGlobals(window as DomWindow, { WebSocket: undefined }),
      ...options,
    });
    t.teardown(() => client.close());
    return client;
  };
  return { server, window, lines, open };
}

test('connect({ debug: true }) logs the transports skipped and tried, the state, and the messages received and dispatched', async (t) => {
  const { server, lines, open } = await setup(t);
  const client = open({ debug: true });
  server.send(change('a.1', 'hits', 4), change('a.2', 'hits', 5));
  await server.poll(1);
  await until(() => client.cursor === 'a.2');
  const origin = new URL(server.base).origin;
  t.deepEqual(lines, [
    'serverpush: skipping websocket: this browser has no WebSocket',
    'serverpush: skipping sse: this browser has no EventSource (or no way to GET)',
    'serverpush: skipping transport "carrier-pigeon": this client does not know it',
    'serverpush: transports to try: long-poll (direct)',
    `serverpush: trying long-poll (direct) at ${origin}/serverpush/long-poll`,
    'serverpush: state connecting → connected over long-poll',
    'serverpush: received 2 message(s)',
    'serverpush: dispatching serverpush:hits (update counters 1)',
    'serverpush: dispatching serverpush:hits (update counters 1)',
  ]);
});

test("connect() logs when localStorage has 'serverpush:debug', and not without it or with debug: false", async (t) => {
  const flagged = await setup(t, '1');
  const client = flagged.open();
  flagged.server.nothing();
  await until(() => client.state === 'connected');
  t.true(flagged.lines.includes('serverpush: state connecting → connected over long-poll'));

  const quiet = await setup(t);
  const unflagged = quiet.open();
  quiet.server.nothing();
  await until(() => unflagged.state === 'connected');
  t.deepEqual(quiet.lines, []);

  const refused = await setup(t, '1');
  const off = refused.open({ debug: false });
  refused.server.nothing();
  await until(() => off.state === 'connected');
  t.deepEqual(refused.lines, []);
  t.throws(() => refused.open({ debug: 'yes' as never }), {
    instanceOf: TypeError,
    message: 'options.debug must be a boolean',
  });
});

test('connect({ debug: true }) logs why it leaves a transport that does not connect in time', async (t) => {
  const { server, window, lines, open } = await setup(t);
  // jsdom's own WebSocket, at a server that answers no upgrade: the client moves on to long-poll.
  const client = open({
    debug: true,
    connectTimeoutMs: 200,
    transports: ['websocket', 'long-poll'],
    globals: pageGlobals(window),
  });
  server.nothing();
  await until(() => client.state === 'connected' && client.transport === 'long-poll', 5_000);
  t.true(
    lines.some((line) => /^serverpush: leaving websocket \(SERVERPUSH_ERR_\w+: .+\) for long-poll$/.test(line)),
    lines.join('\n'),
  );
});
