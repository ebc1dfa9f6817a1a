// One page's side of the client: its cursor, the messages it has seen, its connection state, and
// what it does on its own document: the events it dispatches, then the live elements it updates
// (./live.ts), the state it shows for CSS (./status.ts), and the reloads it decides (./reload.ts).
// The connection that feeds it may live in this tab or in another tab that shares it (./share.ts).

import type { ChangeMessage, Message, PresenceMessage, RefreshMessage } from '../core/types.ts';
import type { ConnectionState } from './connection.ts';
import { dispatchChange, dispatchClientEvent, dispatchError, dispatchRefresh } from './dispatch.ts';
import type { ClientLog } from './debug.ts';
import type { PushClientError } from './errors.ts';
import type { ClientGlobals } from './globals.ts';
import { applyChange, type MorphFunction } from './live.ts';
import { createReloader, type ReloadCause } from './reload.ts';
import { showStatus } from './status.ts';
import { createPresenceState, dispatchPresence, isPresence, showPresence } from './presence.ts';

/** The detail of `serverpush:connection`. */
export interface ConnectionDetail {
  readonly state: ConnectionState;
  /** Why, when a failure caused the change. */
  readonly error?: PushClientError;
}

/**
 * A listener of `client.on()`. For a change message: the payload, the message, and the cancelable
 * `serverpush:<name>` event, whose `preventDefault()` keeps the live elements as they are.
 */
export type Listener = (detail: unknown, message?: Message | PresenceMessage, event?: Event) => void;

/** Options of `createPage()`. */
export interface PageOptions {
  /** The name of the transport in use, shown as `data-serverpush-transport` once connected. */
  readonly transport: () => string | undefined;
  /** Whether a bad token (`SERVERPUSH_ERR_BAD_TOKEN`) reloads the page, once. */
  readonly reloadOnBadToken: boolean;
  /** How long after a reload of the same path another is held back, in ms. */
  readonly reloadGuardMs: number;
  /** How live elements asking for it (`data-serverpush-morph`) are morphed. */
  readonly morph: MorphFunction;
  /** Where debug logging goes, when it is on. */
  readonly log?: ClientLog | undefined;
}

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
  receive(messages: readonly (Message | PresenceMessage)[]): void;
  /** Follows the connection's state (a page that connected once reconnects, not connects). */
  follow(state: ConnectionState, error?: PushClientError): void;
  /** Stops for good, with the error that stopped it if any (`serverpush:error`). */
  stop(error?: PushClientError): void;
  /** Calls `listener` once when the page stops. */
  onStop(listener: () => void): void;
  on(name: string, fn: Listener): void;
  off(name: string, fn: Listener): void;
}

/** Creates a page with its key and token, and shows its state on the document. */
export function createPage(globals: ClientGlobals, key: string, token: string, options: PageOptions): Page {
  const listeners = new Map<string, Set<Listener>>();
  const stopListeners = new Set<() => void>();
  const seenCursors = new Set<string>();
  let state: ConnectionState = 'connecting';
  let connectedOnce = false;
  let cursor: string | undefined;
  const { log } = options;
  const reloader = createReloader(globals, {
    guardMs: options.reloadGuardMs,
    held: () => showStatus(globals, 'stopped'),
  });
  showStatus(globals, 'connecting');

  function emit(name: string, detail: unknown, message?: Message | PresenceMessage, event?: Event): void {
    for (const fn of [...(listeners.get(name) ?? [])]) {
      try {
        fn(detail, message, event);
      } catch (error) {
        globals.reportError(error);
      }
    }
  }

  function setState(next: ConnectionState, error?: PushClientError): void {
    if (state === next || state === 'closed') return;
    log?.(
      `state ${state} → ${next}${next === 'connected' ? ` over ${options.transport()}` : ''}`,
      ...(error === undefined ? [] : [error]),
    );
    state = next;
    // Before the event, so its listeners read the document as CSS shows it.
    if (next === 'connected') showStatus(globals, next, options.transport());
    else showStatus(globals, next === 'closed' ? 'stopped' : next);
    const detail: ConnectionDetail = error === undefined ? { state } : { state, error };
    dispatchClientEvent(globals, 'serverpush:connection', detail);
    emit('connection', detail);
  }

  function stop(error?: PushClientError): void {
    if (state === 'closed') return;
    setState('closed', error);
    let reload = false;
    if (error !== undefined) {
      reload = dispatchError(globals, error) && options.reloadOnBadToken && error.code === 'SERVERPUSH_ERR_BAD_TOKEN';
      emit('error', error);
    }
    for (const listener of [...stopListeners]) listener();
    stopListeners.clear();
    // A token that no longer fits the login session: the page rendered now is rendered for whoever
    // is logged in now (or asks them to log in).
    if (reload) reloadPage('token');
  }

  function reloadPage(cause: ReloadCause): void {
    showStatus(globals, reloader.reload(cause) === 'held' ? 'stopped' : 'reloading');
  }

  function change(message: ChangeMessage): void {
    cursor = message.cursor;
    log?.(
      `dispatching serverpush:${message.name} (${message.effect} ${message.model} ${String(message.id)})`,
      message.data,
    );
    const event = dispatchChange(globals, message);
    emit(message.name, message.data, message, event);
    if (!event.defaultPrevented) applyChange(globals, message, options.morph);
  }

  const presence = createPresenceState();
  function present(message: PresenceMessage): void {
    for (const detail of presence.apply(message)) {
      const event = dispatchPresence(globals, message, detail);
      emit('presence', detail, message, event);
      if (!event.defaultPrevented) showPresence(globals, detail);
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
    log?.(`dispatching serverpush:refresh (${message.reason})`);
    const reload = dispatchRefresh(globals, message);
    emit('refresh', { reason: message.reason }, message);
    stop();
    if (reload) reloadPage('refresh');
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
      log?.(
        `received ${messages.length} message(s)${fresh.length < messages.length ? `, ${messages.length - fresh.length} seen already` : ''}`,
        messages,
      );
      for (const message of messages) if ('cursor' in message) remember(message.cursor);
      for (const message of fresh) {
        if (state === 'closed') return;
        if (message.name === 'refresh') return refresh(message as RefreshMessage);
        if (isPresence(message)) present(message);
        else change(message as ChangeMessage);
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
