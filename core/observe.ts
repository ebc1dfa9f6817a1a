// The observer seam: what a push instance tells whoever watches it (metrics, the operator's view,
// an app's own monitoring), through `push.observe(observer)`. Nothing is watched by default, and then
// each hook in the core costs one property read of `undefined`.

import createDebug from 'debug';
import type { ChangeLog } from './change-log.ts';
import type { Delivery } from './delivery.ts';
import type { ErrorCode } from './errors.ts';
import type { Change, RefreshReason, TransportName } from './types.ts';

const debug = createDebug('serverpush:observe');

/** The transport a connection came through; `other` for one opened without a transport (`push.poll()`). */
export type ConnectionKind = TransportName | 'other';

/** Every `ConnectionKind`, in the order the browser client prefers the transports. */
export const connectionKinds: readonly ConnectionKind[] = ['websocket', 'sse', 'long-poll', 'jsonp', 'other'];

/** Which kind of serializer ran: a field map, a function, a route re-render, or a fragment. */
export type SerializerKind = 'fields' | 'function' | 'route' | 'fragment';

/** Every `SerializerKind`. */
export const serializerKinds: readonly SerializerKind[] = ['fields', 'function', 'route', 'fragment'];

/** One page's messages in a frame written to a connection (a `PageBatch`, as observers see it). */
export interface WrittenBatch {
  readonly deliveries: readonly Delivery[];
}

/** The page an event concerns, as far as the push process knows it. */
export interface PageInfo {
  /** The page's path, as it was requested (it may name a user's rows: keep it out of metric labels). */
  readonly path: string;
  /** The name of its route, if it matched a named one. */
  readonly route: string | undefined;
}

/**
 * What a push instance reports, each method at the point it names. Every method is optional; an
 * observer that throws is logged under `DEBUG=serverpush:observe` and does not disturb the push
 * instance. Methods run synchronously on the hot path: keep them to counting.
 */
export interface PushObserver {
  /** A connection (a held poll, a stream, a socket) opened, through `transport`. */
  connectionOpened?(transport: ConnectionKind): void;
  /** A connection closed; `slow` when its reader could not keep up (it got a `slow` refresh). */
  connectionClosed?(transport: ConnectionKind, slow: boolean): void;
  /** A page was opened on this process (its first request here, or again after it was forgotten). */
  pageOpened?(page: PageInfo): void;
  /** A page was forgotten by this process (idle past `pageIdleMs`, replaced, or shut down). */
  pageDisposed?(page: PageInfo | undefined): void;
  /** The change log's tail handed this process a change (control entries included). */
  changeRead?(change: Change): void;
  /** A change was routed: it concerns `pages` open pages through `specs` of their specs (both 0: nobody). */
  changeRouted?(change: Change, pages: number, specs: number): void;
  /**
   * A frame was handed to a connection's transport at `now` (ms since the epoch): the messages of its
   * pages, each `Delivery` with the `at` of its change for the time from append to write.
   */
  frameWritten?(transport: ConnectionKind, batches: readonly WrittenBatch[], now: number): void;
  /** A page was told to refresh (the message was written, or its transport wrote a `slow` one). */
  refreshed?(reason: RefreshReason, page: PageInfo | undefined): void;
  /** A serializer ran for a viewer (once per shared serialization). */
  serializerCalled?(kind: SerializerKind): void;
  /** A serializer threw or rejected: its viewer got nothing from that spec. */
  serializerFailed?(kind: SerializerKind, name: string, error: unknown): void;
  /** `authorize` said no (or threw) for a change and a page. */
  authorizeDropped?(page: PageInfo): void;
  /** A request was refused with a `PushError` (a 4xx, or 503 while busy or shutting down). */
  rejected?(code: ErrorCode, message: string): void;
  /** An internal error went to `onError`. */
  errorReported?(error: unknown, where: string): void;
}

/** The hooks of `PushObserver`, for fanning out. */
const hooks = [
  'connectionOpened',
  'connectionClosed',
  'pageOpened',
  'pageDisposed',
  'changeRead',
  'changeRouted',
  'frameWritten',
  'refreshed',
  'serializerCalled',
  'serializerFailed',
  'authorizeDropped',
  'rejected',
  'errorReported',
] as const satisfies ReadonlyArray<keyof PushObserver>;

/** The observers of one push instance, as the core reads them. */
export interface Observation {
  /** Every observer's hooks in one object; `undefined` while nobody observes. */
  readonly sink: PushObserver | undefined;
  /** Adds an observer; returns the function that removes it. */
  add(observer: PushObserver): () => void;
}

/** Creates the (empty) observation of a push instance. */
export function createObservation(): Observation {
  const observers: PushObserver[] = [];
  const observation = {
    sink: undefined as PushObserver | undefined,
    add(observer: PushObserver) {
      if (typeof observer !== 'object' || observer === null)
        throw new TypeError('observe(): the observer must be an object of hook functions');
      for (const hook of hooks) {
        const fn = observer[hook];
        if (fn !== undefined && typeof fn !== 'function')
          throw new TypeError(`observe(): the observer's \`${hook}\` must be a function`);
      }
      observers.push(observer);
      observation.sink = fanOut(observers);
      return () => {
        const at = observers.indexOf(observer);
        if (at < 0) return;
        observers.splice(at, 1);
        observation.sink = fanOut(observers);
      };
    },
  };
  return observation;
}

/** One sink calling every observer's hooks, each call guarded; `undefined` for none. */
function fanOut(observers: readonly PushObserver[]): PushObserver | undefined {
  if (observers.length === 0) return undefined;
  const sink: Record<string, (...args: never[]) => void> = {};
  for (const hook of hooks) {
    const fns = observers.flatMap((observer) => {
      const fn = observer[hook] as ((...args: unknown[]) => void) | undefined;
      return fn === undefined ? [] : [fn.bind(observer)];
    });
    if (fns.length === 0) continue;
    sink[hook] = (...args: unknown[]) => {
      for (const fn of fns) {
        try {
          fn(...args);
        } catch (error) {
          debug('an observer threw in %s: %O', hook, error);
        }
      }
    };
  }
  return sink as PushObserver;
}

/** One route's pages on this process. */
export interface RouteCount {
  /** The route's name; `undefined` for pages of unnamed routes. */
  readonly route: string | undefined;
  readonly pages: number;
  /** How many of them a connection holds now (the others wait for their client's next request). */
  readonly held: number;
}

/** What a push process holds now: `push.snapshot()`. */
export interface PushSnapshot {
  /** Open pages, as `stats().pages`. */
  readonly pages: number;
  readonly subscriptions: number;
  /** Open pages by route, most pages first. */
  readonly routes: readonly RouteCount[];
  /** Open connections by transport. */
  readonly connections: Readonly<Record<ConnectionKind, number>>;
  readonly log: {
    /** The log's newest cursor; `undefined` when the log did not answer within a second. */
    readonly head: string | undefined;
    /** The cursor of the last change this process's tail routed. */
    readonly routed: string | undefined;
    /**
     * How many changes the log holds past `routed`; `undefined` when it cannot tell: the log did
     * not answer, or its cursors do not count changes (Redis stream ids) and it is behind.
     */
    readonly lag: number | undefined;
  };
}

/** What `snapshotOf()` reads of a push instance. */
export interface SnapshotSource {
  readonly log: Pick<ChangeLog, 'head' | 'compare'>;
  /** The cursor of the last change the tail routed; `undefined`: none yet (the head is taken for it). */
  readonly routed: string | undefined;
  readonly connections: Iterable<{ readonly transport: ConnectionKind }>;
  readonly pages: {
    stats(): { readonly pages: number; readonly subscriptions: number };
    select(filter: () => boolean): ReadonlyArray<{
      readonly mailbox: { readonly ctx: { readonly route: string | undefined } };
      readonly holder: unknown;
    }>;
  };
}

/** What a push instance holds now, its log's head read within a second. */
export async function snapshotOf({ log, routed, connections, pages }: SnapshotSource): Promise<PushSnapshot> {
  const head = await headWithin(log, 1_000);
  const from = routed ?? head;
  const counts = Object.fromEntries(connectionKinds.map((kind) => [kind, 0])) as Record<ConnectionKind, number>;
  for (const connection of connections) counts[connection.transport] += 1;
  const open = pages.select(() => true);
  return {
    ...pages.stats(),
    routes: countRoutes(open.map((page) => ({ route: page.mailbox.ctx.route, held: page.holder !== undefined }))),
    connections: counts,
    log: { head, routed: from, lag: logLag(head, from, log.compare) },
  };
}

/** The log's head, or `undefined` when it does not answer (or fails) within `ms`. */
async function headWithin(log: Pick<ChangeLog, 'head'>, ms: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([log.head(), waited]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** Counts pages by route. */
export function countRoutes(
  pages: Iterable<{ readonly route: string | undefined; readonly held: boolean }>,
): RouteCount[] {
  const counts = new Map<string | undefined, { pages: number; held: number }>();
  for (const { route, held } of pages) {
    const count = counts.get(route) ?? { pages: 0, held: 0 };
    count.pages += 1;
    if (held) count.held += 1;
    counts.set(route, count);
  }
  return [...counts]
    .map(([route, count]) => ({ route, ...count }))
    .sort((a, b) => b.pages - a.pages || String(a.route).localeCompare(String(b.route)));
}

// The cursors of the logs that number their changes (memory, knex): `<epoch>.<sequence in base 36>`.
const sequenceCursor = /^([a-z0-9]{1,16})\.([0-9a-z]{1,11})$/;

/**
 * How many changes lie after `routed` up to `head`: counted for numbered cursors of one epoch, `0`
 * when `compare` says `routed` is not behind, else `undefined`.
 */
export function logLag(
  head: string | undefined,
  routed: string | undefined,
  compare: (a: string, b: string) => number,
): number | undefined {
  if (head === undefined || routed === undefined) return undefined;
  if (head === routed) return 0;
  const to = sequenceCursor.exec(head);
  const from = sequenceCursor.exec(routed);
  if (to !== null && from !== null && to[1] === from[1])
    return Math.max(0, Number.parseInt(to[2]!, 36) - Number.parseInt(from[2]!, 36));
  try {
    return compare(head, routed) <= 0 ? 0 : undefined;
  } catch {
    return undefined;
  }
}
