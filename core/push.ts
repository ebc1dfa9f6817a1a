// createPush(): the stateful root. Registers update functions, signs page tokens, routes each
// change from the log through the hub to the mailboxes of the pages it concerns.

import { isDeepStrictEqual } from 'node:util';
import createDebug from 'debug';
import type { ChangeLog } from './change-log.ts';
import { PushError } from './errors.ts';
import { createHub, matchesChange, type Subscription } from './hub.ts';
import { memoryLog } from './memory-log.ts';
import { positiveInteger } from './options.ts';
import { compileSpec, type CompiledSpec, type RouteRenderer } from './serialize.ts';
import { Session } from './session.ts';
import { createTokens, type PageClaims } from './token.ts';
import type { PushEndpoint, Transport } from './transport.ts';
import type { Change, ChangeInput, Message, OrmAdapter, PushContext, UpdateFunction } from './types.ts';

const debug = createDebug('serverpush:push');

/** How the push side finds the route of a page path, and re-renders a route for a viewer. */
export interface RouteTable {
  match(path: string): { readonly name: string; readonly params: Readonly<Record<string, string>> } | undefined;
  readonly render?: RouteRenderer | undefined;
}

/** Options of `createPush()`. */
export interface PushOptions<Viewer = unknown> {
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
   * `SERVERPUSH_ERR_BAD_TOKEN`). Default: the identity itself.
   */
  readonly authenticate?: ((identity: unknown, request: { readonly binding: string | undefined }) => Viewer | Promise<Viewer>) | undefined;
  /**
   * Runs for each change before it is serialized for a page: `false` (or a throw) drops the change
   * for that viewer. For permissions that can change while a page is open. Default: none.
   */
  readonly authorize?: ((ctx: PushContext<Viewer>, change: Change) => boolean | Promise<boolean>) | undefined;
  /** How page paths map to routes; the Koa adapter supplies it from the router. */
  readonly routes?: RouteTable | undefined;
  /** How long a page token stays valid, in ms. Default: `86_400_000` (a day). */
  readonly tokenTtlMs?: number | undefined;
  /** How long a page's session outlives its last request, in ms. Default: `60_000`. */
  readonly sessionIdleMs?: number | undefined;
  /** Unacknowledged changes a page may hold before it is told to refresh. Default: `1_000`. */
  readonly maxPending?: number | undefined;
}

/** What a page request needs to render its token. */
export interface PageRequest {
  readonly path: string;
  /** The raw query string, without `?`. */
  readonly query: string;
  readonly identity: unknown;
  readonly languages: readonly string[];
  /** The change-log cursor taken at the start of the request. */
  readonly cursor: string;
  /** A value (the app's session cookie) every later request of the page must present. */
  readonly binding?: string | undefined;
}

/** Which pages a `revalidate()` or `disconnect()` concerns, judged by their viewer's context. */
export type PageFilter<Viewer> = (ctx: PushContext<Viewer>) => boolean;

/**
 * The pages of one identity (as `identify` put it into their tokens), on every push process that
 * shares the change log: the filter travels through the log.
 */
export interface IdentityFilter {
  readonly identity: unknown;
}

/** The model of the control entries `revalidate({ identity })` and `disconnect({ identity })` append. */
export const controlModel = 'serverpush:control';

/** A push instance. */
export interface Push<Viewer = unknown> extends PushEndpoint {
  readonly log: ChangeLog;
  readonly transports: readonly Transport[];
  /** Registers the update function of the route named `route`. Several may be registered. */
  updates(route: string, fn: UpdateFunction<Viewer>): this;
  /** Registers an update function applied to every page. */
  global(fn: UpdateFunction<Viewer>): this;
  /** Appends changes to the log by hand, for writes that bypass the ORM adapter. */
  publish(changes: ChangeInput | readonly ChangeInput[]): Promise<Change[]>;
  /** Signs the token of a page request. */
  token(request: PageRequest): string;
  /**
   * Re-runs `authenticate` and the update functions of the connected pages that `filter` selects
   * (e.g. every page of user 7 after their role changed), adding and dropping subscriptions. A page
   * whose viewer can no longer be authenticated, or whose update function throws, is told to
   * refresh. Resolves with the number of pages revalidated in this process; a function reaches
   * only this process's pages.
   */
  revalidate(filter: PageFilter<Viewer>): Promise<number>;
  /**
   * The same for every page of one identity on every push process sharing the change log: resolves
   * once the request is in the log; each process applies it as it reads it.
   */
  revalidate(filter: IdentityFilter): Promise<void>;
  /**
   * Ends the connected pages of this process that `filter` selects with a `refresh`; returns how
   * many.
   */
  disconnect(filter: PageFilter<Viewer>): number;
  /**
   * Ends every page of one identity with a `refresh`, on every push process sharing the change log
   * (at logout, whichever process serves the pages): resolves once the request is in the log.
   */
  disconnect(filter: IdentityFilter): Promise<void>;
  /** Counts for monitoring: open page sessions, their subscriptions, and requests held waiting. */
  stats(): { readonly sessions: number; readonly subscriptions: number; readonly waiting: number };
  /** Closes the transports' streams, answers held requests empty, detaches the ORM and closes the log. */
  close(): Promise<void>;
}

interface Owner {
  readonly session: Session;
  readonly spec: CompiledSpec;
  readonly order: number;
}

/**
 * Creates a push instance. Framework adapters wrap it: `serverpush/koa` adds `middleware()` and
 * `routes()`.
 *
 * @example
 * const push = createPush({ secret: process.env.PUSH_SECRET!, orm: objection() });
 * push.updates('home', () => [{ name: 'hits', model: Counter, params: { id: 1 }, data: { hits: 'hits' } }]);
 */
export function createPush<Viewer = unknown>(options: PushOptions<Viewer>): Push<Viewer> {
  const { secret, orm, routes } = options;
  if ((typeof secret !== 'string' && !Buffer.isBuffer(secret)) || Buffer.byteLength(secret) < 32) {
    throw new TypeError('The `secret` option must be a string or Buffer of at least 32 bytes');
  }
  if (options.authenticate !== undefined && typeof options.authenticate !== 'function') {
    throw new TypeError('The `authenticate` option must be a function');
  }
  const log = options.log ?? memoryLog();
  const transports = options.transports ?? [];
  const names = new Set<string>();
  for (const transport of transports) {
    if (typeof transport?.handle !== 'function') throw new TypeError('The `transports` option must list transports, e.g. `[longPoll()]`');
    if (names.has(transport.name)) throw new TypeError(`The \`transports\` option lists "${transport.name}" twice`);
    names.add(transport.name);
  }
  const tokens = createTokens(secret, positiveInteger(options.tokenTtlMs ?? 86_400_000, 'tokenTtlMs'));
  const sessionIdleMs = positiveInteger(options.sessionIdleMs ?? 60_000, 'sessionIdleMs');
  if (options.authorize !== undefined && typeof options.authorize !== 'function') {
    throw new TypeError('The `authorize` option must be a function');
  }
  const sessionOptions = {
    compare: log.compare,
    maxPending: positiveInteger(options.maxPending ?? 1_000, 'maxPending'),
    authorize: options.authorize as ((ctx: PushContext<unknown>, change: Change) => boolean | Promise<boolean>) | undefined,
  };
  const modelName = orm === undefined ? stringModelName : (model: unknown) => orm.modelName(model);

  const routeUpdates = new Map<string, UpdateFunction<Viewer>[]>();
  const globalUpdates: UpdateFunction<Viewer>[] = [];
  const hub = createHub<Owner>();
  const sessions = new Map<string, Promise<Session>>();
  const subscriptions = new Map<Session, Subscription<Owner>[]>();
  let closed = false;

  const stopTail = log.tail(route, (reason) => {
    // Changes were lost between the log and this process: no page here can be brought up to date.
    debug('the change log reported a gap (%s): every page refreshes', reason);
    for (const session of subscriptions.keys()) session.end({ name: 'refresh', reason });
  });
  const detachOrm = orm?.attach(async (changes) => void (await log.append(changes)), log);
  const sweeper = setInterval(sweep, Math.max(1_000, sessionIdleMs / 2));
  sweeper.unref();

  function route(change: Change) {
    if (change.model === controlModel) return control(change);
    const bySession = new Map<Session, Owner[]>();
    for (const { owner } of hub.match(change)) {
      const owners = bySession.get(owner.session);
      if (owners === undefined) bySession.set(owner.session, [owner]);
      else owners.push(owner);
    }
    if (bySession.size === 0) return;
    // One map per change: viewers whose specs allow sharing get one serialization between them.
    const shared = new Map<string, Promise<unknown>>();
    for (const [session, owners] of bySession) {
      owners.sort((a, b) => a.order - b.order);
      session.deliver(change, owners.map((owner) => owner.spec), shared);
    }
  }

  async function contextOf(claims: PageClaims, binding: string | undefined): Promise<PushContext<Viewer>> {
    const matched = routes?.match(claims.path);
    const query: Record<string, string | string[]> = {};
    for (const [key, value] of new URLSearchParams(claims.query)) {
      const held = query[key];
      query[key] = held === undefined ? value : Array.isArray(held) ? [...held, value] : [held, value];
    }
    const viewer = options.authenticate === undefined ? (claims.identity as Viewer) : await options.authenticate(claims.identity, { binding });
    return {
      path: claims.path,
      query,
      route: matched?.name,
      params: matched?.params ?? {},
      identity: claims.identity,
      viewer,
      languages: claims.languages,
    };
  }

  /** The viewer's context and the specs of its page: route update functions, then global ones. */
  async function specsFor(claims: PageClaims, binding: string | undefined): Promise<{ ctx: PushContext<Viewer>; specs: CompiledSpec[] }> {
    const ctx = await contextOf(claims, binding);
    const functions = [...(ctx.route === undefined ? [] : routeUpdates.get(ctx.route) ?? []), ...globalUpdates];
    const specs: CompiledSpec[] = [];
    for (const fn of functions) {
      for (const spec of await fn(ctx)) specs.push(compileSpec(spec, ctx, modelName, routes?.render));
    }
    return { ctx, specs };
  }

  /** Puts a session's specs into the hub, in place of any it had. */
  function subscribe(session: Session): Subscription<Owner>[] {
    for (const subscription of subscriptions.get(session) ?? []) hub.remove(subscription);
    const owned = session.specs.map((spec, order): Subscription<Owner> => ({
      model: spec.model,
      equalities: spec.equalities,
      predicate: spec.predicate,
      owner: { session, spec, order },
    }));
    for (const subscription of owned) hub.add(subscription);
    subscriptions.set(session, owned);
    return owned;
  }

  async function open(claims: PageClaims, from: string, binding: string | undefined): Promise<Session> {
    const { ctx, specs } = await specsFor(claims, binding);
    const session = new Session(claims, ctx as PushContext<unknown>, specs, from, sessionOptions, binding);
    // Subscribe before reading history: a change appended meanwhile arrives by both ways, and the
    // mailbox keeps one copy of each cursor.
    const owned = subscribe(session);
    const history = await log.since(from);
    if (!history.ok) {
      session.end({ name: 'refresh', reason: history.reason });
    } else {
      for (const change of history.changes) {
        const matching = owned.filter((subscription) => matchesChange(subscription, change)).map((s) => s.owner.spec);
        if (matching.length > 0) session.deliver(change, matching, new Map());
      }
    }
    debug('page %s on %s: %d specs, from %s', claims.page, claims.path, specs.length, from);
    return session;
  }

  /** The page's session, opened anew (`fresh`) when there is none that can serve `from`. */
  async function sessionFor(claims: PageClaims, from: string, binding: string | undefined): Promise<{ session: Session; fresh: boolean }> {
    const held = sessions.get(claims.page);
    if (held !== undefined) {
      const session = await held.catch(() => undefined);
      if (session !== undefined && session.canServe(from)) return { session, fresh: false };
      if (session !== undefined) dispose(session);
    }
    const opening = open(claims, from, binding);
    sessions.set(claims.page, opening);
    opening.catch(() => sessions.get(claims.page) === opening && sessions.delete(claims.page));
    return { session: await opening, fresh: true };
  }

  function dispose(session: Session) {
    for (const subscription of subscriptions.get(session) ?? []) hub.remove(subscription);
    subscriptions.delete(session);
    if (sessions.get(session.page) !== undefined) sessions.delete(session.page);
  }

  function sweep() {
    const oldest = Date.now() - sessionIdleMs;
    for (const session of subscriptions.keys()) {
      if (session.waiting === 0 && session.lastSeen < oldest) dispose(session);
    }
  }

  /**
   * The token's claims, the cursor to serve from, and whether the token expired; throws the
   * client's mistake as a `PushError`.
   */
  function checked(token: unknown, cursor: unknown, binding: string | undefined): { claims: PageClaims; from: string; expired: boolean } {
    if (closed) throw new PushError('SERVERPUSH_ERR_CLOSED', 'the push server is shutting down');
    if (typeof token !== 'string' || token === '') throw new PushError('SERVERPUSH_ERR_BAD_TOKEN', 'the `token` parameter is required');
    const { claims, expired } = tokens.verify(token, binding);
    if (cursor !== undefined && (typeof cursor !== 'string' || cursor.length > 128)) {
      throw new PushError('SERVERPUSH_ERR_BAD_CURSOR', 'the `cursor` parameter is malformed');
    }
    const from = cursor ?? claims.cursor;
    log.check(from);
    return { claims, from, expired };
  }

  /** The sessions `filter` selects; a filter that throws selects nothing (and is logged). */
  function selected(filter: PageFilter<Viewer>): Session[] {
    if (typeof filter !== 'function') throw new TypeError('The page filter must be a function of the page context');
    return [...subscriptions.keys()].filter((session) => {
      try {
        return !session.ended && filter(session.ctx as PushContext<Viewer>);
      } catch (error) {
        debug('page filter threw: %O', error);
        return false;
      }
    });
  }

  function revalidateLocal(filter: PageFilter<Viewer>): Promise<number> {
    const chosen = selected(filter);
    return Promise.all(
      chosen.map(async (session) => {
        try {
          const { ctx, specs } = await specsFor(session.claims, session.binding);
          if (session.ended || !subscriptions.has(session)) return;
          session.reset(ctx as PushContext<unknown>, specs);
          subscribe(session);
        } catch (error) {
          debug('revalidating page %s failed, ending it: %O', session.page, error);
          session.end({ name: 'refresh', reason: 'revalidate' });
        }
      }),
    ).then(() => chosen.length);
  }

  function disconnectLocal(filter: PageFilter<Viewer>): number {
    const chosen = selected(filter);
    for (const session of chosen) session.end({ name: 'refresh', reason: 'disconnect' });
    return chosen.length;
  }

  /** Applies a control entry read from the log: every process does, the one that appended it too. */
  function control(change: Change) {
    const { action, identity } = (change.after ?? {}) as { action?: unknown; identity?: unknown };
    const filter: PageFilter<Viewer> = (ctx) => isDeepStrictEqual(ctx.identity, identity);
    if (action === 'disconnect') disconnectLocal(filter);
    else if (action === 'revalidate') void revalidateLocal(filter);
    else debug('unknown control entry %O', change.after);
  }

  async function broadcast(action: 'disconnect' | 'revalidate', filter: IdentityFilter): Promise<void> {
    if (closed) throw new PushError('SERVERPUSH_ERR_CLOSED', 'the push server is shutting down');
    await log.append([{ model: controlModel, op: 'update', id: action, after: { action, identity: filter.identity ?? null }, before: null }]);
  }

  const isIdentityFilter = (filter: unknown): filter is IdentityFilter => typeof filter === 'object' && filter !== null && 'identity' in filter;

  const push: Push<Viewer> = {
    log,
    transports,
    updates(routeName, fn) {
      if (typeof routeName !== 'string' || routeName === '') throw new TypeError('updates(): the route name must be a non-empty string');
      if (typeof fn !== 'function') throw new TypeError(`updates("${routeName}"): the update function must be a function`);
      routeUpdates.set(routeName, [...(routeUpdates.get(routeName) ?? []), fn]);
      return this;
    },
    global(fn) {
      if (typeof fn !== 'function') throw new TypeError('global(): the update function must be a function');
      globalUpdates.push(fn);
      return this;
    },
    async publish(changes) {
      return log.append(Array.isArray(changes) ? changes : [changes as ChangeInput]);
    },
    token({ binding, ...claims }) {
      return tokens.sign(claims, binding);
    },
    check(token, cursor, binding) {
      checked(token, cursor, binding);
    },
    async poll(token, cursor, { waitMs, signal, binding }): Promise<Message[]> {
      const { claims, from, expired } = checked(token, cursor, binding);
      // A long-lived page whose token expired reloads to get a new one, rather than loop on errors.
      if (expired) return [{ name: 'refresh', reason: 'expired' }];
      if (!log.check(from)) return [{ name: 'refresh', reason: 'epoch' }];
      const { session, fresh } = await sessionFor(claims, from, binding);
      // A page's first request is answered at once (after its replay), so its client learns it is
      // connected without waiting out a hold; the requests after it are held.
      return session.take(from, fresh ? 0 : waitMs, signal);
    },
    revalidate: ((filter: PageFilter<Viewer> | IdentityFilter) =>
      isIdentityFilter(filter) ? broadcast('revalidate', filter) : revalidateLocal(filter)) as Push<Viewer>['revalidate'],
    disconnect: ((filter: PageFilter<Viewer> | IdentityFilter) =>
      isIdentityFilter(filter) ? broadcast('disconnect', filter) : disconnectLocal(filter)) as Push<Viewer>['disconnect'],
    stats() {
      let waiting = 0;
      for (const session of subscriptions.keys()) waiting += session.waiting;
      return { sessions: subscriptions.size, subscriptions: hub.size, waiting };
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweeper);
      for (const transport of transports) transport.close?.();
      detachOrm?.();
      stopTail();
      // Held requests are answered empty, not with refresh: the clients come back (to another
      // process, or to this one restarted) and resume from their cursors; requests from now on
      // get 503, which clients retry.
      for (const session of [...subscriptions.keys()]) {
        session.release();
        dispose(session);
      }
      await log.close();
    },
  };
  return push;
}

function stringModelName(model: unknown): string {
  if (typeof model === 'string' && model !== '') return model;
  throw new TypeError('A spec `model` must be a model name when no ORM adapter is configured');
}
