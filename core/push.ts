// createPush(): the stateful root. It wires the change log, the page registry and the viewers'
// update functions together, signs page tokens, and answers the transports' polls.

import { isDeepStrictEqual } from 'node:util';
import { randomBytes } from 'node:crypto';
import createDebug from 'debug';
import type { ChangeLog } from './change-log.ts';
import { controlChange, controlModel, readControl, type ControlAction } from './control.ts';
import { PushError } from './errors.ts';
import type { Mailbox } from './mailbox.ts';
import { memoryLog } from './memory-log.ts';
import { optionalFunction, positiveInteger } from './options.ts';
import type { OrmAdapter } from './orm.ts';
import { createPages } from './pages.ts';
import { createTokens, type PageClaims } from './token.ts';
import type { PushEndpoint, Transport } from './transport.ts';
import type { Change, ChangeInput, Message, PushContext, UpdateFunction } from './types.ts';
import { closedError, createViewers, type Authenticate, type RouteTable } from './viewer.ts';

export type { RouteTable } from './viewer.ts';

const debug = createDebug('serverpush:push');

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
  readonly authenticate?: Authenticate<Viewer> | undefined;
  /**
   * Runs for each change before it is serialized for a page: `false` (or a throw) drops the change
   * for that viewer. For permissions that can change while a page is open. Default: none.
   */
  readonly authorize?: ((ctx: PushContext<Viewer>, change: Change) => boolean | Promise<boolean>) | undefined;
  /** How page paths map to routes; the Koa adapter supplies it from the router. */
  readonly routes?: RouteTable | undefined;
  /** How long a page token stays valid, in ms. Default: `86_400_000` (a day). */
  readonly tokenTtlMs?: number | undefined;
  /** How long a page's mailbox outlives its last request, in ms. Default: `60_000`. */
  readonly pageIdleMs?: number | undefined;
  /** Unacknowledged changes a page may hold before it is told to refresh. Default: `1_000`. */
  readonly maxPending?: number | undefined;
  /**
   * Receives internal errors (the server's faults, not a client's mistakes: those are answered 4xx
   * and logged under `DEBUG=serverpush:*`), with where they happened ("serving a WebSocket").
   * Default: `console.error`.
   */
  readonly onError?: ((error: unknown, where: string) => void) | undefined;
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

export { controlModel };

/** A push instance. */
export interface Push<Viewer = unknown> extends PushEndpoint {
  readonly log: ChangeLog;
  readonly transports: readonly Transport[];
  /** Registers the update function of the route named `route`. Several may be registered. */
  updates(route: string, fn: UpdateFunction<Viewer>): this;
  /** Registers an update function applied to every page. */
  global(fn: UpdateFunction<Viewer>): this;
  /** Whether pages of the route named `route` have update functions (and so need a log cursor). */
  concerns(route: string | undefined): boolean;
  /** Appends changes to the log by hand, for writes that bypass the ORM adapter. */
  publish(changes: ChangeInput | readonly ChangeInput[]): Promise<Change[]>;
  /** Signs the token of a page request. */
  token(request: PageRequest): string;
  /**
   * Re-runs `authenticate` and the update functions of the connected pages that `filter` selects,
   * adding and dropping subscriptions (after a viewer's role changed). A page whose viewer can no
   * longer be authenticated, or whose update function throws, is told to refresh. A function of the
   * page context reaches this process's pages; `{ identity }` reaches that identity's pages on every
   * push process sharing the change log (it travels through the log, and this process applies it at
   * once). Resolves with the number of this process's pages revalidated.
   */
  revalidate(filter: PageFilter<Viewer> | IdentityFilter): Promise<number>;
  /**
   * Ends the connected pages that `filter` selects with a `refresh` (at logout): a function reaches
   * this process's pages, `{ identity }` every push process's, as for `revalidate()`. Resolves with
   * the number of this process's pages ended.
   */
  disconnect(filter: PageFilter<Viewer> | IdentityFilter): Promise<number>;
  /** Counts for monitoring: open pages, their subscriptions, and requests and streams waiting. */
  stats(): { readonly pages: number; readonly subscriptions: number; readonly waiting: number };
  /** Closes the transports' streams, answers held requests empty, detaches the ORM and closes the log. */
  close(): Promise<void>;
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
  const authenticate = optionalFunction(options.authenticate, 'authenticate');
  const authorize = optionalFunction(options.authorize, 'authorize');
  const onError = optionalFunction(options.onError, 'onError') ?? logError;
  const log = options.log ?? memoryLog();
  const transports = options.transports ?? [];
  const names = new Set<string>();
  for (const transport of transports) {
    if (typeof transport?.handle !== 'function')
      throw new TypeError('The `transports` option must list transports, e.g. `[longPoll()]`');
    if (names.has(transport.name)) throw new TypeError(`The \`transports\` option lists "${transport.name}" twice`);
    names.add(transport.name);
  }
  const tokens = createTokens(secret, positiveInteger(options.tokenTtlMs ?? 86_400_000, 'tokenTtlMs'));
  const pageIdleMs = positiveInteger(options.pageIdleMs ?? 60_000, 'pageIdleMs');
  const modelName = orm === undefined ? stringModelName : (model: unknown) => orm.modelName(model);
  const viewers = createViewers<Viewer>({ routes, authenticate, modelName });
  const pages = createPages(log, viewers, {
    compare: log.compare,
    maxPending: positiveInteger(options.maxPending ?? 1_000, 'maxPending'),
    authorize: authorize as ((ctx: PushContext<unknown>, change: Change) => boolean | Promise<boolean>) | undefined,
  });
  /** Tells this instance's control entries from those of other processes. */
  const instance = randomBytes(8).toString('base64url');
  let closed = false;

  const stopTail = log.tail(
    (change) => (change.model === controlModel ? control(change) : pages.route(change)),
    (reason) => {
      // Changes were lost between the log and this process: no page here can be brought up to date.
      debug('the change log reported a gap (%s): every page refreshes', reason);
      for (const mailbox of pages.select(() => true)) mailbox.end({ name: 'refresh', reason });
    },
  );
  const detachOrm = orm?.attach(async (changes) => void (await log.append(changes)), log);
  const sweeper = setInterval(() => pages.sweep(pageIdleMs), Math.max(1_000, pageIdleMs / 2));
  sweeper.unref();

  /**
   * The token's claims, the cursor to serve from, and whether the token expired; throws the
   * client's mistake as a `PushError`.
   */
  function checked(
    token: unknown,
    cursor: unknown,
    binding: string | undefined,
  ): { claims: PageClaims; from: string; expired: boolean } {
    if (closed) throw closedError();
    if (typeof token !== 'string' || token === '')
      throw new PushError('SERVERPUSH_ERR_BAD_TOKEN', 'the `token` parameter is required');
    const { claims, expired } = tokens.verify(token, binding);
    if (cursor !== undefined && (typeof cursor !== 'string' || cursor.length > 128)) {
      throw new PushError('SERVERPUSH_ERR_BAD_CURSOR', 'the `cursor` parameter is malformed');
    }
    const from = cursor ?? claims.cursor;
    log.check(from);
    return { claims, from, expired };
  }

  /** The mailboxes `filter` selects; a filter that throws selects nothing (and is logged). */
  function selected(filter: PageFilter<Viewer>): Mailbox[] {
    return pages.select((mailbox) => {
      try {
        return filter(mailbox.ctx as PushContext<Viewer>);
      } catch (error) {
        debug('page filter threw: %O', error);
        return false;
      }
    });
  }

  async function revalidateHere(filter: PageFilter<Viewer>): Promise<number> {
    const chosen = selected(filter);
    await Promise.all(
      chosen.map(async (mailbox) => {
        try {
          await pages.revalidate(mailbox);
        } catch (error) {
          debug('revalidating page %s failed, ending it: %O', mailbox.page, error);
          mailbox.end({ name: 'refresh', reason: 'revalidate' });
        }
      }),
    );
    return chosen.length;
  }

  function disconnectHere(filter: PageFilter<Viewer>): number {
    const chosen = selected(filter);
    for (const mailbox of chosen) mailbox.end({ name: 'refresh', reason: 'disconnect' });
    return chosen.length;
  }

  const ofIdentity =
    (identity: unknown): PageFilter<Viewer> =>
    (ctx) =>
      isDeepStrictEqual(ctx.identity, identity);

  const apply = (action: ControlAction, filter: PageFilter<Viewer>): Promise<number> =>
    action === 'disconnect' ? Promise.resolve(disconnectHere(filter)) : revalidateHere(filter);

  /** Applies a control entry read from the log, unless this instance appended it (and applied it then). */
  function control(change: Change) {
    const entry = readControl(change);
    if (entry === undefined) return debug('unknown control entry %O', change.after);
    if (entry.origin !== instance) void apply(entry.action, ofIdentity(entry.identity));
  }

  /** Applies `action` here, and, for `{ identity }`, on every other process through the log. */
  async function request(action: ControlAction, filter: PageFilter<Viewer> | IdentityFilter): Promise<number> {
    if (typeof filter === 'function') return apply(action, filter);
    if (typeof filter !== 'object' || filter === null || !('identity' in filter)) {
      throw new TypeError(`${action}(): the filter must be a function of the page context or { identity }`);
    }
    if (closed) throw closedError();
    const here = await apply(action, ofIdentity(filter.identity));
    await log.append([controlChange({ action, identity: filter.identity, origin: instance })]);
    return here;
  }

  const push: Push<Viewer> = {
    log,
    transports,
    updates(routeName, fn) {
      if (typeof routeName !== 'string' || routeName === '')
        throw new TypeError('updates(): the route name must be a non-empty string');
      if (typeof fn !== 'function')
        throw new TypeError(`updates("${routeName}"): the update function must be a function`);
      viewers.add(routeName, fn);
      return this;
    },
    global(fn) {
      if (typeof fn !== 'function') throw new TypeError('global(): the update function must be a function');
      viewers.addGlobal(fn);
      return this;
    },
    concerns: (route) => viewers.concerns(route),
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
      const { mailbox, fresh } = await pages.mailboxFor(claims, from, binding);
      // A page's first request is answered at once (after its replay), so its client learns it is
      // connected without waiting out a hold; the requests after it are held.
      return mailbox.take(from, fresh ? 0 : waitMs, signal);
    },
    reportError(error, where) {
      try {
        onError(error, where);
      } catch (thrown) {
        logError(thrown, 'onError');
      }
    },
    revalidate: (filter) => request('revalidate', filter),
    disconnect: (filter) => request('disconnect', filter),
    stats() {
      return pages.stats();
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
      pages.releaseAll();
      await log.close();
    },
  };
  return push;
}

function stringModelName(model: unknown): string {
  if (typeof model === 'string' && model !== '') return model;
  throw new TypeError('A spec `model` must be a model name when no ORM adapter is configured');
}

function logError(error: unknown, where: string): void {
  console.error(`serverpush: internal error while ${where}:`, error);
}
