// The browser globals the client touches, passed in so the same client runs in jsdom under Node.

/** The part of a `jQuery.Event` the client reads. */
export interface JQueryEventLike {
  isDefaultPrevented(): boolean;
}

/** The part of jQuery the client calls: `jQuery(document).trigger(…)` and `jQuery.Event(…)`. */
export interface JQueryLike {
  (
    target: Document,
  ): {
    /** Triggers `event` on the target with `extra` as the handlers' arguments. */
    trigger(event: string | JQueryEventLike, extra?: unknown[]): unknown;
  };
  /** Makes a jQuery event, to learn whether a handler prevented its default. */
  Event(type: string): JQueryEventLike;
}

/** The part of the Web Locks API (`navigator.locks`) the client uses to elect the tab that connects. */
export interface LockManagerLike {
  /** Runs `callback` once this tab holds the lock `name`, until it settles or `signal` aborts. */
  request(
    name: string,
    options: { readonly signal?: AbortSignal },
    callback: () => Promise<void> | undefined,
  ): Promise<unknown>;
}

/** The part of a `BroadcastChannel` the client uses to talk to its other tabs. */
export interface ChannelLike {
  /** Receives the messages the other tabs post. */
  onmessage: ((event: MessageEvent) => void) | null;
  /** Posts to the other tabs. */
  postMessage(message: unknown): void;
  /** Leaves the channel. */
  close(): void;
}

/** The window the client dispatches in. A browser's `window` and a jsdom window both fit. */
export interface ClientWindow {
  readonly document: Document;
  readonly CustomEvent: typeof CustomEvent;
  readonly location: {
    /** Reloads the page. */
    reload(): void;
  };
  /** Read at each dispatch, so jQuery loaded after the client still receives events. */
  readonly jQuery?: JQueryLike | undefined;
  /** The long-poll transport's way of requesting, with `AbortController`. */
  readonly fetch?: typeof fetch | undefined;
  readonly XMLHttpRequest?: typeof XMLHttpRequest | undefined;
  readonly AbortController?: typeof AbortController | undefined;
  readonly EventSource?: typeof EventSource | undefined;
  readonly WebSocket?: typeof WebSocket | undefined;
  /** Where a listener's exception and a markup mistake are reported; without it they are rethrown from a timer. */
  readonly reportError?: ((error: unknown) => void) | undefined;
  /** Where the client remembers the transport that worked, for the browser session. */
  readonly sessionStorage?: Pick<Storage, 'getItem' | 'setItem'> | undefined;
  /** Where the `serverpush:debug` flag turns debug logging on (client/debug.ts). */
  readonly localStorage?: Pick<Storage, 'getItem'> | undefined;
  /** Where debug logging goes. */
  readonly console?: Pick<Console, 'debug'> | undefined;
  /** Where the Web Locks API lives, in browsers that have it. */
  readonly navigator?: { readonly locks?: LockManagerLike | undefined } | undefined;
  readonly BroadcastChannel?: (new (name: string) => ChannelLike) | undefined;
  /** The window's timer. */
  setTimeout(handler: () => void, timeout: number): number;
  /** Cancels a timer of `setTimeout()`. */
  clearTimeout(id: number | undefined): void;
  /** The window's interval timer. */
  setInterval?(handler: () => void, timeout: number): number;
  /** Cancels a timer of `setInterval()`. */
  clearInterval?(id: number | undefined): void;
  /** Tells the client that the page is being unloaded, so that it stops. */
  addEventListener?(type: 'pagehide', listener: () => void): void;
}

/** Everything the client and its transports use from the environment, resolved. */
export interface ClientGlobals {
  readonly window: ClientWindow;
  readonly document: Document;
  /** `undefined` when absent; transports then fall back (long-poll to `XMLHttpRequest`). */
  readonly fetch: typeof fetch | undefined;
  readonly XMLHttpRequest: typeof XMLHttpRequest | undefined;
  /** Paired with `fetch`: a `fetch` whose requests cannot be aborted is not used. */
  readonly AbortController: typeof AbortController | undefined;
  /** `undefined` when absent; the `sse` transport is then not used. */
  readonly EventSource: typeof EventSource | undefined;
  /** `undefined` when absent; the `websocket` transport is then not used. */
  readonly WebSocket: typeof WebSocket | undefined;
  /** `undefined` when absent; tabs then connect each on their own. */
  readonly locks: LockManagerLike | undefined;
  /** `undefined` when absent; tabs then connect each on their own. */
  readonly BroadcastChannel: (new (name: string) => ChannelLike) | undefined;
  /** Calls `callback` once after `ms`. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer of `setTimeout()`. */
  clearTimeout(handle: unknown): void;
  /** Calls `callback` every `ms`. */
  setInterval(callback: () => void, ms: number): unknown;
  /** Cancels a timer of `setInterval()`. */
  clearInterval(handle: unknown): void;
  /** A number in [0, 1), as `Math.random()`. */
  random(): number;
  /** Reloads the page after a `refresh` message. */
  reload(): void;
  /** Reports an exception thrown by a listener without stopping the client. */
  reportError(error: unknown): void;
}

/**
 * What `connect({ globals })` accepts: any subset of `ClientGlobals`. Each one left out comes from
 * `window` (the given one, else the real one). Pass `fetch: undefined` explicitly to make the
 * client use `XMLHttpRequest`. Functions are called as plain functions, so pass them bound.
 */
export type GlobalsOptions = Partial<ClientGlobals>;

/** Fills in every global `options` leaves out, from its `window` or the browser's. */
export function resolveGlobals(options: GlobalsOptions = {}): ClientGlobals {
  const win = options.window ?? browserWindow();
  if (win === undefined) {
    throw new TypeError('options.globals.window is required outside a browser');
  }
  const setTimeout = options.setTimeout ?? ((callback, ms) => win.setTimeout(callback, ms));
  return {
    window: win,
    document: options.document ?? win.document,
    fetch: 'fetch' in options ? options.fetch : win.fetch?.bind(win),
    XMLHttpRequest: 'XMLHttpRequest' in options ? options.XMLHttpRequest : win.XMLHttpRequest,
    AbortController: 'AbortController' in options ? options.AbortController : win.AbortController,
    EventSource: 'EventSource' in options ? options.EventSource : win.EventSource,
    WebSocket: 'WebSocket' in options ? options.WebSocket : win.WebSocket,
    locks: 'locks' in options ? options.locks : win.navigator?.locks,
    BroadcastChannel: 'BroadcastChannel' in options ? options.BroadcastChannel : win.BroadcastChannel,
    setTimeout,
    clearTimeout: options.clearTimeout ?? ((handle) => win.clearTimeout(handle as number)),
    setInterval:
      options.setInterval ??
      ((callback, ms) =>
        win.setInterval === undefined ? globalThis.setInterval(callback, ms) : win.setInterval(callback, ms)),
    clearInterval:
      options.clearInterval ??
      ((handle) =>
        win.clearInterval === undefined
          ? globalThis.clearInterval(handle as number)
          : win.clearInterval(handle as number)),
    random: options.random ?? Math.random,
    reload: options.reload ?? (() => win.location.reload()),
    reportError:
      options.reportError ??
      (win.reportError
        ? (error) => win.reportError?.(error)
        : (error) =>
            setTimeout(() => {
              throw error;
            }, 0)),
  };
}

function browserWindow(): ClientWindow | undefined {
  return typeof window === 'undefined' ? undefined : window;
}
