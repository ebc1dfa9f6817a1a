// The client conformance suite: the same behaviour asked of the browser half of every transport,
// through the public `connect()` with that one transport forced, in a jsdom page against the real
// push server. Each `test/client/conformance-<name>.test.ts` runs it once; test/transports/
// conformance.ts is its counterpart for the server halves.
//
// The page's globals are the real ones (Node's fetch, the eventsource package's EventSource, ws's
// WebSocket, jsdom running the server's JSONP scripts), each wrapped only to be counted, so a test
// can tell when the client has nothing left going on (../helpers/counted-globals.ts). The server's
// transport is wrapped so a test sees every request and can refuse, hold or cut them
// (../helpers/faulty-server.ts).

import test, { type ExecutionContext } from 'ava';
import { JSDOM, VirtualConsole } from 'jsdom';
import {
  connect,
  type ChangeMessage,
  type ConnectionDetail,
  type PushClient,
  type PushClientError,
  type PushEvent,
  type RefreshDetail,
} from '../../client/index.ts';
import { PushError } from '../../core/errors.ts';
import type { Transport } from '../../core/transport.ts';
import type { TransportName } from '../../core/types.ts';
import { countedGlobals } from '../helpers/counted-globals.ts';
import { faultyServer, type FaultyServer } from '../helpers/faulty-server.ts';
import { nextEvent, recordEvents, type DomWindow } from '../helpers/jsdom.ts';
import { until } from '../helpers/until.ts';

/** The client's retry timing in every test; with `random()` at 0.5 the waits are 20, 40, 50, 50… ms. */
const backoff = { initialMs: 40, maxMs: 100 } as const;

/** A token the server refuses with 401: well formed, signed by no one. */
const forgedToken = 'eyJ2IjoxfQ.AAAA';

/**
 * Opens a page at the server's `/items` that runs the scripts it loads (JSONP's), and connects the
 * client to the server over `name` only; both closed at teardown.
 */
function openPage(t: ExecutionContext, server: FaultyServer, name: TransportName, token: string) {
  const virtualConsole = new VirtualConsole();
  const window = new JSDOM('<!doctype html><html><head></head><body></body></html>', {
    url: `${server.url}/items`,
    runScripts: 'dangerously',
    resources: 'usable',
    virtualConsole,
  }).window as unknown as DomWindow;
  t.teardown(() => window.close());
  const counted = countedGlobals(window);
  const client = connect({ token, base: server.base, transports: [name], backoff, globals: counted.globals });
  t.teardown(() => client.close());
  const heard: ChangeMessage[] = [];
  client.on('item', (_data, message) => heard.push(message));
  const errors: PushClientError[] = [];
  client.on('error', (error) => errors.push(error));
  const events = recordEvents(window, ['serverpush:item', 'serverpush:refresh', 'serverpush:error']);
  const connection: ConnectionDetail[] = [];
  client.on('connection', (detail) => connection.push(detail));
  return {
    window,
    client,
    token,
    heard,
    errors,
    events,
    connection,
    reloads: counted.reloads,
    activity: counted.activity,
    /**
     * The retry waits the client asked for. Not JSONP's other waits: its first poll waits 0 ms for
     * the load event to end, and each poll arms a 45 s timeout.
     */
    backoffs: () => counted.waits().filter((ms) => ms > 0 && ms <= backoff.maxMs),
    /** Every wait the client asked for. */
    waits: counted.waits,
  };
}

const titles = (messages: readonly ChangeMessage[]) => messages.map((m) => (m.data as { title: string }).title);
const stateNames = (details: readonly ConnectionDetail[]) => details.map(({ state }) => state);

/** Resolves once the client is connected and the server holds its connection, waiting for changes. */
async function waiting(server: FaultyServer, ...clients: PushClient[]): Promise<void> {
  await until(
    () => clients.every((client) => client.state === 'connected') && server.push.stats().waiting === clients.length,
  );
}

/** Options of `clientConformance()`. */
export interface ConformanceOptions {
  /**
   * Tests, by title, that this transport is known to fail: they run as `test.failing`, so the
   * suite says when one starts passing. Default: none.
   */
  readonly failing?: readonly string[];
}

/**
 * Registers the client conformance suite for the transport `name`, against a push server offering
 * only `transport()`, its server half.
 */
export function clientConformance(
  name: TransportName,
  transport: () => Transport,
  options: ConformanceOptions = {},
): void {
  const { failing = [] } = options;
  const conformance = (title: string, implementation: (t: ExecutionContext) => Promise<void>) => {
    (failing.includes(title) ? test.failing : test)(title, implementation);
  };
  const setup = async (t: ExecutionContext) => {
    const server = await faultyServer(t, transport());
    t.is(server.push.transports[0]?.name, name, 'the server offers the transport under test');
    return server;
  };

  conformance(`connect() over ${name} delivers a change as a serverpush:<name> event and to client.on()`, async (t) => {
    const server = await setup(t);
    const page = openPage(t, server, name, await server.page());
    await waiting(server, page.client);
    const arrived = nextEvent(page.window, 'serverpush:item');
    await server.publish('hello');
    const event = (await arrived) as PushEvent;

    t.deepEqual(event.detail, { title: 'hello' });
    t.like(event.message, { name: 'item', op: 'insert', model: 'items', id: 1, data: { title: 'hello' } });
    t.deepEqual(page.heard, [event.message], 'client.on() hears the same message, once');
    t.is(page.client.cursor, event.message.cursor);
    t.is(page.client.transport, name);
    t.deepEqual(stateNames(page.connection), ['connected']);
  });

  conformance(
    `connect() over ${name} replays the changes made between render and connect, each once, in order`,
    async (t) => {
      const server = await setup(t);
      const token = await server.page();
      await server.publish('one', 'two');
      const page = openPage(t, server, name, token);
      await until(() => page.heard.length === 2);
      await waiting(server, page.client);
      await server.publish('three');
      await until(() => page.heard.length === 3);

      t.deepEqual(titles(page.heard), ['one', 'two', 'three']);
      t.is(server.requestsOf(token)[0]?.resumeFrom, undefined, 'the first request resumes from the token');
      t.is(new Set(page.heard.map((m) => m.cursor)).size, 3);
      t.is(page.client.cursor, page.heard[2]?.cursor);
    },
  );

  conformance(
    `connect() over ${name} resumes from its cursor after the connection drops, losing and repeating nothing`,
    async (t) => {
      const server = await setup(t);
      const page = openPage(t, server, name, await server.page());
      await waiting(server, page.client);
      await server.publish('before');
      await until(() => page.heard.length === 1);
      await waiting(server, page.client);
      const before = server.requests.length;

      server.hold();
      server.cut();
      await until(() => server.requests.length > before);
      await server.publish('while away');
      server.release();
      await until(() => page.heard.length === 2);
      await waiting(server, page.client);
      await server.publish('after');
      await until(() => page.heard.length === 3);

      t.deepEqual(titles(page.heard), ['before', 'while away', 'after']);
      t.is(server.requests[before]?.resumeFrom, page.heard[0]?.cursor, 'it came back from the last cursor it had');
      t.is(new Set(page.heard.map((m) => m.cursor)).size, 3);
      t.is(page.client.cursor, page.heard[2]?.cursor);
      t.deepEqual(stateNames(page.connection).slice(0, 2), ['connected', 'reconnecting']);
      t.like(page.connection[1]?.error, { name: 'PushClientError', code: 'SERVERPUSH_ERR_NETWORK' });
      t.is(page.client.state, 'connected');
    },
  );

  conformance(`connect() over ${name} waits out a refusal's Retry-After instead of stopping`, async (t) => {
    const server = await setup(t);
    const token = await server.page();
    await server.publish('meanwhile');
    // Refused for 900 ms from the first refusal: the first request (and SSE's probe of why its
    // stream failed), not the retry a second later.
    let firstRefusal: number | undefined;
    const limit = () =>
      new PushError('SERVERPUSH_ERR_LIMIT', 'one address may hold 2 connections (maxConnectionsPerAddress)', {
        retryAfter: 1,
      });
    server.failWhile(() => Date.now() - (firstRefusal ??= Date.now()) < 900, limit);
    const page = openPage(t, server, name, token);
    await until(() => page.heard.length === 1, 5_000);

    t.deepEqual(titles(page.heard), ['meanwhile']);
    t.true(page.waits().includes(1_000), 'the retry waited the second the server asked for');
    t.like(page.connection.find(({ state }) => state === 'reconnecting')?.error, {
      code: 'SERVERPUSH_ERR_LIMIT',
      status: 429,
      retryAfter: 1,
    });
    t.deepEqual(page.errors, [], 'a refusal with Retry-After does not stop the client');
    t.is(page.client.state, 'connected');
  });

  conformance(`connect() over ${name} retries a 503 with growing backoff, then connects and delivers`, async (t) => {
    const server = await setup(t);
    const token = await server.page();
    await server.publish('meanwhile');
    const page = openPage(t, server, name, token);
    server.failWhile(() => page.backoffs().length < 2);
    await until(() => page.heard.length === 1);
    await waiting(server, page.client);
    await server.publish('live');
    await until(() => page.heard.length === 2);

    t.deepEqual(page.backoffs(), [20, 40], 'half of min(maxMs, initialMs * 2 ** failures), with random() = 0.5');
    t.deepEqual(titles(page.heard), ['meanwhile', 'live']);
    const reconnecting = page.connection.filter(({ state }) => state === 'reconnecting');
    t.true(reconnecting.length > 0);
    for (const { error } of reconnecting) {
      t.like(error, { code: 'SERVERPUSH_ERR_CLOSED', message: 'the push server is shutting down', status: 503 });
    }
    t.deepEqual(page.errors, []);
    t.is(page.client.state, 'connected');
  });

  conformance(`connect() over ${name} stops with serverpush:error on a 4xx and does not retry`, async (t) => {
    const server = await setup(t);
    const page = openPage(t, server, name, forgedToken);
    const { detail } = await nextEvent(page.window, 'serverpush:error');
    await until(() => page.activity().length === 0);

    t.like(detail, {
      name: 'PushClientError',
      code: 'SERVERPUSH_ERR_BAD_TOKEN',
      message: 'the page token signature does not verify',
      status: 401,
    });
    t.deepEqual(page.errors, [detail]);
    t.is(page.client.state, 'closed');
    t.deepEqual(page.connection.at(-1), { state: 'closed', error: detail });
    t.deepEqual(page.backoffs(), [], 'no retry is scheduled');
    t.deepEqual(page.activity(), []);
    t.true(server.requests.length <= 2, 'one attempt (and, for SSE, the request that asks why)');
  });

  conformance(`connect() over ${name} reports connected only once the server has accepted the page`, async (t) => {
    const refusing = await setup(t);
    const refused = openPage(t, refusing, name, forgedToken);
    await nextEvent(refused.window, 'serverpush:error');
    const unavailable = await setup(t);
    const retried = openPage(t, unavailable, name, await unavailable.page());
    unavailable.failWhile(() => retried.backoffs().length < 2);
    await waiting(unavailable, retried.client);

    t.deepEqual(stateNames(refused.connection), ['closed'], 'a page refused 401 was never connected');
    t.deepEqual(stateNames(retried.connection), ['reconnecting', 'connected'], 'nor one answered 503 twice');
  });

  conformance(`connect() over ${name} dispatches serverpush:refresh, reloads the page and stops`, async (t) => {
    const server = await setup(t);
    const page = openPage(t, server, name, await server.page());
    const refreshes: RefreshDetail[] = [];
    page.client.on('refresh', (detail) => refreshes.push(detail));
    await waiting(server, page.client);
    const sent = server.requests.length;
    const refresh = nextEvent(page.window, 'serverpush:refresh');
    await server.push.disconnect(() => true);
    const event = await refresh;
    await until(() => page.activity().length === 0);

    t.deepEqual(event.detail, { reason: 'disconnect' });
    t.true(event.cancelable);
    t.deepEqual(refreshes, [{ reason: 'disconnect' }]);
    t.is(page.reloads(), 1);
    t.is(page.client.state, 'closed');
    t.deepEqual(stateNames(page.connection), ['connected', 'closed']);
    t.is(server.requests.length, sent, 'it does not come back');
  });

  conformance(
    `connect() over ${name} does not reload on serverpush:refresh when a listener prevents it, and stops`,
    async (t) => {
      const server = await setup(t);
      const page = openPage(t, server, name, await server.page());
      page.window.document.addEventListener('serverpush:refresh', (event) => event.preventDefault());
      await waiting(server, page.client);
      const refresh = nextEvent(page.window, 'serverpush:refresh');
      await server.push.disconnect(() => true);
      await refresh;
      await until(() => page.activity().length === 0);

      t.is(page.reloads(), 0);
      t.is(page.client.state, 'closed');
    },
  );

  conformance(`client.close() over ${name} stops everything: no more requests, timers or events`, async (t) => {
    const server = await setup(t);
    const page = openPage(t, server, name, await server.page());
    // A second page that stays open: once it has heard a change, the closed one would have too.
    const witness = openPage(t, server, name, await server.page());
    await waiting(server, page.client, witness.client);
    const sent = server.requestsOf(page.token).length;

    page.client.close();
    page.client.close();
    await server.publish('after close');
    await until(() => witness.heard.length === 1);
    await until(() => page.activity().length === 0);

    t.is(page.client.state, 'closed');
    t.deepEqual(stateNames(page.connection), ['connected', 'closed']);
    t.deepEqual(page.connection.at(-1), { state: 'closed' }, 'closed without an error');
    t.deepEqual(page.heard, []);
    t.deepEqual(page.events, []);
    t.is(server.requestsOf(page.token).length, sent, 'no request after close()');
    t.deepEqual(page.activity(), []);
  });
}
