// The long-poll transport's behaviour, run once over fetch and once over jsdom's XMLHttpRequest.

import test, { type ExecutionContext } from 'ava';
import { connect, type ConnectionDetail, type GlobalsOptions, type PushClient } from '../../client/index.ts';
import { countedGlobals } from '../helpers/counted-globals.ts';
import { createPage, nextEvent, recordEvents, type DomWindow } from '../helpers/jsdom.ts';
import { change, createPushServerDouble, type PushServerDouble } from '../helpers/push-server-double.ts';
import { until } from '../helpers/until.ts';

interface Setup {
  readonly server: PushServerDouble;
  readonly window: DomWindow;
  readonly client: PushClient;
  /** What the client still has going on: timers, fetches in flight (not XMLHttpRequests). */
  readonly activity: () => string[];
}

const ways: ReadonlyArray<[string, GlobalsOptions]> = [
  ['fetch', {}],
  ['XMLHttpRequest', { fetch: undefined }],
];

/** A connection detail as `[state]`, or `[state, code, message, status]` when it has an error. */
function stateAndCause(detail: unknown): unknown[] {
  const { state, error } = detail as ConnectionDetail;
  return error === undefined ? [state] : [state, error.code, error.message, error.status];
}

for (const [via, viaGlobals] of ways) {
  async function setup(t: ExecutionContext, globals: GlobalsOptions = {}): Promise<Setup> {
    const server = await createPushServerDouble(t);
    const window = createPage(t, { url: `${server.origin}/page` });
    const counted = countedGlobals(window, { ...viaGlobals, ...globals });
    const client = connect({
      token: 'TO+KEN/=',
      base: server.base,
      transports: ['long-poll'],
      backoff: { initialMs: 40, maxMs: 100 },
      globals: counted.globals,
    });
    t.teardown(() => client.close());
    return { server, window, client, activity: counted.activity };
  }

  test(`long-poll over ${via} sends the token, no cursor at first, then the cursor of the last message`, async (t) => {
    const { server, client } = await setup(t);
    server.send(change('a.1', 'hits', 1), change('a.2/+', 'hits', 2));
    const first = await server.poll(0);
    const second = await server.poll(1);

    t.is(client.transport, 'long-poll');
    t.deepEqual([first.token, first.cursor], ['TO+KEN/=', undefined]);
    t.deepEqual([second.token, second.cursor], ['TO+KEN/=', 'a.2/+']);
    t.is(client.cursor, 'a.2/+');
  });

  test(`long-poll over ${via} polls again with the same cursor after a 204`, async (t) => {
    const { server, client } = await setup(t);
    t.is(client.state, 'connecting');
    server.send(change('a.1', 'hits', 1));
    server.nothing();
    server.nothing();
    await server.poll(3);

    t.deepEqual(
      server.polls.map((p) => p.cursor),
      [undefined, 'a.1', 'a.1', 'a.1'],
    );
    t.is(client.state, 'connected');
  });

  test(`long-poll over ${via} retries 5xx and network errors with capped, jittered backoff and the same cursor, losing and repeating nothing`, async (t) => {
    const waits: number[] = [];
    const { server, window, client } = await setup(t, {
      random: () => 0.5,
      setTimeout: (callback, ms) => {
        waits.push(ms);
        return setTimeout(callback, ms);
      },
    });
    const states = recordEvents(window, ['serverpush:connection']);
    const seen = recordEvents(window, ['serverpush:hits']);
    server.send(change('a.1', 'hits', 1));
    server.fail(500);
    server.fail(503, { error: { code: 'SERVERPUSH_ERR_CLOSED', message: 'shutting down' } });
    server.drop();
    server.send(change('a.2', 'hits', 2));
    await server.poll(5);

    t.deepEqual(
      server.polls.map((p) => p.cursor),
      [undefined, 'a.1', 'a.1', 'a.1', 'a.1', 'a.2'],
    );
    // Full jitter with random() = 0.5: half of min(maxMs, initialMs * 2 ** failures).
    t.deepEqual(waits, [20, 40, 50]);
    t.deepEqual(
      seen.map((e) => e.detail),
      [1, 2],
    );
    t.deepEqual(
      states.map(({ detail }) => stateAndCause(detail)),
      [['connected'], ['reconnecting', 'SERVERPUSH_ERR_HTTP', 'the server answered 500', 500], ['connected']],
    );
    t.is(client.state, 'connected');
  });

  test(`long-poll over ${via} reports a dropped connection as SERVERPUSH_ERR_NETWORK and a 200 without messages as SERVERPUSH_ERR_BAD_RESPONSE`, async (t) => {
    const { server, client } = await setup(t, { random: () => 0 });
    const changes: unknown[] = [];
    client.on('connection', (detail) => changes.push(stateAndCause(detail)));
    server.drop();
    server.nothing();
    server.fail(200, { hello: 'captive portal' });
    server.nothing();
    await server.poll(4);

    t.deepEqual(changes, [
      ['reconnecting', 'SERVERPUSH_ERR_NETWORK', 'the request failed without a response', undefined],
      ['connected'],
      ['reconnecting', 'SERVERPUSH_ERR_BAD_RESPONSE', 'the server answered 200 without messages', 200],
      ['connected'],
    ]);
  });

  test(`long-poll over ${via} stops on a 4xx and dispatches the server's error`, async (t) => {
    const { server, window, client, activity } = await setup(t);
    const errors: unknown[] = [];
    client.on('error', (error) => errors.push(error));
    const states = recordEvents(window, ['serverpush:connection']);
    const event = nextEvent(window, 'serverpush:error');
    server.fail(401, {
      error: { code: 'SERVERPUSH_ERR_BAD_TOKEN', message: 'the page token belongs to another session' },
    });

    const { detail } = await event;
    t.like(detail, {
      name: 'PushClientError',
      code: 'SERVERPUSH_ERR_BAD_TOKEN',
      message: 'the page token belongs to another session',
      status: 401,
    });
    t.deepEqual(errors, [detail]);
    t.deepEqual(
      states.map((e) => e.detail),
      [{ state: 'closed', error: detail }],
    );
    t.is(client.state, 'closed');
    // No retry armed and no request in flight: the client cannot poll again.
    await until(() => activity().length === 0);
    t.is(server.polls.length, 1);
  });

  test(`long-poll over ${via} stops on a 4xx without an error body with SERVERPUSH_ERR_HTTP`, async (t) => {
    const { server, window } = await setup(t);
    const event = nextEvent(window, 'serverpush:error');
    server.fail(404);
    t.like((await event).detail, {
      code: 'SERVERPUSH_ERR_HTTP',
      message: 'the server answered 404',
      status: 404,
    });
  });

  test(`long-poll over ${via}: client.close() aborts the pending poll`, async (t) => {
    const { server, window, client } = await setup(t);
    const states = recordEvents(window, ['serverpush:connection']);
    const poll = await server.poll(0);
    client.close();
    await poll.aborted;

    t.pass('the server saw the request closed');
    t.is(client.state, 'closed');
    t.deepEqual(
      states.map((e) => e.detail),
      [{ state: 'closed' }],
    );
    client.close();
    t.is(states.length, 1);
  });

  test(`long-poll over ${via}: client.close() during a backoff wait cancels the retry`, async (t) => {
    const { server, window, client, activity } = await setup(t, { random: () => 0.99 });
    const reconnecting = nextEvent(window, 'serverpush:connection');
    server.fail(500);
    t.like((await reconnecting).detail, { state: 'reconnecting' });
    t.deepEqual(activity(), ['a timer'], 'the retry, due after floor(0.99 * 40) = 39 ms');
    client.close();
    t.deepEqual(activity(), [], 'close() disarmed it');
    t.is(server.polls.length, 1);
  });
}
