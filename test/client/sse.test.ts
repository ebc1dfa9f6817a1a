// The SSE client transport in jsdom, with the eventsource package's EventSource as the page's, against
// the real push server; a scripted EventSource where a real one cannot be made to misbehave.

import test, { type ExecutionContext } from 'ava';
import type { EventSource } from 'eventsource';
import type { StreamBody, Transport } from '../../core/transport.ts';
import type { Message } from '../../core/types.ts';
import { resolveGlobals, type GlobalsOptions } from '../../client/globals.ts';
import type { TransportSession } from '../../client/transports/index.ts';
import { sse as sseClient } from '../../client/transports/sse.ts';
import { json } from '../../transports/respond.ts';
import { sse } from '../../transports/sse.ts';
import { pushServer } from '../transports/conformance.ts';
import { countedGlobals } from '../helpers/counted-globals.ts';
import { createPage, pageGlobals } from '../helpers/jsdom.ts';
import { messagesOf, onePage } from '../helpers/session.ts';

/** A request the server saw: the `cursor` parameter and the `Last-Event-ID` header. */
type Seen = [cursor: string | null, lastEventId: string | undefined];

/**
 * The real `sse()` transport, recording each request; `answer` may answer a request instead of it
 * (return `undefined` to let it through).
 */
function recording(
  answer: (seen: Seen, index: number) => ReturnType<Transport['handle']> | undefined = () => undefined,
) {
  const transport = sse({ retryMs: 50 });
  const requests: Seen[] = [];
  const wrapped: Transport = {
    name: 'sse',
    handle(request, push) {
      const seen: Seen = [
        new URLSearchParams(request.query).get('cursor'),
        request.headers['last-event-id'] as string | undefined,
      ];
      requests.push(seen);
      return answer(seen, requests.length - 1) ?? transport.handle(request, push);
    },
    close: () => transport.close?.(),
  };
  return { transport: wrapped, requests };
}

interface Options {
  readonly transport?: Transport;
  readonly token?: string;
  readonly globals?: GlobalsOptions;
}

/** Opens the SSE client transport on a jsdom page with a session that logs what it is told. */
async function setup(t: ExecutionContext, options: Options = {}) {
  const { transport, requests } =
    options.transport === undefined ? recording() : { transport: options.transport, requests: [] };
  const server = await pushServer(t, [transport]);
  const window = createPage(t, { url: `${server.url}/items` });
  const counted = countedGlobals(window, options.globals);
  const log: unknown[][] = [];
  let cursor: string | undefined;
  let stopped = false;
  const session: TransportSession = {
    url: `${server.base}/sse`,
    ...onePage(options.token ?? (await server.page()), () => cursor),
    globals: resolveGlobals(counted.globals),
    backoff: { initialMs: 40, maxMs: 100 },
    receive: messagesOf((messages) => {
      for (const message of messages as Message[]) {
        if ('cursor' in message) cursor = message.cursor;
        log.push(['receive', 'data' in message ? (message.data as { title: string }).title : message.name]);
        if (message.name === 'refresh') stop();
      }
    }),
    connected: () => log.push(['connected']),
    retrying: (error) => log.push(['retrying', error.code, error.message, error.status]),
    failed(error) {
      log.push(['failed', error.code, error.message, error.status]);
      stop();
    },
  };
  const close = sseClient.open(session);
  const stop = () => {
    stopped = true;
    close();
  };
  t.teardown(stop);
  return {
    server,
    window,
    log,
    requests,
    stop,
    cursor: () => cursor,
    isStopped: () => stopped,
    /** Timers, fetches and EventSources the transport still has going: none once it has stopped. */
    activity: counted.activity,
  };
}

async function until(condition: () => boolean, timeoutMs = 3_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return condition();
}

test('sse client opens with the token and no cursor, reports connected, and hands over each event', async (t) => {
  const { server, log, requests } = await setup(t);
  t.true(await until(() => log.length === 1));
  await server.publish('one', 'two');
  t.true(await until(() => log.length === 3));
  t.deepEqual(log, [['connected'], ['receive', 'one'], ['receive', 'two']]);
  t.deepEqual(requests, [[null, undefined]]);
});

test('sse client lets the browser reconnect with Last-Event-ID when the stream ends, losing and repeating nothing', async (t) => {
  const { transport, requests } = recording();
  const { server, log, cursor } = await setup(t, { transport });
  t.true(await until(() => log.length === 1));
  await server.publish('one');
  t.true(await until(() => log.length === 2));
  const one = cursor();

  transport.close?.();
  await server.publish('two');
  t.true(await until(() => log.length === 5));
  // Events arrive in order: once the last one is in, one delivered twice would have shown before it.
  await server.publish('three');
  t.true(await until(() => log.at(-1)?.[1] === 'three'));
  t.deepEqual(log, [
    ['connected'],
    ['receive', 'one'],
    ['retrying', 'SERVERPUSH_ERR_NETWORK', 'the event stream was interrupted', undefined],
    ['connected'],
    ['receive', 'two'],
    ['receive', 'three'],
  ]);
  t.deepEqual(requests, [
    [null, undefined],
    [null, one],
  ]);
});

test('sse client probes when the browser gives up on an error status, retries a 5xx with backoff, and reopens from its cursor', async (t) => {
  const { transport, requests } = recording((_, index) =>
    index === 1 || index === 2
      ? Promise.resolve(json(502, { error: { code: 'SERVERPUSH_ERR_INTERNAL', message: 'try later' } }))
      : undefined,
  );
  const waits: number[] = [];
  const { server, log, cursor } = await setup(t, {
    transport,
    globals: {
      setTimeout: (callback, ms) => {
        waits.push(ms);
        return setTimeout(callback, ms);
      },
    },
  });
  t.true(await until(() => log.length === 1));
  await server.publish('one');
  t.true(await until(() => log.length === 2));
  const one = cursor()!;

  transport.close?.();
  t.true(await until(() => log.length === 5));
  await server.publish('two');
  t.true(await until(() => log.length === 6));
  t.deepEqual(log, [
    ['connected'],
    ['receive', 'one'],
    ['retrying', 'SERVERPUSH_ERR_NETWORK', 'the event stream was interrupted', undefined],
    ['retrying', 'SERVERPUSH_ERR_INTERNAL', 'try later', 502],
    ['connected'],
    ['receive', 'two'],
  ]);
  // The browser's reconnect, the probe, then a new EventSource from the session's cursor.
  t.deepEqual(requests, [
    [null, undefined],
    [null, one],
    [one, undefined],
    [one, undefined],
  ]);
  t.deepEqual(waits, [20], 'half of initialMs, with random() = 0.5');
});

for (const [via, globals] of [
  ['fetch', {}],
  ['XMLHttpRequest', { fetch: undefined }],
] as const) {
  test(`sse client stops on a 4xx found by a probe over ${via}, with the server's code, without looping`, async (t) => {
    const { log, requests, isStopped, activity } = await setup(t, { token: 'eyJ2IjoxfQ.AAAA', globals });
    t.true(await until(() => log.length === 1));
    // No retry armed, no request in flight, no EventSource open: nothing more can happen.
    t.true(await until(() => activity().length === 0));
    t.deepEqual(log, [['failed', 'SERVERPUSH_ERR_BAD_TOKEN', 'the page token signature does not verify', 401]]);
    t.is(requests.length, 2, 'the EventSource and the probe');
    t.true(isStopped());
  });
}

test('sse client retries an error sent in the stream, and stops on a 4xx one', async (t) => {
  const events = [
    'data: {"status":500,"error":{"code":"SERVERPUSH_ERR_INTERNAL","message":"internal error; see the server log"}}\n\n',
    'data: {"status":401,"error":{"code":"SERVERPUSH_ERR_BAD_TOKEN","message":"the page token belongs to another session"}}\n\n',
  ];
  const { transport, requests } = recording((_, index) => {
    const body: StreamBody = {
      stream(out) {
        out.write(`: connected\n\n${events[index]}`);
        out.end();
      },
    };
    const headers = { 'Content-Type': 'text/event-stream; charset=utf-8' };
    return Promise.resolve({ status: 200, headers, body });
  });
  const { log, isStopped, activity } = await setup(t, { transport });
  t.true(await until(() => log.length === 4));
  t.true(await until(() => activity().length === 0));
  t.deepEqual(log, [
    ['connected'],
    ['retrying', 'SERVERPUSH_ERR_INTERNAL', 'internal error; see the server log', 500],
    ['connected'],
    ['failed', 'SERVERPUSH_ERR_BAD_TOKEN', 'the page token belongs to another session', 401],
  ]);
  t.is(requests.length, 2);
  t.true(isStopped());
});

test('sse client hands over a refresh, after which the stream is not reopened', async (t) => {
  const { transport, requests } = recording();
  const other = await pushServer(t, [sse()]);
  const { log, activity } = await setup(t, { transport, token: await other.page() });
  t.true(await until(() => log.length === 2));
  t.true(await until(() => activity().length === 0));
  // The token is from another push server, whose change log is not this one's.
  t.deepEqual(log, [['connected'], ['receive', 'refresh']]);
  t.is(requests.length, 1);
});

test('sse client: stopping closes the EventSource, which frees the server', async (t) => {
  const { server, log, stop } = await setup(t);
  t.true(await until(() => log.length === 1 && server.push.stats().waiting === 1));
  stop();
  t.true(await until(() => server.push.stats().waiting === 0));
});

/** A scripted EventSource: each instance is recorded, and fails when told to. */
function scriptedEventSources() {
  const made: Scripted[] = [];
  class Scripted {
    readonly CONNECTING = 0;
    readonly OPEN = 1;
    readonly CLOSED = 2;
    readyState = 0;
    onopen: ((event: Event) => void) | null = null;
    onmessage: ((event: MessageEvent) => void) | null = null;
    onerror: ((event: Event) => void) | null = null;
    constructor(
      readonly url: string,
      readonly init?: EventSourceInit,
    ) {
      made.push(this);
    }
    close() {
      this.readyState = this.CLOSED;
    }
    fail(readyState: number) {
      this.readyState = readyState;
      this.onerror?.(new Event('error'));
    }
  }
  return { EventSource: Scripted as unknown as typeof EventSource, made };
}

/** Opens the client transport with `globals` and a session that logs what it is told. */
function scriptedSession(
  t: ExecutionContext,
  url: string,
  globals: ReturnType<typeof resolveGlobals>,
  token = 'T',
  cursor?: string,
) {
  const log: unknown[][] = [];
  const close = sseClient.open({
    url,
    ...onePage(token, () => cursor),
    globals,
    backoff: { initialMs: 40, maxMs: 100 },
    receive: messagesOf(() => log.push(['receive'])),
    connected: () => log.push(['connected']),
    retrying: (error) => log.push(['retrying', error.code, error.message]),
    failed: (error) => log.push(['failed', error.code, error.message, error.status]),
  });
  t.teardown(close);
  return { log, close };
}

test('sse client takes over after repeated network errors, probing and retrying with backoff', async (t) => {
  const scripted = scriptedEventSources();
  const window = createPage(t, { url: 'http://127.0.0.1:9/items' });
  Object.assign(window, { EventSource: scripted.EventSource });
  const waits: number[] = [];
  const globals = resolveGlobals(
    pageGlobals(window, {
      fetch: () => Promise.reject(new TypeError('offline')),
      random: () => 0.5,
      setTimeout: (callback, ms) => {
        waits.push(ms);
        return setTimeout(callback, ms);
      },
    }),
  );
  const { log } = scriptedSession(t, 'http://127.0.0.1:9/serverpush/sse', globals, 'T', 'c/1');
  const interrupted = ['retrying', 'SERVERPUSH_ERR_NETWORK', 'the event stream was interrupted'];
  const unreachable = ['retrying', 'SERVERPUSH_ERR_NETWORK', 'the request failed without a response'];
  const first = scripted.made[0]!;
  for (let i = 0; i < 4; i += 1) first.fail(first.CONNECTING);
  t.true(await until(() => scripted.made.length === 2));
  t.is(first.readyState, first.CLOSED, 'the client closed the one it took over from');
  t.deepEqual(log, [interrupted, interrupted, interrupted, unreachable]);
  // Until one opens, every failure is probed and waited out, longer each time.
  scripted.made[1]!.fail(first.CONNECTING);
  t.true(await until(() => scripted.made.length === 3));
  scripted.made[2]!.onopen?.(new Event('open'));
  scripted.made[2]!.fail(first.CONNECTING);
  t.deepEqual(log, [interrupted, interrupted, interrupted, unreachable, unreachable, ['connected'], interrupted]);
  t.deepEqual(waits, [20, 40]);
  t.is(scripted.made[1]!.url, 'http://127.0.0.1:9/serverpush/sse?token=T&cursor=c%2F1');
});

test('sse client gives up with SERVERPUSH_ERR_NO_TRANSPORT when EventSource never opens a stream the server serves', async (t) => {
  const scripted = scriptedEventSources();
  const server = await pushServer(t, [sse()]);
  const window = createPage(t, { url: `${server.url}/items` });
  Object.assign(window, { EventSource: scripted.EventSource });
  const { log } = scriptedSession(t, `${server.base}/sse`, resolveGlobals(pageGlobals(window)), await server.page());
  for (let i = 0; i < 3; i += 1) {
    t.true(await until(() => scripted.made.length === i + 1));
    scripted.made[i]!.fail(2);
    t.true(await until(() => log.length === i + 1));
  }
  t.deepEqual(log, [
    ['retrying', 'SERVERPUSH_ERR_NETWORK', 'the event stream failed to open'],
    ['retrying', 'SERVERPUSH_ERR_NETWORK', 'the event stream failed to open'],
    [
      'failed',
      'SERVERPUSH_ERR_NO_TRANSPORT',
      'EventSource failed to open the event stream 3 times, though the server serves it',
      200,
    ],
  ]);
  t.is(scripted.made.length, 3);
});

test('sse client uses withCredentials only for a cross-origin URL; sse.supported() needs an EventSource', async (t) => {
  const server = await pushServer(t, [sse()], { origins: ['http://app.example:3000'] });
  for (const [page, expected] of [
    [`${server.url}/items`, undefined],
    ['http://app.example:3000/items', { withCredentials: true }],
  ] as const) {
    const scripted = scriptedEventSources();
    const window = createPage(t, { url: page });
    Object.assign(window, { EventSource: scripted.EventSource });
    const globals = resolveGlobals(pageGlobals(window));
    t.true(sseClient.supported(globals));
    scriptedSession(t, `${server.base}/sse`, globals, 'T', 'c/1').close();
    t.is(scripted.made[0]?.url, `${server.base}/sse?token=T&cursor=c%2F1`);
    t.deepEqual(scripted.made[0]?.init, expected);
  }
  const bare = createPage(t, { url: `${server.url}/items` });
  t.false(sseClient.supported(resolveGlobals(pageGlobals(bare))));
});
