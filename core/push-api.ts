// The push instance's public shape: the options of createPush(), the page request it signs, the
// filters of revalidate() and disconnect(), and the methods of the instance (push.ts builds it).

import type { ChangeLog } from './change-log.ts';
import type { ErrorCode } from './errors.ts';
import type { ConnectionKind, PushObserver, PushSnapshot } from './observe.ts';
import type { OrmAdapter } from './orm.ts';
import type { PresenceFunction, PresenceOptions } from './presence-spec.ts';
import type { PushEndpoint, Transport } from './transport.ts';
import type {
  Change,
  ChangeInput,
  Fragment,
  FragmentRender,
  Message,
  PresenceMember,
  PushContext,
  Row,
  RowOf,
  UpdateFunction,
} from './types.ts';
import type { Authenticate, RouteTable } from './viewer.ts';

/** Options of `createPush()`. */
export interface PushOptions<Viewer = unknown, Identity = unknown> {
  /** The HMAC key for page tokens: at least 32 bytes, the same in every process. Required. */
  readonly secret: string | Buffer;
  /** The ORM adapter whose committed changes are published, e.g. `objection()`. */
  readonly orm?: OrmAdapter | undefined;
  /** The change log. Default: `memoryLog()`. */
  readonly log?: ChangeLog | undefined;
  /** The transports offered to browsers, in order of preference. Default: none (the Koa adapter's default is `[sse(), longPoll(), jsonp()]`). */
  readonly transports?: readonly Transport[] | undefined;
  /**
   * Rebuilds the viewer from the identity in the page token, when a page connects. `binding` is the
   * value the request presented for a bound token (the session cookie), so the app can check that
   * the session still exists; throwing a `PushError` refuses the page with it (e.g.
   * `SERVERPUSH_ERR_BAD_TOKEN`). Its return type is the push instance's `Viewer` (`ctx.viewer`).
   * Default: the identity itself.
   */
  readonly authenticate?: Authenticate<Viewer, Identity> | undefined;
  /**
   * Runs for each change before it is serialized for a page: `false` (or a throw) drops the change
   * for that viewer. For permissions that can change while a page is open. Default: none.
   */
  readonly authorize?: ((ctx: PushContext<Viewer, Identity>, change: Change) => boolean | Promise<boolean>) | undefined;
  /** How page paths map to routes; the Koa adapter supplies it from the router. */
  readonly routes?: RouteTable | undefined;
  /** How long a page token stays valid, in ms. Default: `86_400_000` (a day). */
  readonly tokenTtlMs?: number | undefined;
  /**
   * How long a page is kept after no connection holds it (its poll was answered, its stream ended),
   * in ms; it serializes nothing meanwhile. Past it the page is forgotten, and its client is served
   * from the change log when it comes back. Default: `15_000`.
   */
  readonly pageIdleMs?: number | undefined;
  /**
   * Changes a page may hold for its client. Past it, a page no connection holds is forgotten (its
   * client is served from the log when it comes back); one whose history alone is longer, or whose
   * connection cannot take them, is told to refresh. Default: `1_000`.
   */
  readonly maxPending?: number | undefined;
  /** Pages one connection (a browser's shared connection) may carry. Default: `32`. */
  readonly maxPagesPerConnection?: number | undefined;
  /**
   * The bytes of messages a page may wait to hand to its client (the same bound as `maxPending`,
   * counted in bytes: a message shared by many pages counts for each). Default: `1_048_576`.
   */
  readonly maxPendingBytes?: number | undefined;
  /** Pages this process serves at most; past it new pages get 503 `SERVERPUSH_ERR_BUSY`. Default: `100_000`. */
  readonly maxPages?: number | undefined;
  /**
   * Connections (held polls, streams, sockets) this process holds at most; past it new ones get
   * 503 `SERVERPUSH_ERR_BUSY` with `Retry-After`. Default: `10_000`.
   */
  readonly maxConnections?: number | undefined;
  /**
   * Connections one client address may hold; past it 429 `SERVERPUSH_ERR_LIMIT`. The address is
   * the one the adapter can trust (the Koa adapter: the socket's, or the forwarded one when
   * `app.proxy` is set; none behind an untrusted proxy, where the limit does not apply).
   * Default: `256`.
   */
  readonly maxConnectionsPerAddress?: number | undefined;
  /**
   * Receives internal errors (the server's faults, not a client's mistakes: those are answered 4xx
   * and logged under `DEBUG=serverpush:*`), with where they happened ("serving a WebSocket").
   * Default: `console.error`.
   */
  readonly onError?: ((error: unknown, where: string) => void) | undefined;
  /**
   * Presence timing and bounds (`push.presence()`): `{ heartbeatMs: 5_000, expiryMs: 15_000,
   * maxMembers: 100, leaveDelayMs: 2_000 }`. See docs/presence.md. Default: those.
   */
  readonly presence?: PresenceOptions | undefined;
}

/** What a page request needs to render its token. */
export interface PageRequest<Identity = unknown> {
  readonly path: string;
  /** The raw query string, without `?`. */
  readonly query: string;
  readonly identity: Identity;
  readonly languages: readonly string[];
  /** The change-log cursor taken at the start of the request. */
  readonly cursor: string;
  /** A value (the app's session cookie) every later request of the page must present. */
  readonly binding?: string | undefined;
}

/** Which pages a `revalidate()` or `disconnect()` concerns, judged by their viewer's context. */
export type PageFilter<Viewer, Identity = unknown> = (ctx: PushContext<Viewer, Identity>) => boolean;

/**
 * The pages of one identity (as `identify` put it into their tokens), on every push process that
 * shares the change log: the filter travels through the log.
 */
export interface IdentityFilter<Identity = unknown> {
  readonly identity: Identity;
}

/**
 * The cursor a page token carries when the change log did not answer while the page rendered: its
 * first request waits for the log, then tells it to refresh (reason `unavailable`).
 */
export const unknownCursor = '-';

/** Options of `poll()`. */
export interface PollOptions {
  /** How long to wait for messages when none are ready, in ms. */
  readonly waitMs: number;
  readonly signal?: AbortSignal | undefined;
  /** The value the request presents for a bound token (the session cookie). */
  readonly binding?: string | undefined;
}

/**
 * A push instance. `Viewer` is what `authenticate` returns (`ctx.viewer`), `Identity` what the page
 * token carries (`ctx.identity`).
 */
export interface Push<Viewer = unknown, Identity = unknown> {
  readonly log: ChangeLog;
  readonly transports: readonly Transport[];
  /**
   * Registers the update function of the route named `route`. Several may be registered. Each
   * spec's `params` and serializer row are typed by its own `model`.
   */
  updates<Models extends readonly unknown[]>(route: string, fn: UpdateFunction<Viewer, Models, Identity>): this;
  /** Registers an update function applied to every page. */
  global<Models extends readonly unknown[]>(fn: UpdateFunction<Viewer, Models, Identity>): this;
  /**
   * Makes a fragment, a serializer that renders a row as HTML for one viewer: `render(row, viewer,
   * ctx)` returns the HTML, or `null` for "nothing for this viewer" (a page that showed the row
   * then hears a `leave` for it). Put it in a spec's `serializer`. Given a `model`, its row is typed
   * by it and specs of other models are refused. Names are unique in a push instance: make
   * fragments once, beside the update functions.
   */
  fragment<R = Row>(name: string, render: FragmentRender<Viewer, R>): Fragment<Viewer, R>;
  /** Makes a fragment of `model`'s rows: `render` gets them typed by it, and specs of other models refuse it. */
  fragment<M>(name: string, model: M, render: FragmentRender<Viewer, RowOf<M>>): Fragment<Viewer, RowOf<M>>;
  /**
   * Declares that the pages of the route named `route` are present in a channel: `fn(ctx)` returns
   * `{ channel, data }` (what the channel's members see of this viewer), or `null` for a page that
   * takes no part. Those pages receive `presence` messages: the members on connect, then joins and
   * leaves, one member per identity across every push process sharing the change log. One per
   * route. See docs/presence.md.
   */
  presence(route: string, fn: PresenceFunction<Viewer, Identity>): this;
  /** The members of a presence channel, across the push processes sharing the change log, in the order they joined. */
  members(channel: string): { readonly count: number; readonly members: readonly PresenceMember[] };
  /** Whether pages of the route named `route` have update functions (and so need a log cursor). */
  concerns(route: string | undefined): boolean;
  /** Appends changes to the log by hand, for writes that bypass the ORM adapter. */
  publish(changes: ChangeInput | readonly ChangeInput[]): Promise<Change[]>;
  /** Signs the token of a page request. */
  token(request: PageRequest<Identity>): string;
  /**
   * Re-runs `authenticate` and the update functions of the connected pages that `filter` selects,
   * adding and dropping subscriptions (after a viewer's role changed). A page whose viewer can no
   * longer be authenticated, or whose update function throws, is told to refresh. A function of the
   * page context reaches this process's pages; `{ identity }` reaches that identity's pages on every
   * push process sharing the change log (it travels through the log, and this process applies it at
   * once). Resolves with the number of this process's pages revalidated.
   */
  revalidate(filter: PageFilter<Viewer, Identity>): Promise<number>;
  /** Revalidates the pages of `{ identity }` on every push process sharing the change log. */
  revalidate(filter: IdentityFilter<Identity>): Promise<number>;
  /**
   * Ends the connected pages that `filter` selects with a `refresh` (at logout): a function reaches
   * this process's pages, `{ identity }` every push process's, as for `revalidate()`. Resolves with
   * the number of this process's pages ended.
   */
  disconnect(filter: PageFilter<Viewer, Identity>): Promise<number>;
  /** Ends the pages of `{ identity }` on every push process sharing the change log (at logout). */
  disconnect(filter: IdentityFilter<Identity>): Promise<number>;
  /**
   * The transports' way in, for a request that presents `binding` (the session cookie of a bound
   * token) and comes from `address` (a client address the adapter trusts, or `undefined`), to the
   * transport named `transport` (for monitoring; `'other'` when not given).
   */
  endpoint(binding: string | undefined, address?: string | undefined, transport?: ConnectionKind): PushEndpoint;
  /**
   * One page's messages after `cursor` (the token's own when `undefined`), waiting up to `waitMs`
   * when none are ready; the request that opens the page on this process is answered at once. A
   * long-poll of one page, for callers without a transport. Throws a `PushError` for a bad token or
   * cursor.
   */
  poll(token: string, cursor: string | undefined, options: PollOptions): Promise<Message[]>;
  /** Throws the `PushError` that `poll()` would throw for this token and cursor, without opening the page. */
  check(token: string, cursor: string | undefined, binding?: string): void;
  /** Reports an internal error to `onError`. */
  reportError(error: unknown, where: string): void;
  /**
   * Tells the observers of a request refused with a `PushError` before any transport ran (the Koa
   * adapter's origin check); the transports tell them of their own refusals.
   */
  rejected(code: ErrorCode, message: string): void;
  /**
   * Adds an observer: its hooks are called at the points they name (connections, pages, changes
   * read and routed, frames written, refreshes, serializers, `authorize`, refusals, internal errors).
   * `serverpush/metrics` and the operator's view are observers. Returns the function that removes it.
   *
   * @example
   * const stop = push.observe({ refreshed: (reason) => statsd.increment(`push.refresh.${reason}`) });
   */
  observe(observer: PushObserver): () => void;
  /**
   * What this process holds now: pages by route, connections by transport, and where its tail stands
   * in the change log (reading the log's head, a second at most).
   */
  snapshot(): Promise<PushSnapshot>;
  /**
   * Counts for monitoring: open pages, their subscriptions, and open connections (held polls and
   * streams; `waiting` is the same count).
   */
  stats(): {
    readonly pages: number;
    readonly subscriptions: number;
    readonly connections: number;
    readonly waiting: number;
  };
  /** Closes the transports' streams, answers held requests empty, detaches the ORM and closes the log. */
  close(): Promise<void>;
}
