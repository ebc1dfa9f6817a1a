import test, { type ExecutionContext } from 'ava';
import { JSDOM, VirtualConsole } from 'jsdom';
import { start } from '../../client/auto.ts';
import { connect } from '../../client/index.ts';
import { createPage, pageGlobals, type DomWindow } from '../helpers/jsdom.ts';
import { livePage, type LivePage } from '../helpers/live-page.ts';
import { createPushServerDouble } from '../helpers/push-server-double.ts';
import { until } from '../helpers/until.ts';

const badToken = { error: { code: 'SERVERPUSH_ERR_BAD_TOKEN', message: 'the page token belongs to another session' } };
const key = (path: string) => `serverpush:reloaded:${path}`;

async function refused(page: LivePage): Promise<void> {
  page.server.fail(401, badToken);
  await until(() => page.client.state === 'closed');
}

test('connect() reloads on a refresh once: a reload of the same path within reloadGuardMs is held back', async (t) => {
  const first = await livePage(t);
  await first.send({ name: 'refresh', reason: 'epoch' });
  t.is(first.reloads(), 1);
  t.is(first.state(), 'reloading');
  const stamp = Number(first.window.sessionStorage.getItem(key('/page')));
  t.true(Math.abs(Date.now() - stamp) < 5_000);

  // The reloaded page (the same window: the same sessionStorage) is told to refresh again at once.
  const again = await livePage(t, { server: first.server, window: first.window });
  const refresh = new Promise((resolve) => again.document.addEventListener('serverpush:refresh', resolve));
  await again.send({ name: 'refresh', reason: 'epoch' });
  await refresh;
  t.is(again.reloads(), 0, 'held back: no reload loop');
  t.is(again.state(), 'stopped');
  t.is(again.client.state, 'closed');
});

test('connect() keys its reload guard by path, and forgets it after reloadGuardMs', async (t) => {
  const server = await createPushServerDouble(t);
  const window = createPage(t, { url: `${server.origin}/todos` });
  window.sessionStorage.setItem(key('/todos'), String(Date.now()));
  window.sessionStorage.setItem(key('/login'), String(Date.now() - 31_000));

  const held = await livePage(t, { server, window });
  await held.send({ name: 'refresh', reason: 'history' });
  t.is(held.reloads(), 0);

  window.history.pushState(null, '', '/login');
  const other = await livePage(t, { server, window });
  await other.send({ name: 'refresh', reason: 'history' });
  t.is(other.reloads(), 1, 'a stamp older than 30 s no longer holds back');

  window.history.pushState(null, '', '/todos');
  const unguarded = await livePage(t, { server, window, reloadGuardMs: 0 });
  await unguarded.send({ name: 'refresh', reason: 'history' });
  t.is(unguarded.reloads(), 1, 'reloadGuardMs: 0 turns the guard off');
});

test('connect() reloads once on SERVERPUSH_ERR_BAD_TOKEN, and not again within reloadGuardMs', async (t) => {
  const first = await livePage(t);
  const errors: unknown[] = [];
  first.document.addEventListener('serverpush:error', (event) => errors.push((event as CustomEvent).detail));
  await refused(first);
  t.like(errors, [{ code: 'SERVERPUSH_ERR_BAD_TOKEN', status: 401 }]);
  t.is(first.reloads(), 1);
  t.is(first.state(), 'reloading');

  const again = await livePage(t, { server: first.server, window: first.window });
  await refused(again);
  t.is(again.reloads(), 0);
  t.is(again.state(), 'stopped');
});

test('connect() does not reload on a bad token with reloadOnBadToken: false, nor when serverpush:error is cancelled', async (t) => {
  const optedOut = await livePage(t, { reloadOnBadToken: false });
  await refused(optedOut);
  t.is(optedOut.reloads(), 0);
  t.is(optedOut.state(), 'stopped');

  const cancelled = await livePage(t);
  cancelled.document.addEventListener('serverpush:error', (event) => event.preventDefault());
  await refused(cancelled);
  t.is(cancelled.reloads(), 0);

  // Other errors that stop the client never reload.
  const other = await livePage(t);
  other.server.fail(400, { error: { code: 'SERVERPUSH_ERR_BAD_CURSOR', message: 'no' } });
  await until(() => other.client.state === 'closed');
  t.is(other.reloads(), 0);
});

test('start() reads data-reload-on-bad-token="false" from its tag', async (t) => {
  const server = await createPushServerDouble(t);
  const window = createPage(t, {
    url: `${server.origin}/page`,
    body: '<script data-serverpush data-token="T" data-base="/serverpush" data-transports="long-poll" data-share="false" data-reload-on-bad-token="false"></script>',
  });
  let reloads = 0;
  const client = start(pageGlobals(window, { reload: () => (reloads += 1) }));
  t.teardown(() => client.close());
  server.fail(401, badToken);
  await until(() => client.state === 'closed');
  t.is(reloads, 0);
});

test('connect() without sessionStorage reloads on a refresh as always, but never on a bad token', async (t) => {
  const noStorage = (window: DomWindow) =>
    new Proxy(window, {
      get(target, property) {
        if (property === 'sessionStorage') throw new Error('SecurityError: storage is disabled');
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  const server = await createPushServerDouble(t);
  const refreshWindow = createPage(t, { url: `${server.origin}/page` });
  const refreshed = await livePage(t, { server, window: refreshWindow, globals: { window: noStorage(refreshWindow) } });
  await refreshed.send({ name: 'refresh', reason: 'history' });
  t.is(refreshed.reloads(), 1);

  const tokenWindow = createPage(t, { url: `${server.origin}/page` });
  const rejected = await livePage(t, { server, window: tokenWindow, globals: { window: noStorage(tokenWindow) } });
  await refused(rejected);
  t.is(rejected.reloads(), 0);
  t.is(rejected.state(), 'stopped');
});

test('connect() ignores a refresh while a form submission navigates the page away, and reloads if it is still there later', async (t) => {
  const deferred: Array<{ run: () => void; ms: number }> = [];
  const page = await livePage(t, {
    body: '<form id="logout" method="post" action="/logout"><button>Log out</button></form>',
    globals: {
      setTimeout: (run, ms) => {
        if (ms < 5_000) return setTimeout(run, ms);
        deferred.push({ run, ms });
        return 0;
      },
    },
  });
  const form = page.document.getElementById('logout')!;
  form.dispatchEvent(new page.window.SubmitEvent('submit', { bubbles: true, cancelable: true }));
  await page.send({ name: 'refresh', reason: 'disconnect' });
  t.is(page.reloads(), 0, 'the navigation goes on');
  t.is(page.state(), 'reloading', 'a new page is on its way');
  t.is(page.client.state, 'closed');

  // The navigation did not happen (a 204, a download): the page is stale and reloads after all.
  t.is(deferred.length, 1);
  t.true(deferred[0]!.ms > 9_000 && deferred[0]!.ms <= 10_000);
  deferred[0]!.run();
  t.is(page.reloads(), 1);
});

/**
 * A page whose jsdom reports what it cannot do (a link's navigation) to the test, not the console:
 * the navigations jsdom attempted.
 */
async function quietPage(t: ExecutionContext, body: string): Promise<{ page: LivePage; navigations: string[] }> {
  const server = await createPushServerDouble(t);
  const navigations: string[] = [];
  const virtualConsole = new VirtualConsole();
  virtualConsole.on('jsdomError', (error) => navigations.push(error.message));
  const { window } = new JSDOM(`<!doctype html><html><head></head><body>${body}</body></html>`, {
    url: `${server.origin}/page`,
    runScripts: 'outside-only',
    virtualConsole,
  });
  t.teardown(() => window.close());
  return { page: await livePage(t, { server, window: window as unknown as DomWindow }), navigations };
}

test('connect() reloads on a refresh after a submission or a click that does not leave the page', async (t) => {
  const cases: Array<[string, string, (document: Document) => void]> = [
    ['a submission a script handles', '<form id="f"></form>', (document) => submit(document, 'f', true)],
    ['a form that targets another window', '<form id="f" target="_blank"></form>', (document) => submit(document, 'f')],
    ['a dialog form', '<form id="f" method="dialog"></form>', (document) => submit(document, 'f')],
    ['a link to a fragment of the page', '<a id="a" href="#more">more</a>', (document) => click(document, 'a')],
    ['a link opened in a new tab', '<a id="a" href="/other">other</a>', (document) => click(document, 'a', true)],
    ['a mailto: link', '<a id="a" href="mailto:x@example.com">mail</a>', (document) => click(document, 'a')],
    ['a link a script handles', '<a id="a" href="/other">other</a>', (document) => click(document, 'a', false, true)],
  ];
  for (const [what, body, act] of cases) {
    const { page } = await quietPage(t, body);
    act(page.document);
    await page.send({ name: 'refresh', reason: 'disconnect' });
    t.is(page.reloads(), 1, what);
  }
});

test('connect() ignores a refresh after a click on a link that leaves the page', async (t) => {
  const { page, navigations } = await quietPage(t, '<a id="a" href="/logout"><span id="inside">Log out</span></a>');
  click(page.document, 'inside');
  await page.send({ name: 'refresh', reason: 'disconnect' });
  await until(() => navigations.length > 0);
  t.deepEqual(navigations, ['Not implemented: navigation to another Document'], 'jsdom began the navigation');
  t.is(page.reloads(), 0);
  t.is(page.state(), 'reloading');
});

test('connect() throws a TypeError naming a bad reloadOnBadToken or reloadGuardMs', (t) => {
  const window = createPage(t, { url: 'http://127.0.0.1:9/page' });
  const globals = pageGlobals(window);
  t.throws(() => connect({ token: 'T', globals, reloadOnBadToken: 'no' as never }), {
    instanceOf: TypeError,
    message: 'options.reloadOnBadToken must be a boolean',
  });
  for (const reloadGuardMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => connect({ token: 'T', globals, reloadGuardMs }), {
      instanceOf: TypeError,
      message: 'options.reloadGuardMs must be a number of ms, 0 or more',
    });
  }
});

/** Submits a form the way the browser's submit event goes: `handled`, a page script takes it over. */
function submit(document: Document, id: string, handled = false): void {
  const window = document.defaultView!;
  const event = new window.SubmitEvent('submit', { bubbles: true, cancelable: true });
  document.getElementById(id)!.dispatchEvent(event);
  if (handled) event.preventDefault();
}

/** Clicks an element; `handled`, a page script (a client-side router) prevents the link's navigation. */
function click(document: Document, id: string, ctrlKey = false, handled = false): void {
  const window = document.defaultView!;
  if (handled) document.addEventListener('click', (event) => event.preventDefault(), { once: true });
  document
    .getElementById(id)!
    .dispatchEvent(new window.MouseEvent('click', { bubbles: true, cancelable: true, button: 0, ctrlKey }));
}
