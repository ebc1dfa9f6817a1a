// Sharing one connection between the tabs of a browser: the tabs of one push origin elect a leader
// with the Web Locks API (the tab holding the lock), and talk over a BroadcastChannel. The leader
// holds the connection and carries every tab's page on it; the others hand it their page (token and
// cursor) and get their own messages back. When the leader's tab closes, reloads or crashes, the
// browser gives the lock to the next tab waiting for it, which opens the connection anew, and every
// page joins it with its own cursor: nothing is lost, and each page's seen cursors drop repeats.
//
// Web Locks and BroadcastChannel rather than a SharedWorker: both work in every current browser
// (Chrome on Android has no SharedWorker), from the page itself, so the client script may come from
// the push server's origin, where a SharedWorker's script could not.

import type { Message, PresenceMessage } from '../core/types.ts';
import { type ClientConnection, type ConnectionState, isMessage, openConnection } from './connection.ts';
import { PushClientError, isObject } from './errors.ts';
import type { ClientGlobals, LockManagerLike } from './globals.ts';
import type { Page } from './page.ts';
import type { Backoff } from './backoff.ts';
import type { ClientLog } from './debug.ts';
import type { Attempt } from './negotiate.ts';

/** What the tabs say to each other. */
type Note =
  /** A tab took the lead: every other page joins it. */
  | { readonly t: 'hello' }
  /** A page asks to be carried (again, as a sign of life, every `aliveMs`). */
  | { readonly t: 'join'; readonly key: string; readonly token: string; readonly cursor: string | null }
  /** A page leaves (its tab closes, or it stopped). */
  | { readonly t: 'leave'; readonly key: string }
  /** The leader hands a page its messages. */
  | { readonly t: 'messages'; readonly key: string; readonly messages: readonly (Message | PresenceMessage)[] }
  /** The server refused a page. */
  | { readonly t: 'refused'; readonly key: string; readonly error: ErrorNote }
  /** The leader's connection changed state. */
  | {
      readonly t: 'state';
      readonly state: ConnectionState;
      readonly error: ErrorNote | null;
      readonly transport: string | null;
      readonly via: 'direct' | 'proxy' | null;
    };

interface ErrorNote {
  readonly code: string;
  readonly message: string;
  readonly status: number | null;
}

/** The code of a page refused because its connection carries as many as it may. */
const tooMany = 'SERVERPUSH_ERR_LIMIT';
/**
 * The code of a page whose token the shared connection refused. The connection may be older than
 * this tab's login: a token bound to the new session cookie (`bindCookie`) does not match the
 * cookie the leader's WebSocket presented when it opened. The page then connects on its own, with
 * the browser's current cookie; a token that is bad there too stops the page as usual.
 */
const badToken = 'SERVERPUSH_ERR_BAD_TOKEN';

/** How often a page that does not lead says it is still there, in ms. */
const aliveMs = 10_000;
/** How long the leader carries a page it has not heard from, in ms: tabs in the background are throttled. */
const silentMs = 180_000;

/** Options of `sharePage()`. */
export interface ShareOptions {
  readonly globals: ClientGlobals;
  /** The page of this tab. */
  readonly page: Page;
  /** The name of the lock and the channel: one per push origin and transport choice. */
  readonly name: string;
  readonly backoff: Backoff;
  readonly attempts: readonly Attempt[];
  readonly offered: readonly string[];
  readonly connectTimeoutMs: number;
  /** Called when the shared connection cannot carry this page (too many pages): it must connect on its own. */
  readonly alone: () => void;
  /** Where debug logging goes, when it is on. */
  readonly log?: ClientLog | undefined;
}

/** This tab's part in a shared connection. */
export interface Sharing {
  /** Whether this tab holds the connection now. */
  readonly leading: boolean;
  readonly transport: string | undefined;
  readonly via: 'direct' | 'proxy' | undefined;
  /** Leaves: the page is no longer carried; a leading tab hands the connection over. */
  close(): void;
}

/** Whether these globals can share a connection between tabs. */
export function canShare(globals: ClientGlobals): boolean {
  return globals.locks !== undefined && globals.BroadcastChannel !== undefined && globals.AbortController !== undefined;
}

/** Shares the connection of `page`'s push origin with the other tabs of this browser. */
export function sharePage(options: ShareOptions): Sharing {
  const { globals, page, name } = options;
  const locks = globals.locks as LockManagerLike;
  const Channel = globals.BroadcastChannel!;
  const channel = new Channel(name);
  const abandon = new globals.AbortController!();
  let connection: ClientConnection | undefined;
  let release: (() => void) | undefined;
  /** The pages the leader carries for other tabs, with when each was last heard from. */
  const members = new Map<string, number>();
  let transport: string | undefined;
  let via: 'direct' | 'proxy' | undefined;
  let closed = false;
  let sweeper: unknown;

  const post = (note: Note) => {
    if (!closed) channel.postMessage(note);
  };
  const join = () => post({ t: 'join', key: page.key, token: page.token, cursor: page.cursor ?? null });

  function lead(): void {
    options.log?.(`this tab leads the connection shared by the tabs of ${name}`);
    members.clear();
    connection = openConnection({
      log: options.log,
      globals,
      backoff: options.backoff,
      attempts: options.attempts,
      offered: options.offered,
      connectTimeoutMs: options.connectTimeoutMs,
      many: true,
      listener: {
        messages(key, messages) {
          if (key === page.key) page.receive(messages);
          else post({ t: 'messages', key, messages });
        },
        refused(key, error) {
          members.delete(key);
          if (key !== page.key) return post({ t: 'refused', key, error: errorNote(error) });
          if (error.code === tooMany) return leaveAlone();
          page.stop(error);
        },
        state(state, error) {
          transport = connection?.transport;
          via = connection?.via;
          page.follow(state, error);
          announce(state, error);
        },
      },
    });
    transport = connection.transport;
    via = connection.via;
    connection.add(page.key, page.token, page.cursor);
    post({ t: 'hello' });
    sweeper = globals.setInterval(() => {
      const oldest = Date.now() - silentMs;
      for (const [key, heard] of members) {
        if (heard >= oldest) continue;
        members.delete(key);
        connection?.remove(key);
      }
    }, aliveMs);
  }

  let lastState: { state: ConnectionState; error: PushClientError | undefined } = {
    state: 'connecting',
    error: undefined,
  };
  function announce(state: ConnectionState, error?: PushClientError): void {
    lastState = { state, error };
    post({
      t: 'state',
      state,
      error: error === undefined ? null : errorNote(error),
      transport: transport ?? null,
      via: via ?? null,
    });
  }

  channel.onmessage = (event: MessageEvent) => {
    const note = readNote(event.data);
    if (note === undefined || closed) return;
    if (connection !== undefined) {
      // The leader: carries the pages of the others.
      if (note.t === 'join') {
        const known = members.has(note.key);
        members.set(note.key, Date.now());
        if (!known) {
          connection.add(note.key, note.token, note.cursor ?? undefined);
          announce(lastState.state, lastState.error);
        }
      } else if (note.t === 'leave') {
        members.delete(note.key);
        connection.remove(note.key);
      }
      return;
    }
    switch (note.t) {
      case 'hello':
        options.log?.('another tab leads the shared connection: joining it');
        return join();
      case 'messages':
        if (note.key === page.key) page.receive(note.messages);
        return;
      case 'refused':
        if (note.key !== page.key) return;
        if (note.error.code === tooMany || note.error.code === badToken) return leaveAlone();
        page.stop(new PushClientError(note.error.code, note.error.message, note.error.status ?? undefined));
        return;
      case 'state':
        transport = note.transport ?? undefined;
        via = note.via ?? undefined;
        // A connection closed for good stops the pages it carried; a leader's tab that goes away
        // is another matter: its successor says hello.
        if (note.state !== 'closed' || note.error !== null) {
          page.follow(
            note.state,
            note.error === null
              ? undefined
              : new PushClientError(note.error.code, note.error.message, note.error.status ?? undefined),
          );
        }
        return;
      default:
        return;
    }
  };

  // Waits for the lock for as long as the page lives; holds it until the page stops.
  locks
    .request(name, { signal: abandon.signal }, () => {
      if (closed) return undefined;
      lead();
      return new Promise<void>((resolve) => (release = resolve));
    })
    .catch(() => {
      // Aborted while waiting: this tab left before it led.
    });
  join();
  const heartbeat = globals.setInterval(() => connection === undefined && join(), aliveMs);

  function close(): void {
    if (closed) return;
    if (connection === undefined) post({ t: 'leave', key: page.key });
    closed = true;
    globals.clearInterval(heartbeat);
    globals.clearInterval(sweeper);
    connection?.close();
    connection = undefined;
    abandon.abort();
    release?.();
    channel.close();
  }

  // The shared connection carries as many pages as the server allows, with the cookie it opened
  // with: past that, or refused for its token there, this page connects on its own.
  function leaveAlone(): void {
    close();
    options.alone();
  }

  page.onStop(close);
  return {
    get leading() {
      return connection !== undefined;
    },
    get transport() {
      return transport;
    },
    get via() {
      return via;
    },
    close,
  };
}

function errorNote(error: PushClientError): ErrorNote {
  return { code: error.code, message: error.message, status: error.status ?? null };
}

/** A note from the channel, checked: another tab may run another version of the client. */
function readNote(data: unknown): Note | undefined {
  if (!isObject(data) || typeof data['t'] !== 'string') return undefined;
  const { t, key } = data;
  if (t === 'hello') return { t };
  if (typeof key !== 'string') return t === 'state' ? stateNote(data) : undefined;
  if (t === 'join' && typeof data['token'] === 'string') {
    const cursor = typeof data['cursor'] === 'string' ? data['cursor'] : null;
    return { t, key, token: data['token'], cursor };
  }
  if (t === 'leave') return { t, key };
  if (t === 'messages' && Array.isArray(data['messages']))
    return { t, key, messages: data['messages'].filter(isMessage) };
  if (t === 'refused' && isObject(data['error'])) {
    const error = errorNoteOf(data['error']);
    return error === undefined ? undefined : { t, key, error };
  }
  return undefined;
}

function stateNote(data: Readonly<Record<string, unknown>>): Note | undefined {
  const { state, error, transport, via } = data;
  if (state !== 'connecting' && state !== 'connected' && state !== 'reconnecting' && state !== 'closed')
    return undefined;
  return {
    t: 'state',
    state,
    error: isObject(error) ? (errorNoteOf(error) ?? null) : null,
    transport: typeof transport === 'string' ? transport : null,
    via: via === 'direct' || via === 'proxy' ? via : null,
  };
}

function errorNoteOf(value: Readonly<Record<string, unknown>>): ErrorNote | undefined {
  const { code, message, status } = value;
  if (typeof code !== 'string' || typeof message !== 'string') return undefined;
  return { code, message, status: typeof status === 'number' ? status : null };
}
