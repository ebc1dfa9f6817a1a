// The browser client: `connect()` connects a page to the push endpoints and turns the messages it
// receives into events on the page. The tabs of one browser share one connection per push origin
// (./share.ts) where the browser allows it; a tab that cannot share connects on its own.
//
// Events, all dispatched on `document` (and delivered to `client.on(name, fn)` listeners, whose
// first argument is the event's `detail`):
//
// - `serverpush:<name>` (cancelable) for each change message: `detail` is `message.data`; the
//   event's `message` property (type `PushEvent`) and the listener's second argument are the whole
//   message, the third the event. With jQuery on the page, `serverpush_<name>` is triggered too,
//   with `[data]`. Then, unless a listener called `preventDefault()` (on either), the client
//   applies the change to the live elements bound to that name (./live.ts).
// - `serverpush:refresh` (cancelable), detail `{ reason }`: the page cannot be brought up to
//   date. The client stops, then reloads the page unless a listener called `preventDefault()`
//   (on the DOM event or on jQuery's `serverpush_refresh`), the page is navigating away, or it
//   reloaded for the same path within `reloadGuardMs` (./reload.ts).
// - `serverpush:connection`, detail `{ state, error? }`: `client.state` changed. `error` says
//   why, for `reconnecting` and for `closed` after a failure.
// - `serverpush:error` (cancelable), detail a `PushClientError`: the client stopped because of
//   it. On `SERVERPUSH_ERR_BAD_TOKEN` it then reloads the page, once, unless a listener called
//   `preventDefault()` or `reloadOnBadToken` is `false`.
//
// `<html data-serverpush-state>` shows the state for CSS (./status.ts).
//
// `connection`, `error` and `refresh` are therefore not usable as update spec names.

/**
 * The browser client as an ES module: `connect()`, and the types of the `serverpush:*` events.
 *
 * @module serverpush/client
 */

import { resolveBackoff, type BackoffOptions } from './backoff.ts';
import { openConnection, type ConnectionState } from './connection.ts';
import { clientLog, logSkipped } from './debug.ts';
import { isObject } from './errors.ts';
import { resolveGlobals, type GlobalsOptions } from './globals.ts';
import { plan } from './negotiate.ts';
import { morph } from './morph.ts';
import { createPage, type ConnectionDetail, type Listener } from './page.ts';
import { canShare, sharePage } from './share.ts';
import type { ChangeMessage, PresenceMessage, RefreshMessage } from '../core/types.ts';
import type { PushClientError } from './errors.ts';
import type { PushEvent, RefreshDetail } from './dispatch.ts';
import type { PresenceDetail, PresenceEvent } from './presence.ts';
import type { PresenceDataOf } from './events.ts';

export type { BackoffOptions } from './backoff.ts';
export type { ConnectionState } from './connection.ts';
export type { ConnectionDetail } from './page.ts';
export type { PushEvent, RefreshDetail } from './dispatch.ts';
export type { PageStatus } from './status.ts';
export type { ClientEvent, PresenceDataOf, ServerpushEvent, ServerpushEventMap, ServerpushEvents } from './events.ts';
export type { PresenceDetail, PresenceEvent } from './presence.ts';
import type { ServerpushEvents } from './events.ts';
export { PushClientError, isPushClientError } from './errors.ts';
export type { ClientErrorCode, PushClientErrorCode } from './errors.ts';
export type {
  ChannelLike,
  ClientGlobals,
  ClientWindow,
  GlobalsOptions,
  JQueryLike,
  LockManagerLike,
} from './globals.ts';
export type { ChangeMessage, Message, PresenceMember, PresenceMessage, RefreshMessage } from '../core/types.ts';

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
  /**
   * Whether this tab shares one connection with the other tabs of the browser that connect to the
   * same push endpoints (`data-share="false"` turns it off). Without Web Locks and BroadcastChannel
   * each tab connects on its own anyway. Default: `true`.
   */
  readonly share?: boolean;
  /**
   * Whether a bad token (`401 SERVERPUSH_ERR_BAD_TOKEN`: the page's login session ended, or another
   * user logged in in this browser) reloads the page, so it renders for whoever is logged in now
   * (`data-reload-on-bad-token="false"` turns it off). Guarded like every reload of the client: see
   * `reloadGuardMs`; without sessionStorage to keep the guard in, it does not reload. Default: `true`.
   */
  readonly reloadOnBadToken?: boolean;
  /**
   * After the client reloads a page on its own (a `refresh`, a bad token), another reload of the
   * same path within this many ms is held back: the client stops and `data-serverpush-state` says
   * `stopped`, so a page refused again as soon as it loads does not reload in a loop. Kept in
   * sessionStorage; `0` turns the guard off. Default: `30_000`.
   */
  readonly reloadGuardMs?: number;
  /**
   * Whether to log to the console (`console.debug`) the transports tried and skipped and why, the
   * state changes, and the messages received and dispatched. Not given, it is on when localStorage
   * has `serverpush:debug` set (`localStorage.setItem('serverpush:debug', '1')`), for every page of
   * the origin. Default: off.
   */
  readonly debug?: boolean;
}

/**
 * A connection to the push endpoints, as `connect()` returns it. `Events` maps spec names to their
 * payloads, typing `on(name, fn)`: by default `ServerpushEvents` (the app's declarations), and
 * `unknown` for any other name.
 */
export interface PushClient<Events extends object = DefaultEvents> {
  readonly state: ConnectionState;
  /** The name of the transport in use or being tried; `undefined` if none of the offered ones works here. */
  readonly transport: string | undefined;
  /** Whether that transport goes straight to the push server or through the page origin's proxy. */
  readonly via: 'direct' | 'proxy' | undefined;
  /** The cursor of the last message received, sent back to resume from. */
  readonly cursor: string | undefined;
  /**
   * `shared` when this tab's page rides on a connection shared by the browser's tabs (held by one
   * of them), `single` when the tab connects on its own.
   */
  readonly mode: 'shared' | 'single';
  /** Whether this tab holds the connection: always when `single`, one tab of many when `shared`. */
  readonly leading: boolean;
  /** Calls `fn` on every state change. */
  on(name: 'connection', fn: (detail: ConnectionDetail) => void): void;
  /** Calls `fn` with the error that stopped the client. */
  on(name: 'error', fn: (error: PushClientError) => void): void;
  /** Calls `fn` when a refresh message arrives, before the page reloads. */
  on(name: 'refresh', fn: (detail: RefreshDetail, message: RefreshMessage) => void): void;
  /**
   * Calls `fn` with each presence event of the page (its route declares `push.presence()`): the
   * members on connect (`here`), then each `join` and `leave` (`count` beyond `maxMembers`). The
   * members' `data` is typed by the `presence` entry of `Events`.
   */
  on(
    name: 'presence',
    fn: (
      detail: PresenceDetail<PresenceDataOf<Events>>,
      message: PresenceMessage<PresenceDataOf<Events>>,
      event: PresenceEvent<PresenceDataOf<Events>>,
    ) => void,
  ): void;
  /**
   * Calls `fn` with each change message of that name: its payload, the whole message, and the
   * `serverpush:<name>` event, whose `preventDefault()` keeps the page's live elements as they are.
   */
  on<Name extends Exclude<keyof Events & string, 'presence'>>(
    name: Name,
    fn: (data: Events[Name], message: ChangeMessage, event: PushEvent<Events[Name]>) => void,
  ): void;
  /** Removes a listener added with `on()`. */
  off(name: 'connection', fn: (detail: ConnectionDetail) => void): void;
  /** Removes an `error` listener. */
  off(name: 'error', fn: (error: PushClientError) => void): void;
  /** Removes a `refresh` listener. */
  off(name: 'refresh', fn: (detail: RefreshDetail, message: RefreshMessage) => void): void;
  /** Removes a listener of the presence messages. */
  off(
    name: 'presence',
    fn: (
      detail: PresenceDetail<PresenceDataOf<Events>>,
      message: PresenceMessage<PresenceDataOf<Events>>,
      event: PresenceEvent<PresenceDataOf<Events>>,
    ) => void,
  ): void;
  /** Removes a listener of the change messages of `name`. */
  off<Name extends Exclude<keyof Events & string, 'presence'>>(
    name: Name,
    fn: (data: Events[Name], message: ChangeMessage, event: PushEvent<Events[Name]>) => void,
  ): void;
  /** Stops for good: aborts the request in flight and dispatches no more events. */
  close(): void;
}

/** The events of a client whose page declared none: `ServerpushEvents`, and any other name with an `unknown` payload. */
export type DefaultEvents = ServerpushEvents & Record<string, unknown>;

declare global {
  interface Window {
    /** The client the classic script (`tag()`, `{prefix}/client.js`) connected; absent until it runs. */
    serverpush?: PushClient | undefined;
  }
}

/** The transports tried when the page names none, best first. */
const defaultTransports = ['websocket', 'sse', 'long-poll', 'jsonp'];

/**
 * Connects the page to the push endpoints and starts receiving, right after the current task, so
 * listeners added just after `connect()` miss nothing.
 *
 * @example
 * const client = connect({ token: script.dataset.token, base: '/serverpush' });
 * client.on('hits', (html) => { counter.innerHTML = String(html); });
 * document.addEventListener('serverpush:hits', (event) => console.log(event.detail));
 * // Typed payloads, by spec name:
 * const typed = connect<{ hits: { hits: number } }>({ token });
 * typed.on('hits', ({ hits }) => { counter.textContent = String(hits); });
 */
export function connect<Events extends object = DefaultEvents>(options: PushClientOptions): PushClient<Events> {
  if (!isObject(options)) throw new TypeError('options must be an object');
  const {
    token,
    base = '/serverpush',
    transports = defaultTransports,
    proxy,
    connectTimeoutMs = 5_000,
    share = true,
    reloadOnBadToken = true,
    reloadGuardMs = 30_000,
  } = options;
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
  if (typeof share !== 'boolean') throw new TypeError('options.share must be a boolean');
  if (typeof reloadOnBadToken !== 'boolean') throw new TypeError('options.reloadOnBadToken must be a boolean');
  if (!(Number.isFinite(reloadGuardMs) && reloadGuardMs >= 0)) {
    throw new TypeError('options.reloadGuardMs must be a number of ms, 0 or more');
  }
  if (options.debug !== undefined && typeof options.debug !== 'boolean')
    throw new TypeError('options.debug must be a boolean');
  const backoff = resolveBackoff(options.backoff);
  const globals = resolveGlobals(options.globals);
  // Resolved against the page, because fetch outside a browser (Node, in tests) needs absolute URLs.
  const absolute = (path: string) => new URL(path.replace(/\/+$/, ''), globals.document.baseURI).href;
  const baseUrl = absolute(base);
  const proxyUrl = proxy === undefined ? undefined : absolute(proxy);
  const attempts = plan(transports, globals, baseUrl, proxyUrl);
  const log = clientLog(globals, options.debug);
  if (log !== undefined) {
    logSkipped(log, transports, globals);
    log(
      `transports to try: ${attempts.map(({ transport, via }) => `${transport.name} (${via})`).join(', ') || 'none'}`,
    );
  }
  let source:
    | { readonly transport: string | undefined; readonly via: 'direct' | 'proxy' | undefined; close(): void }
    | undefined;
  const page = createPage(globals, pageKey(), token, {
    transport: () => source?.transport ?? attempts[0]?.transport.name,
    reloadOnBadToken,
    reloadGuardMs,
    morph,
    log,
  });
  let mode: 'shared' | 'single' = share && canShare(globals) ? 'shared' : 'single';

  function connectAlone(): void {
    const connection = openConnection({
      globals,
      backoff,
      attempts,
      offered: transports,
      connectTimeoutMs,
      many: false,
      log,
      listener: {
        messages: (_key, messages) => page.receive(messages),
        refused: (_key, error) => page.stop(error),
        state: (state: ConnectionState, error?: PushClientError) => page.follow(state, error),
      },
    });
    connection.add(page.key, token, page.cursor);
    source = connection;
    mode = 'single';
  }

  function start(): void {
    if (page.state === 'closed') return;
    if (mode === 'shared') {
      // One connection per push origin and choice of transports: tabs that differ in either do not share.
      const name = `serverpush:${baseUrl}|${proxyUrl ?? ''}|${transports.join(',')}`;
      source = sharePage({
        globals,
        page,
        name,
        backoff,
        attempts,
        offered: transports,
        connectTimeoutMs,
        alone: connectAlone,
        log,
      });
    } else {
      connectAlone();
    }
    page.onStop(() => source?.close());
    // A tab that goes away takes its page with it: a shared connection carries it no more.
    globals.window.addEventListener?.('pagehide', () => page.stop());
  }

  void Promise.resolve().then(start);

  return {
    get state() {
      return page.state;
    },
    get transport() {
      return source?.transport ?? attempts[0]?.transport.name;
    },
    get via() {
      return source?.via ?? attempts[0]?.via;
    },
    get cursor() {
      return page.cursor;
    },
    get mode() {
      return mode;
    },
    get leading() {
      return source !== undefined && 'leading' in source ? source.leading === true : mode === 'single';
    },
    on(name: string, fn: (...args: never[]) => void) {
      page.on(name, fn as Listener);
    },
    off(name: string, fn: (...args: never[]) => void) {
      page.off(name, fn as Listener);
    },
    close: () => page.stop(),
  };
}

/** A random key for this page on a shared connection: 12 characters of `[A-Za-z0-9_-]`. */
function pageKey(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
  let key = '';
  for (const byte of crypto.getRandomValues(new Uint8Array(12))) key += alphabet[byte & 63]!;
  return key;
}
