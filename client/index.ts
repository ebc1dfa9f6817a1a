// The browser client: `connect()` opens a transport to the push endpoints and turns the
// messages it receives into events on the page.
//
// Events, all dispatched on `document` (and delivered to `client.on(name, fn)` listeners, whose
// first argument is the event's `detail`):
//
// - `serverpush:<name>` for each change message: `detail` is `message.data`; the event's
//   `message` property (type `PushEvent`) and the listener's second argument are the whole
//   message. With jQuery on the page, `serverpush_<name>` is triggered too, with `[data]`.
// - `serverpush:refresh` (cancelable), detail `{ reason }`: the page cannot be brought up to
//   date. The client stops, then reloads the page unless a listener called `preventDefault()`
//   (on the DOM event or on jQuery's `serverpush_refresh`).
// - `serverpush:connection`, detail `{ state, error? }`: `client.state` changed. `error` says
//   why, for `reconnecting` and for `closed` after a failure.
// - `serverpush:error`, detail a `PushClientError`: the client stopped because of it.
//
// `connection`, `error` and `refresh` are therefore not usable as update spec names.

import type { ChangeMessage, Message, RefreshMessage } from '../core/types.ts';
import { backoffDelay, resolveBackoff, type BackoffOptions } from './backoff.ts';
import { dispatchChange, dispatchClientEvent, dispatchRefresh, type RefreshDetail } from './dispatch.ts';
import { PushClientError, isObject } from './errors.ts';
import { resolveGlobals, type GlobalsOptions } from './globals.ts';
import { plan, rememberAttempt, type Attempt } from './negotiate.ts';

export type { BackoffOptions } from './backoff.ts';
export type { PushEvent, RefreshDetail } from './dispatch.ts';
export { PushClientError, isPushClientError } from './errors.ts';
export type { ClientErrorCode, PushClientErrorCode } from './errors.ts';
export type { ClientGlobals, ClientWindow, GlobalsOptions, JQueryLike } from './globals.ts';
export type { ChangeMessage, Message, RefreshMessage } from '../core/types.ts';

/** Options of `connect()`. */
export interface PushClientOptions {
  /** The page token the server rendered into the page tag (`data-token`). */
  readonly token: string;
  /** Where the push endpoints live, relative to the page or absolute. Default: `'/serverpush'`. */
  readonly base?: string;
  /**
   * Transport names in order of preference (`data-transports`). The client tries them in turn: it
   * moves to the next when one fails to connect within `connectTimeoutMs`, or dies three times in a
   * row, and resumes from its cursor. Names this client does not know, or that the browser cannot
   * run, are skipped. Default: `['websocket', 'sse', 'long-poll', 'jsonp']`.
   */
  readonly transports?: readonly string[];
  /**
   * A base on the page's own origin that forwards to the push server (`push.proxy()`), for when
   * `base` is on another origin (`data-proxy`). Transports that need CORS use it. Default: none.
   */
  readonly proxy?: string;
  /** How long a transport may take to connect before the next is tried, in ms. Default: `5_000`. */
  readonly connectTimeoutMs?: number;
  /** The browser globals to use instead of the real ones. Default: the page's. */
  readonly globals?: GlobalsOptions;
  /** Retry timing after a server or network error. Default: `{ initialMs: 500, maxMs: 15_000 }`. */
  readonly backoff?: BackoffOptions;
}

/**
 * `connecting` until the first good response (the server answers a page's first request at once),
 * then `connected`; `reconnecting` from a failed request until a good one; `closed` for good after
 * `close()`, a refresh, or an error retrying cannot fix.
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** The detail of `serverpush:connection`. */
export interface ConnectionDetail {
  readonly state: ConnectionState;
  /** Why, when a failure caused the change. */
  readonly error?: PushClientError;
}

/** A connection to the push endpoints, as `connect()` returns it. */
export interface PushClient {
  readonly state: ConnectionState;
  /** The name of the transport in use or being tried; `undefined` if none of the offered ones works here. */
  readonly transport: string | undefined;
  /** Whether that transport goes straight to the push server or through the page origin's proxy. */
  readonly via: 'direct' | 'proxy' | undefined;
  /** The cursor of the last message received, sent back to resume from. */
  readonly cursor: string | undefined;
  /** Calls `fn` on every state change. */
  on(name: 'connection', fn: (detail: ConnectionDetail) => void): void;
  /** Calls `fn` with the error that stopped the client. */
  on(name: 'error', fn: (error: PushClientError) => void): void;
  /** Calls `fn` when a refresh message arrives, before the page reloads. */
  on(name: 'refresh', fn: (detail: RefreshDetail, message: RefreshMessage) => void): void;
  /** Calls `fn` with each change message of that name: its payload, then the whole message. */
  on(name: string, fn: (data: unknown, message: ChangeMessage) => void): void;
  /** Removes a listener added with `on()`. */
  off(name: 'connection', fn: (detail: ConnectionDetail) => void): void;
  off(name: 'error', fn: (error: PushClientError) => void): void;
  off(name: 'refresh', fn: (detail: RefreshDetail, message: RefreshMessage) => void): void;
  off(name: string, fn: (data: unknown, message: ChangeMessage) => void): void;
  /** Stops for good: aborts the request in flight and dispatches no more events. */
  close(): void;
}

type Listener = (detail: unknown, message?: Message) => void;

/** How many recent cursors are remembered to recognize a message delivered twice. */
const seenCursorsMax = 1_000;
/** Failures in a row, after having connected, that make the client try the next transport. */
const deathsBeforeFallback = 3;
/** The transports tried when the page names none, best first. */
const defaultTransports = ['websocket', 'sse', 'long-poll', 'jsonp'];

/**
 * Connects to the push endpoints and starts receiving, right after the current task, so
 * listeners added just after `connect()` miss nothing.
 *
 * @example
 * const client = connect({ token: script.dataset.token, base: '/serverpush' });
 * client.on('hits', (html) => { counter.innerHTML = String(html); });
 * document.addEventListener('serverpush:hits', (event) => console.log(event.detail));
 */
export function connect(options: PushClientOptions): PushClient {
  if (!isObject(options)) throw new TypeError('options must be an object');
  const { token, base = '/serverpush', transports = defaultTransports, proxy, connectTimeoutMs = 5_000 } = options;
  if (typeof token !== 'string' || token === '') {
    throw new TypeError('options.token must be a non-empty string');
  }
  if (typeof base !== 'string') throw new TypeError('options.base must be a string');
  if (!Array.isArray(transports) || !transports.every((name) => typeof name === 'string')) {
    throw new TypeError('options.transports must be an array of transport names');
  }
  if (proxy !== undefined && typeof proxy !== 'string') throw new TypeError('options.proxy must be a string');
  if (!(Number.isFinite(connectTimeoutMs) && connectTimeoutMs > 0)) {
    throw new TypeError('options.connectTimeoutMs must be a positive number');
  }
  const backoff = resolveBackoff(options.backoff);
  const globals = resolveGlobals(options.globals);
  // Resolved against the page, because fetch outside a browser (Node, in tests) needs absolute URLs.
  const absolute = (path: string) => new URL(path.replace(/\/+$/, ''), globals.document.baseURI).href;
  const attempts = plan(transports, globals, absolute(base), proxy === undefined ? undefined : absolute(proxy));
  const listeners = new Map<string, Set<Listener>>();
  const seenCursors = new Set<string>();
  let state: ConnectionState = 'connecting';
  let cursor: string | undefined;
  let stopTransport: (() => void) | undefined;
  let current: Attempt | undefined = attempts[0];
  let attemptIndex = 0;
  let rounds = 0;
  let connectTimer: unknown;

  function emit(name: string, detail: unknown, message?: Message): void {
    for (const fn of [...(listeners.get(name) ?? [])]) {
      try {
        fn(detail, message);
      } catch (error) {
        globals.reportError(error);
      }
    }
  }

  function setState(next: ConnectionState, error?: PushClientError): void {
    if (state === next || state === 'closed') return;
    state = next;
    const detail: ConnectionDetail = error === undefined ? { state } : { state, error };
    dispatchClientEvent(globals, 'serverpush:connection', detail);
    emit('connection', detail);
  }

  function stop(error?: PushClientError): void {
    if (state === 'closed') return;
    globals.clearTimeout(connectTimer);
    stopTransport?.();
    setState('closed', error);
    if (error !== undefined) {
      dispatchClientEvent(globals, 'serverpush:error', error);
      emit('error', error);
    }
  }

  function receive(raw: readonly unknown[]): void {
    const messages = raw.filter(isMessage);
    // Messages sharing a cursor arrive in one response, so a cursor seen in an earlier response
    // means the message was delivered already.
    const fresh = messages.filter((m) => !('cursor' in m) || !seenCursors.has(m.cursor));
    for (const message of messages) {
      if ('cursor' in message) remember(message.cursor);
    }
    for (const message of fresh) {
      if (state === 'closed') return;
      if (message.name === 'refresh') return refresh(message as RefreshMessage);
      const change = message as ChangeMessage;
      cursor = change.cursor;
      dispatchChange(globals, change);
      emit(change.name, change.data, change);
    }
  }

  function remember(seen: string): void {
    seenCursors.add(seen);
    if (seenCursors.size > seenCursorsMax) {
      const oldest = seenCursors.values().next();
      if (oldest.done !== true) seenCursors.delete(oldest.value);
    }
  }

  function refresh(raw: RefreshMessage): void {
    // A refresh without a reason still reloads: a stale page is worse than a vague log line.
    // A newer server may send a reason this client does not know: it is passed on as it came.
    const message = { ...raw, reason: String(raw.reason ?? '') } as RefreshMessage;
    const reload = dispatchRefresh(globals, message);
    emit('refresh', { reason: message.reason }, message);
    stop();
    if (reload) globals.reload();
  }

  function start(): void {
    if (state === 'closed') return;
    if (current === undefined) {
      const offered = transports.join(', ') || 'none';
      return stop(new PushClientError('SERVERPUSH_ERR_NO_TRANSPORT', `no usable transport among: ${offered}`));
    }
    open(current);
  }

  function open(attempt: Attempt): void {
    let connectedOnce = false;
    let connectedAt = 0;
    let deaths = 0;
    // Waiting only makes sense when there is another transport to move to.
    if (attempts.length > 1) connectTimer = globals.setTimeout(() => fallBack(timeoutError(attempt)), connectTimeoutMs);
    stopTransport = attempt.transport.open({
      url: attempt.url,
      token,
      globals,
      backoff,
      cursor: () => cursor,
      receive,
      connected() {
        globals.clearTimeout(connectTimer);
        if (!connectedOnce) rememberAttempt(globals, attempt);
        connectedOnce = true;
        connectedAt = Date.now();
        rounds = 0;
        setState('connected');
      },
      retrying(error) {
        setState('reconnecting', error);
        // A connection that lived a while and then died counts once; one that dies as soon as it
        // opens (a proxy that cuts it) keeps counting, so the client moves on.
        deaths = Date.now() - connectedAt > connectTimeoutMs ? 1 : deaths + 1;
        if (!connectedOnce || deaths >= deathsBeforeFallback) fallBack(error);
      },
      failed: (error) => stop(error),
    });
  }

  // Moves to the next attempt, resuming from the cursor; after the last, starts over with a backoff
  // wait, so a network that is down for everyone is not hammered.
  function fallBack(error: PushClientError): void {
    if (state === 'closed' || attempts.length < 2) return;
    globals.clearTimeout(connectTimer);
    stopTransport?.();
    stopTransport = undefined;
    setState('reconnecting', error);
    attemptIndex = (attemptIndex + 1) % attempts.length;
    current = attempts[attemptIndex];
    if (attemptIndex !== 0) return start();
    connectTimer = globals.setTimeout(start, backoffDelay(backoff, rounds, globals.random));
    rounds += 1;
  }

  void Promise.resolve().then(start);

  return {
    get state() {
      return state;
    },
    get transport() {
      return current?.transport.name;
    },
    get via() {
      return current?.via;
    },
    get cursor() {
      return cursor;
    },
    on(name: string, fn: (...args: never[]) => void) {
      let set = listeners.get(name);
      if (set === undefined) listeners.set(name, (set = new Set()));
      set.add(fn as Listener);
    },
    off(name: string, fn: (...args: never[]) => void) {
      listeners.get(name)?.delete(fn as Listener);
    },
    close: () => stop(),
  };
}

/** Whether `value` has the shape of a message: a change with a cursor, or a refresh. */
function isMessage(value: unknown): value is Message {
  if (!isObject(value) || typeof value['name'] !== 'string') return false;
  return typeof value['cursor'] === 'string' || value['name'] === 'refresh';
}

function timeoutError(attempt: Attempt): PushClientError {
  return new PushClientError('SERVERPUSH_ERR_TIMEOUT', `${attempt.transport.name} did not connect in time`);
}
