// The JSONP transport's browser half in jsdom pages that really load and run the server's scripts
// (`runScripts: 'dangerously'`, `resources: 'usable'`), against the real push server.

import test, { type ExecutionContext } from 'ava';
import { JSDOM, VirtualConsole } from 'jsdom';
import type { ServerResponse } from 'node:http';
import { defaultBackoff, type Backoff } from '../../client/backoff.ts';
import type { PushClientError } from '../../client/errors.ts';
import { resolveGlobals, type GlobalsOptions } from '../../client/globals.ts';
import type { TransportSession } from '../../client/transports/index.ts';
import { jsonp, jsonpPollTimeoutMs } from '../../client/transports/jsonp.ts';
import type { Transport } from '../../core/transport.ts';
import type { ChangeMessage } from '../../core/types.ts';
import { jsonp as jsonpServer } from '../../transports/jsonp.ts';
import { countedGlobals } from '../helpers/counted-globals.ts';
import type { DomWindow } from '../helpers/jsdom.ts';
import { listen } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';
import { pushServer } from '../transports/conformance.ts';
import { messagesOf, onePage } from '../helpers/session.ts';

/** A page that loads and runs scripts for real, closed at teardown, with the errors it reported. */
function scriptPage(t: ExecutionContext, url: string, head = ''): { window: DomWindow; errors: string[] } {
  const html = `<!doctype html><html><head>${head}</head><body></body></html>`;
  const errors: string[] = [];
  const virtualConsole = new VirtualConsole();
  virtualConsole.on('jsdomError', (error) => errors.push(error.message));
  const window = new JSDOM(html, { url, runScripts: 'dangerously', resources: 'usable', virtualConsole })
    .window as unknown as DomWindow;
  t.teardown(() => window.close());
  return { window, errors };
}

/** What the transport told the session, in order. */
type Report = ['connected'] | ['receive', string[]] | ['retrying' | 'failed', string, string, number | undefined];

/**
 * Opens the JSONP transport on `window` as the client would, recording what it reports; `failed()`
 * stops it, as the client does. Stopped at teardown.
 */
function openSession(
  t: ExecutionContext,
  window: DomWindow,
  url: string,
  token: string,
  globals: GlobalsOptions = {},
  backoff: Backoff = defaultBackoff,
) {
  const reports: Report[] = [];
  const failures: PushClientError[] = [];
  let cursor: string | undefined;
  const fail = (kind: 'retrying' | 'failed') => (error: PushClientError) => {
    failures.push(error);
    reports.push([kind, error.code, error.message, error.status]);
    if (kind === 'failed') stop();
  };
  const session: TransportSession = {
    url,
    ...onePage(token, () => cursor),
    globals: resolveGlobals({ window, ...globals }),
    backoff,
    receive: messagesOf((messages) => {
      const changes = messages as ChangeMessage[];
      cursor = changes.at(-1)?.cursor ?? cursor;
      reports.push(['receive', changes.map((m) => (m.data as { title: string }).title)]);
    }),
    connected: () => reports.push(['connected']),
    retrying: fail('retrying'),
    failed: fail('failed'),
  };
  const stop = jsonp.open(session);
  t.teardown(stop);
  return {
    reports,
    failures,
    stop,
    received: () => reports.filter((r) => r[0] === 'receive').flatMap((r) => r[1] as string[]),
  };
}

/** The server's jsonp transport, with every request it answers recorded. */
function recorded(transport: Transport) {
  const requests: URLSearchParams[] = [];
  const spy: Transport = {
    name: transport.name,
    handle: (request, push) => {
      requests.push(new URLSearchParams(request.query));
      return transport.handle(request, push);
    },
  };
  return { spy, requests };
}

const callbackTable = (window: DomWindow) =>
  (window as unknown as Record<string, Record<string, unknown> | undefined>)['__serverpush_jsonp'];
const scripts = (window: DomWindow) => [...window.document.querySelectorAll('script')];

test('jsonp.open() delivers the messages of the real server through scripts, resuming from the last cursor', async (t) => {
  const { spy, requests } = recorded(jsonpServer({ timeoutMs: 1_000 }));
  const server = await pushServer(t, [spy]);
  const token = await server.page();
  const { window, errors } = scriptPage(t, `${server.url}/items`);
  const { received, reports } = openSession(t, window, `${server.base}/jsonp`, token);
  await until(() => requests.length === 2);
  await server.publish('one');
  await until(() => received().length === 1);
  await server.publish('two', 'three');
  await until(() => received().length === 3);

  t.deepEqual(received(), ['one', 'two', 'three']);
  t.deepEqual(
    reports.filter((r) => r[0] !== 'connected' && r[0] !== 'receive'),
    [],
  );
  t.deepEqual([requests[0]!.get('token'), requests[0]!.get('cursor')], [token, null]);
  t.regex(requests[0]!.get('callback')!, /^__serverpush_jsonp\.c[0-9a-z]+$/);
  t.not(requests.at(-1)!.get('cursor'), null);
  t.deepEqual(errors, []);
});

test("jsonp.open() waits for the page's load event before its first poll", async (t) => {
  const held: ServerResponse[] = [];
  const assets = await listen(t, (_request, response) => void held.push(response));
  const order: string[] = [];
  const { spy, requests } = recorded(jsonpServer({ timeoutMs: 1_000 }));
  const server = await pushServer(t, [
    {
      name: spy.name,
      handle: (request, push) => {
        order.push('poll');
        return spy.handle(request, push);
      },
    },
  ]);
  const token = await server.page();
  const { window, errors } = scriptPage(
    t,
    `${server.url}/items`,
    `<link rel="stylesheet" href="${assets.url}/slow.css">`,
  );
  window.addEventListener('load', () => order.push('load'), { once: true });
  t.is(window.document.readyState, 'loading');
  const counted = countedGlobals(window);
  const { reports } = openSession(t, window, `${server.base}/jsonp`, token, counted.globals);

  await until(() => held.length === 1);
  t.deepEqual(counted.activity(), [], 'no script, callback or timer: only the load event can start a poll');
  t.is(requests.length, 0, 'no poll while the stylesheet holds up the load event');
  held[0]!.writeHead(200, { 'Content-Type': 'text/css' }).end('p {}');
  await until(() => reports.length > 0);

  t.deepEqual(order.slice(0, 2), ['load', 'poll']);
  t.deepEqual(reports[0], ['connected']);
  t.deepEqual(errors, []);
});

test("jsonp.open() stops with the server's code when the script reports a 401", async (t) => {
  const { spy, requests } = recorded(jsonpServer({ timeoutMs: 1_000 }));
  const server = await pushServer(t, [spy]);
  const { window, errors } = scriptPage(t, `${server.url}/items`);
  const counted = countedGlobals(window);
  const { reports, failures } = openSession(t, window, `${server.base}/jsonp`, 'eyJ2IjoxfQ.AAAA', counted.globals);
  await until(() => reports.length > 0);
  // No script, callback or timer left: nothing can poll again.
  await until(() => counted.activity().length === 0);

  t.deepEqual(reports, [['failed', 'SERVERPUSH_ERR_BAD_TOKEN', 'the page token signature does not verify', 401]]);
  t.is(failures[0]!.name, 'PushClientError');
  t.is(requests.length, 1);
  t.deepEqual(scripts(window), []);
  t.deepEqual(Object.keys(callbackTable(window) ?? {}), []);
  t.deepEqual(errors, []);
});

test('jsonp.open() keeps one script and one callback per poll, and removes both after it ran or was stopped', async (t) => {
  const { spy, requests } = recorded(jsonpServer({ timeoutMs: 5_000 }));
  const server = await pushServer(t, [spy]);
  const { window, errors } = scriptPage(t, `${server.url}/items`);
  const { stop, received } = openSession(t, window, `${server.base}/jsonp`, await server.page());
  await until(() => requests.length === 2);
  const [script] = scripts(window);
  const key = requests[1]!.get('callback')!.split('.')[1]!;
  t.is(scripts(window).length, 1);
  t.is(script!.parentNode, window.document.head);
  t.true(script!.src.endsWith(`&callback=__serverpush_jsonp.${key}`));
  t.deepEqual(Object.keys(callbackTable(window)!), [key]);

  await server.publish('one');
  await until(() => received().length === 1 && requests.length === 3);
  t.false(key in callbackTable(window)!, 'the callback that ran is gone');
  t.false(script!.isConnected, 'so is its script');
  t.is(scripts(window).length, 1);

  stop();
  const [lastKey] = Object.keys(callbackTable(window)!);
  t.deepEqual(scripts(window), [], "stop() removes the held poll's script");
  t.is(typeof callbackTable(window)![lastKey!], 'function', 'its callback is a no-op until the held script runs');
  await server.publish('after stop');
  await until(() => Object.keys(callbackTable(window)!).length === 0);
  t.deepEqual(received(), ['one'], 'the late script delivered nothing');
  t.deepEqual(errors, [], 'and threw nothing on the page');
});

test('jsonp.open() retries a script that fails to load, with backoff', async (t) => {
  const server = await pushServer(t, [jsonpServer({ timeoutMs: 1_000 })]);
  const { window, errors } = scriptPage(t, `${server.url}/items`);
  const waits: number[] = [];
  const { reports, stop } = openSession(
    t,
    window,
    `${server.base}/nowhere`,
    await server.page(),
    {
      random: () => 0.5,
      setTimeout: (callback, ms) => {
        waits.push(ms);
        return setTimeout(callback, ms);
      },
    },
    { initialMs: 40, maxMs: 100 },
  );
  await until(() => reports.length === 3);
  stop();

  const failure = [
    'retrying',
    'SERVERPUSH_ERR_NETWORK',
    'the script failed to load (a network error or an error status)',
    undefined,
  ];
  t.deepEqual(reports, [failure, failure, failure]);
  // Each poll arms its timeout, then each failure its backoff: half of min(maxMs, initialMs * 2 ** n).
  t.deepEqual(waits, [jsonpPollTimeoutMs, 20, jsonpPollTimeoutMs, 40, jsonpPollTimeoutMs, 50]);
  t.deepEqual(scripts(window), []);
  t.deepEqual(Object.keys(callbackTable(window)!), []);
  t.is(errors.length, 3);
  t.true(errors.every((message) => message.startsWith('Could not load script')));
});

test('jsonp.open() gives up a poll unanswered after jsonpPollTimeoutMs, retries, and ignores the late answer', async (t) => {
  const { spy, requests } = recorded(jsonpServer({ timeoutMs: 5_000 }));
  const server = await pushServer(t, [spy]);
  const { window, errors } = scriptPage(t, `${server.url}/items`);
  let armed = 0;
  const { reports, received } = openSession(t, window, `${server.base}/jsonp`, await server.page(), {
    random: () => 0,
    // The second poll's timeout, shortened to 150 ms; the server holds that poll for 5 s.
    setTimeout: (callback, ms) => setTimeout(callback, ms === jsonpPollTimeoutMs && ++armed === 2 ? 150 : ms),
  });
  await until(() => requests.length === 3);
  t.deepEqual(reports, [
    ['connected'],
    ['retrying', 'SERVERPUSH_ERR_NETWORK', `the poll got no answer within ${jsonpPollTimeoutMs} ms`, undefined],
  ]);
  t.is(scripts(window).length, 1, 'the given-up script is gone');
  // The server answers the given-up poll at once, as the newer poll took its page; its callback,
  // a no-op meanwhile, is gone once its late script has run.
  await until(() => Object.keys(callbackTable(window)!).length === 1);

  await server.publish('one');
  await until(() => received().length === 1);
  t.deepEqual(received(), ['one'], 'the given-up poll delivered nothing');
  t.deepEqual(errors, [], 'and threw nothing on the page');
});

test('jsonp.open() retries a payload without messages, a script that does not call back, and a 5xx payload', async (t) => {
  const answers = [
    (callback: string) => `/**/${callback}({"hello":"captive portal"});`,
    () => 'var nothing = 1;',
    (callback: string) =>
      `/**/${callback}({"error":{"code":"SERVERPUSH_ERR_CLOSED","message":"the push server is shutting down"},"status":503});`,
    (callback: string) => `/**/${callback}({"messages":[{"cursor":"a.1","name":"item","data":{"title":"at last"}}]});`,
  ];
  let served = 0;
  const server = await listen(t, (request, response) => {
    const callback = new URL(request.url ?? '/', 'http://localhost').searchParams.get('callback') ?? '';
    const answer = answers[Math.min(served++, answers.length - 1)]!;
    response
      .writeHead(200, { 'Content-Type': 'application/javascript' })
      .end(served > answers.length ? `/**/${callback}({"messages":[]});` : answer(callback));
  });
  const { window, errors } = scriptPage(t, `${server.url}/page`);
  const { reports, stop } = openSession(t, window, `${server.url}/jsonp`, 'TOKEN', { random: () => 0 });
  await until(() => reports.some((r) => r[0] === 'receive'));
  stop();

  t.deepEqual(reports.slice(0, 5), [
    ['retrying', 'SERVERPUSH_ERR_BAD_RESPONSE', 'the server called back without messages', undefined],
    ['retrying', 'SERVERPUSH_ERR_BAD_RESPONSE', 'the script ran without calling back', undefined],
    ['retrying', 'SERVERPUSH_ERR_CLOSED', 'the push server is shutting down', 503],
    ['connected'],
    ['receive', ['at last']],
  ]);
  t.deepEqual(errors, []);
});

test('jsonp.supported() needs a document with a window to run scripts in', (t) => {
  const window = new JSDOM('').window as unknown as DomWindow;
  t.teardown(() => window.close());
  t.true(jsonp.supported(resolveGlobals({ window })));
  const detached = window.document.implementation.createHTMLDocument('no window');
  t.false(jsonp.supported(resolveGlobals({ window, document: detached })));
});
