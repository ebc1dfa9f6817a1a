// The JSONP transport, browser half: long-poll through `<script>` elements, for pages that cannot
// make a cross-origin request the push server would answer. See docs/protocol.md, "JSONP".
//
// Each poll adds `<script src="{url}?token&cursor&callback=__serverpush_jsonp.c1">` to the head,
// after registering that callback; the server's script calls it with `{ messages }`, or with
// `{ error, status }` because a browser runs no script answered with an error status. A script
// that fails to load says nothing about why, so it is retried like a network error.

import { PushClientError, errorFromResponse, isObject, stopsClient } from '../errors.ts';
import type { ClientGlobals } from '../globals.ts';
import { endpointUrl } from '../http.ts';
import { type ClientTransport, isFrame, type TransportSession } from './contract.ts';
import { pollLoop } from './poll-loop.ts';

/** The global the callbacks hang from, as `__serverpush_jsonp.c1`: paths stay within 32 characters. */
const namespace = '__serverpush_jsonp';

/**
 * How long a poll may go unanswered before it is given up and retried: the server's longest hold
 * (`jsonp()` accepts `timeoutMs` up to 30 s) plus 15 s for a slow network.
 */
export const jsonpPollTimeoutMs = 45_000;

type Callbacks = Record<string, ((payload: unknown) => void) | undefined>;

/** Long-poll over `<script>` elements, for any page with a document to add them to. */
export const jsonp: ClientTransport = {
  name: 'jsonp',
  reach: 'any',
  supported: (globals) =>
    typeof globals.document?.createElement === 'function' && globals.document.defaultView !== null,
  open: openJsonp,
};

function openJsonp(session: TransportSession): () => void {
  const { globals } = session;
  const view = globals.document.defaultView!;
  const loop = pollLoop(session, ({ current }) =>
    addScript(
      globals,
      endpointUrl(session),
      (payload) => current() && pollOnPayload(payload),
      (error) => current() && loop.retry(error),
    ),
  );
  session.onPagesChange?.(() => loop.restart());

  function pollOnPayload(payload: unknown): void {
    if (isFrame(payload)) {
      // The hold ran out: an empty batch, where long-poll answers 204.
      const messages = payload['messages'];
      return loop.succeed(Array.isArray(messages) && messages.length === 0 ? undefined : payload);
    }
    const { error, status }: Record<string, unknown> = isObject(payload) ? payload : {};
    if (error !== undefined && typeof status === 'number') {
      // The same reading as an HTTP error body: a code the server names, else SERVERPUSH_ERR_HTTP.
      const failure = errorFromResponse(status, JSON.stringify({ error }));
      return stopsClient(failure) ? session.failed(failure) : loop.retry(failure);
    }
    loop.retry(new PushClientError('SERVERPUSH_ERR_BAD_RESPONSE', 'the server called back without messages'));
  }

  // A script added before the page's `load` delays that event: the page would look as if it were
  // still loading for as long as the server holds the poll. The first poll also waits for the
  // load event to end, so that no request starts inside it.
  const windowOnLoad = () => {
    view.removeEventListener('load', windowOnLoad);
    if (!loop.stopped) loop.start(0);
  };
  if (globals.document.readyState === 'complete') loop.start();
  else view.addEventListener('load', windowOnLoad);

  return () => {
    view.removeEventListener('load', windowOnLoad);
    loop.stop();
  };
}

/**
 * Adds one poll's script and calls `onPayload` with what the server's script passes to its
 * callback, or `onFailure` once if it fails to load, runs without calling back, or takes longer
 * than `jsonpPollTimeoutMs`. Returns a function that gives the poll up. Afterwards the element is
 * gone and so is the callback; a script given up may still run later (removing it does not stop
 * its download), so its callback becomes a no-op until it has run or failed.
 */
function addScript(
  globals: ClientGlobals,
  url: string,
  onPayload: (payload: unknown) => void,
  onFailure: (error: PushClientError) => void,
): () => void {
  const { document } = globals;
  const table = callbacks(document.defaultView!);
  const key = freeKey(table);
  const script = document.createElement('script');
  let settled = false;

  function settle(mayRunLater: boolean): void {
    settled = true;
    globals.clearTimeout(timeout);
    script.remove();
    if (!mayRunLater) {
      delete table[key];
      script.onload = script.onerror = null;
      return;
    }
    const ignore = () => undefined;
    table[key] = ignore;
    script.onload = script.onerror = () => {
      if (table[key] === ignore) delete table[key];
    };
  }

  table[key] = (payload) => {
    if (settled) return;
    settle(false);
    onPayload(payload);
  };
  script.onload = () => {
    if (settled) return;
    settle(false);
    onFailure(new PushClientError('SERVERPUSH_ERR_BAD_RESPONSE', 'the script ran without calling back'));
  };
  script.onerror = () => {
    if (settled) return;
    settle(false);
    onFailure(
      new PushClientError('SERVERPUSH_ERR_NETWORK', 'the script failed to load (a network error or an error status)'),
    );
  };
  const timeout = globals.setTimeout(() => {
    if (settled) return;
    settle(true);
    onFailure(new PushClientError('SERVERPUSH_ERR_NETWORK', `the poll got no answer within ${jsonpPollTimeoutMs} ms`));
  }, jsonpPollTimeoutMs);
  script.async = true;
  script.src = `${url}&callback=${namespace}.${key}`;
  (document.head ?? document.documentElement).appendChild(script);
  return () => {
    if (!settled) settle(true);
  };
}

/** The page's callback table, `window.__serverpush_jsonp`, created on first use. */
function callbacks(view: Window): Callbacks {
  const host = view as unknown as Record<string, unknown>;
  const existing = host[namespace];
  if (isObject(existing)) return existing as Callbacks;
  const created: Callbacks = {};
  host[namespace] = created;
  return created;
}

let nextKey = 0;

/** A key no poll uses, on this page, even with two copies of the client loaded. */
function freeKey(table: Callbacks): string {
  let key: string;
  do key = `c${(nextKey++).toString(36)}`;
  while (key in table);
  return key;
}
