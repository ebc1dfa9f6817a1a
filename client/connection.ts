// A connection to the push endpoints: it tries the offered transports in turn (moving on when one
// does not connect in time or keeps dying), carries one page (the one-page protocol) or the pages
// of every tab that shares it (the many-page protocol), and hands each page its own messages.

import type { ChangeMessage, Message, PresenceMessage } from '../core/types.ts';
import { backoffDelay, retryDelay, type Backoff } from './backoff.ts';
import { PushClientError, isObject, retryAfterOf } from './errors.ts';
import type { ClientLog } from './debug.ts';
import type { ClientGlobals } from './globals.ts';
import { rememberAttempt, type Attempt } from './negotiate.ts';
import type { PageRef, TransportSession } from './transports/contract.ts';

/**
 * `connecting` until the first good response (the server answers a page's first request at once),
 * then `connected`; `reconnecting` from a failed request until a good one; `closed` for good after
 * `close()`, a refresh, or an error retrying cannot fix.
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** What a connection tells its pages. */
export interface ConnectionListener {
  /** A page's messages, in order (a refresh last: the page has left the connection). */
  messages(key: string, messages: readonly (Message | PresenceMessage)[]): void;
  /**
   * The server refused a page: it has left the connection. A refusal that says when to retry
   * (`retryAfter`: a limit or a busy server) is not reported: the page rejoins after that wait.
   */
  refused(key: string, error: PushClientError): void;
  /** The connection's state changed; `closed` with an error ends every page. */
  state(state: ConnectionState, error?: PushClientError): void;
}

/** Options of `openConnection()`. */
export interface ConnectionOptions {
  readonly globals: ClientGlobals;
  readonly backoff: Backoff;
  /** The ways to connect, in order (see `plan()`). */
  readonly attempts: readonly Attempt[];
  /** The transport names the page offered, for the error when none of them can run here. */
  readonly offered: readonly string[];
  /** How long a transport may take to connect before the next is tried, in ms. */
  readonly connectTimeoutMs: number;
  /** Whether it speaks the many-page protocol (a shared connection), even while it carries one page. */
  readonly many: boolean;
  readonly listener: ConnectionListener;
  /** Where debug logging goes, when it is on. */
  readonly log?: ClientLog | undefined;
}

/** A connection carrying pages. */
export interface ClientConnection {
  /** Adds a page (in place of one under the same key), resuming after `cursor`. */
  add(key: string, token: string, cursor: string | undefined): void;
  /** Takes a page off. */
  remove(key: string): void;
  /** The name of the transport in use or being tried. */
  readonly transport: string | undefined;
  readonly via: 'direct' | 'proxy' | undefined;
  /** Stops for good: aborts the request in flight and says nothing more. */
  close(): void;
}

/** Failures in a row, after having connected, that make the connection try the next transport. */
const deathsBeforeFallback = 3;

/**
 * Opens a connection; it starts after the current task. With no page it sends nothing: it starts,
 * or starts again, when one is added.
 */
export function openConnection(options: ConnectionOptions): ClientConnection {
  const { globals, backoff, attempts, connectTimeoutMs, many, listener, log } = options;
  const pages = new Map<string, { token: string; cursor: string | undefined }>();
  const pageListeners = new Set<() => void>();
  /** Pages refused with a `retryAfter`, by key: the timer that adds each back. */
  const rejoining = new Map<string, unknown>();
  let state: ConnectionState = 'connecting';
  let closed = false;
  let stopTransport: (() => void) | undefined;
  let current: Attempt | undefined = attempts[0];
  let attemptIndex = 0;
  let rounds = 0;
  let connectTimer: unknown;

  function setState(next: ConnectionState, error?: PushClientError): void {
    if (state === next || state === 'closed') return;
    state = next;
    listener.state(next, error);
  }

  function stop(error?: PushClientError): void {
    if (closed) return;
    closed = true;
    globals.clearTimeout(connectTimer);
    for (const timer of rejoining.values()) globals.clearTimeout(timer);
    rejoining.clear();
    stopTransport?.();
    stopTransport = undefined;
    setState('closed', error);
  }

  function refs(): PageRef[] {
    return [...pages].map(([key, { token, cursor }]) => ({ key, token, cursor }));
  }

  function query(): string {
    if (!many) {
      const [page] = pages.values();
      const token = `token=${encodeURIComponent(page?.token ?? '')}`;
      return page?.cursor === undefined ? token : `${token}&cursor=${encodeURIComponent(page.cursor)}`;
    }
    if (current?.transport.name === 'websocket') return 'mux=1';
    return [...pages]
      .map(([key, { token, cursor }]) => `p=${encodeURIComponent(`${key}~${cursor ?? ''}~${token}`)}`)
      .join('&');
  }

  /** Hands a page its messages, and follows its cursor; a refresh takes it off. */
  function deliver(key: string, raw: unknown): void {
    const page = pages.get(key);
    if (page === undefined || !Array.isArray(raw)) return;
    const messages = raw.filter(isMessage);
    for (const message of messages) if ('cursor' in message) page.cursor = message.cursor;
    if (messages.some((message) => message.name === 'refresh')) drop(key);
    if (messages.length > 0) listener.messages(key, messages);
  }

  function receive(frame: Readonly<Record<string, unknown>>): void {
    if (!many) {
      const [key] = pages.keys();
      if (key !== undefined) deliver(key, frame['messages']);
      return;
    }
    const { pages: batches, errors } = frame;
    if (isObject(batches)) for (const [key, messages] of Object.entries(batches)) deliver(key, messages);
    if (isObject(errors)) {
      for (const [key, detail] of Object.entries(errors)) {
        const page = pages.get(key);
        if (page === undefined || !isObject(detail)) continue;
        drop(key);
        const { code, message, status, retryAfter } = detail;
        const error = new PushClientError(
          typeof code === 'string' ? code : 'SERVERPUSH_ERR_HTTP',
          typeof message === 'string' ? message : 'the server refused the page',
          typeof status === 'number' ? status : undefined,
          undefined,
          retryAfterOf(retryAfter),
        );
        if (error.retryAfter === undefined) listener.refused(key, error);
        else rejoin(key, page, error);
      }
    }
  }

  /** Adds a page the server asked to come back later back after the wait it named. */
  function rejoin(key: string, page: { token: string; cursor: string | undefined }, error: PushClientError): void {
    const timer = globals.setTimeout(
      () => {
        rejoining.delete(key);
        add(key, page.token, page.cursor);
      },
      retryDelay(backoff, 0, globals.random, error),
    );
    rejoining.set(key, timer);
  }

  function cancelRejoin(key: string): void {
    const waiting = rejoining.get(key);
    if (waiting === undefined) return;
    globals.clearTimeout(waiting);
    rejoining.delete(key);
  }

  function add(key: string, token: string, cursor: string | undefined): void {
    if (closed) return;
    cancelRejoin(key);
    const held = pages.get(key);
    pages.set(key, { token, cursor });
    if (held !== undefined || pages.size > 1) {
      for (const changed of pageListeners) changed();
    }
    if (stopTransport === undefined) void Promise.resolve().then(start);
  }

  function drop(key: string): void {
    if (!pages.delete(key)) return;
    if (pages.size === 0) idle();
    else for (const changed of pageListeners) changed();
  }

  /** No page left: nothing to ask for until one is added. */
  function idle(): void {
    globals.clearTimeout(connectTimer);
    stopTransport?.();
    stopTransport = undefined;
  }

  function start(): void {
    if (closed || pages.size === 0 || stopTransport !== undefined) return;
    if (current === undefined) {
      const offered = options.offered.join(', ') || 'none';
      return stop(new PushClientError('SERVERPUSH_ERR_NO_TRANSPORT', `no usable transport among: ${offered}`));
    }
    open(current);
  }

  function open(attempt: Attempt): void {
    log?.(`trying ${attempt.transport.name} (${attempt.via}) at ${attempt.url}`);
    let connectedOnce = false;
    let connectedAt = 0;
    let deaths = 0;
    pageListeners.clear();
    // Waiting only makes sense when there is another transport to move to.
    if (attempts.length > 1) {
      connectTimer = globals.setTimeout(() => fallBack(timeoutError(attempt)), connectTimeoutMs);
    }
    const session: TransportSession = {
      url: attempt.url,
      globals,
      backoff,
      query,
      ...(many ? { pages: refs, onPagesChange: (changed: () => void) => void pageListeners.add(changed) } : {}),
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
        log?.(`${attempt.transport.name} failed and retries: ${error.code}: ${error.message}`);
        setState('reconnecting', error);
        // A connection that lived a while and then died counts once; one that dies as soon as it
        // opens (a proxy that cuts it) keeps counting, so the client moves on.
        deaths = Date.now() - connectedAt > connectTimeoutMs ? 1 : deaths + 1;
        if (!connectedOnce || deaths >= deathsBeforeFallback) fallBack(error);
      },
      failed: (error) => stop(error),
    };
    stopTransport = attempt.transport.open(session);
  }

  // Moves to the next attempt, resuming from the cursors; after the last, starts over with a
  // backoff wait, so a network that is down for everyone is not hammered.
  function fallBack(error: PushClientError): void {
    if (closed || attempts.length < 2) return;
    globals.clearTimeout(connectTimer);
    stopTransport?.();
    stopTransport = undefined;
    setState('reconnecting', error);
    attemptIndex = (attemptIndex + 1) % attempts.length;
    log?.(
      `leaving ${current?.transport.name} (${error.code}: ${error.message}) for ${attempts[attemptIndex]?.transport.name}`,
    );
    current = attempts[attemptIndex];
    if (attemptIndex !== 0) return start();
    connectTimer = globals.setTimeout(start, backoffDelay(backoff, rounds, globals.random));
    rounds += 1;
  }

  return {
    add,
    remove(key) {
      cancelRejoin(key);
      drop(key);
    },
    get transport() {
      return current?.transport.name;
    },
    get via() {
      return current?.via;
    },
    close: () => stop(),
  };
}

/** Whether `value` has the shape of a message: a change with a cursor, or a refresh. */
export function isMessage(value: unknown): value is Message | PresenceMessage {
  if (!isObject(value) || typeof value['name'] !== 'string') return false;
  if (value['name'] === 'presence') return typeof value['channel'] === 'string' && typeof value['type'] === 'string';
  return typeof value['cursor'] === 'string' || value['name'] === 'refresh';
}

/** Whether a message is a change message. */
export function isChange(message: Message): message is ChangeMessage {
  return 'cursor' in message;
}

function timeoutError(attempt: Attempt): PushClientError {
  return new PushClientError('SERVERPUSH_ERR_TIMEOUT', `${attempt.transport.name} did not connect in time`);
}
