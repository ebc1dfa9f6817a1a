// One page's side of the client: its cursor, the messages it has seen, its connection state, and
// the events it dispatches on its own document. The connection that feeds it may live in this tab
// or in another tab that shares it (./share.ts).

import type { ChangeMessage, Message, RefreshMessage } from '../core/types.ts';
import type { ConnectionState } from './connection.ts';
import { dispatchChange, dispatchClientEvent, dispatchRefresh } from './dispatch.ts';
import type { PushClientError } from './errors.ts';
import type { ClientGlobals } from './globals.ts';

/** The detail of `serverpush:connection`. */
export interface ConnectionDetail {
  readonly state: ConnectionState;
  /** Why, when a failure caused the change. */
  readonly error?: PushClientError;
}

/** A listener of `client.on()`. */
export type Listener = (detail: unknown, message?: Message) => void;

/** How many recent cursors are remembered to recognize a message delivered twice. */
const seenCursorsMax = 1_000;

/** A page fed by a connection: what it tells the page, and what the page holds. */
export interface Page {
  /** The page's key on the connection: random, chosen by this tab. */
  readonly key: string;
  readonly token: string;
  /** The cursor of the last change it dispatched. */
  readonly cursor: string | undefined;
  readonly state: ConnectionState;
  /** Dispatches messages: each change once, in order; a refresh stops the page (and reloads it). */
  receive(messages: readonly Message[]): void;
  /** Follows the connection's state (a page that connected once reconnects, not connects). */
  follow(state: ConnectionState, error?: PushClientError): void;
  /** Stops for good, with the error that stopped it if any (`serverpush:error`). */
  stop(error?: PushClientError): void;
  /** Calls `listener` once when the page stops. */
  onStop(listener: () => void): void;
  on(name: string, fn: Listener): void;
  off(name: string, fn: Listener): void;
}

/** Creates a page with its key and token. */
export function createPage(globals: ClientGlobals, key: string, token: string): Page {
  const listeners = new Map<string, Set<Listener>>();
  const stopListeners = new Set<() => void>();
  const seenCursors = new Set<string>();
  let state: ConnectionState = 'connecting';
  let connectedOnce = false;
  let cursor: string | undefined;

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
    setState('closed', error);
    if (error !== undefined) {
      dispatchClientEvent(globals, 'serverpush:error', error);
      emit('error', error);
    }
    for (const listener of [...stopListeners]) listener();
    stopListeners.clear();
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

  return {
    key,
    token,
    get cursor() {
      return cursor;
    },
    get state() {
      return state;
    },
    receive(messages) {
      // Messages sharing a cursor arrive in one batch, so a cursor seen in an earlier batch means
      // the message was delivered already.
      const fresh = messages.filter((m) => !('cursor' in m) || !seenCursors.has(m.cursor));
      for (const message of messages) if ('cursor' in message) remember(message.cursor);
      for (const message of fresh) {
        if (state === 'closed') return;
        if (message.name === 'refresh') return refresh(message as RefreshMessage);
        const change = message as ChangeMessage;
        cursor = change.cursor;
        dispatchChange(globals, change);
        emit(change.name, change.data, change);
      }
    },
    follow(next, error) {
      if (next === 'closed') return stop(error);
      if (next === 'connected') connectedOnce = true;
      setState(next === 'connecting' && connectedOnce ? 'reconnecting' : next, error);
    },
    stop,
    onStop(listener) {
      if (state === 'closed') listener();
      else stopListeners.add(listener);
    },
    on(name, fn) {
      let set = listeners.get(name);
      if (set === undefined) listeners.set(name, (set = new Set()));
      set.add(fn);
    },
    off(name, fn) {
      listeners.get(name)?.delete(fn);
    },
  };
}
