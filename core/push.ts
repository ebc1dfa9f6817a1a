// createPush(): the stateful root. It wires the change log, the page registry and the viewers'
// update functions together, signs page tokens, and answers the transports' polls.

import { isDeepStrictEqual } from 'node:util';
import { randomBytes } from 'node:crypto';
import createDebug from 'debug';
import {
  type IdentityFilter,
  type PageFilter,
  type PollOptions,
  type Push,
  type PushOptions,
  unknownCursor,
} from './push-api.ts';
import { type ConnectionHost, type PageBatch, PushConnection } from './connection.ts';
import { controlChange, controlModel, readControl, type ControlAction } from './control.ts';
import { decode, refreshDelivery } from './delivery.ts';
import { type ErrorCode, PushError } from './errors.ts';
import type { Authorize } from './mailbox.ts';
import { memoryLog } from './memory-log.ts';
import { type ConnectionKind, createObservation, snapshotOf } from './observe.ts';
import { createReport } from './report.ts';
import { optionalFunction, positiveInteger } from './options.ts';
import { createPages, type Page } from './pages.ts';
import { isPresenceEntry } from './presence-entries.ts';
import { createPresence } from './presence.ts';
import { presenceSettings, type PresenceFunction } from './presence-spec.ts';
import { createTokens } from './token.ts';
import type { PushEndpoint } from './transport.ts';
import { createFragment } from './fragment.ts';
import type { Change, ChangeInput, Fragment, Message, PushContext, UpdateFunction } from './types.ts';
import { closedError, createViewers, type Authenticate } from './viewer.ts';

export type { RouteTable } from './viewer.ts';

const debug = createDebug('serverpush:push');

export { controlModel };
export {
  type IdentityFilter,
  type PageFilter,
  type PageRequest,
  type PollOptions,
  type Push,
  type PushOptions,
  unknownCursor,
} from './push-api.ts';

/**
 * Creates a push instance. Framework adapters wrap it: `serverpush/koa` adds `middleware()` and
 * `routes()`.
 *
 * @example
 * const push = createPush({ secret: process.env.PUSH_SECRET!, orm: objection() });
 * push.updates('home', () => [{ name: 'hits', model: Counter, params: { id: 1 }, data: { hits: 'hits' } }]);
 */
export function createPush<Viewer = unknown, Identity = unknown>(
  options: PushOptions<Viewer, Identity>,
): Push<Viewer, Identity> {
  const { secret, orm, routes } = options;
  if ((typeof secret !== 'string' && !Buffer.isBuffer(secret)) || Buffer.byteLength(secret) < 32) {
    throw new TypeError('The `secret` option must be a string or Buffer of at least 32 bytes');
  }
  if (publicSecrets.has(secret.toString())) {
    throw new TypeError(
      'The `secret` option is the example from the README, which anyone can read: pass a random secret of at least 32 bytes from your configuration (`openssl rand -base64 32`)',
    );
  }
  const authenticate = optionalFunction(options.authenticate, 'authenticate');
  const authorize = optionalFunction(options.authorize, 'authorize');
  // The default logs a kind of error once a minute; the app's own `onError` gets every one.
  const onError = optionalFunction(options.onError, 'onError') ?? createReport().error;
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
  const pageIdleMs = positiveInteger(options.pageIdleMs ?? 15_000, 'pageIdleMs');
  const maxPagesPerConnection = positiveInteger(options.maxPagesPerConnection ?? 32, 'maxPagesPerConnection');
  const maxConnections = positiveInteger(options.maxConnections ?? 10_000, 'maxConnections');
  const maxConnectionsPerAddress = positiveInteger(options.maxConnectionsPerAddress ?? 256, 'maxConnectionsPerAddress');
  const modelName = orm === undefined ? stringModelName : (model: unknown) => orm.modelName(model);
  const fragments = new Map<string, Fragment<never, never>>();
  const observation = createObservation();
  const viewers = createViewers<Viewer>({
    routes,
    authenticate: authenticate as Authenticate<Viewer, never> | undefined,
    modelName,
    rowView: orm?.rowView === undefined ? undefined : (model) => orm.rowView?.(model),
    ownsFragment: (fragment) => fragments.get(fragment.name) === fragment,
    onError: reportError,
    observation,
  });
  const pages = createPages(
    log,
    viewers,
    {
      compare: log.compare,
      maxPending: positiveInteger(options.maxPending ?? 1_000, 'maxPending'),
      maxPendingBytes: positiveInteger(options.maxPendingBytes ?? 1_048_576, 'maxPendingBytes'),
      authorize: authorize as Authorize | undefined,
      observation,
    },
    positiveInteger(options.maxPages ?? 100_000, 'maxPages'),
  );
  /** Open connections by client address, for `maxConnectionsPerAddress`. */
  const byAddress = new Map<string, number>();
  /** Tells this instance's control entries from those of other processes. */
  const instance = randomBytes(8).toString('base64url');
  const presence = createPresence({
    log,
    instance,
    secret,
    settings: presenceSettings(options.presence),
    onError: reportError,
  });
  const connections = new Set<PushConnection>();
  /** Connections with deliveries ready, flushed together after the current tick. */
  let dirty = new Set<PushConnection>();
  let flushing: NodeJS.Immediate | undefined;
  let closed = false;
  /** The cursor of the last change the tail handed this process, for the log lag. */
  let routed: string | undefined;

  const stopTail = log.tail(
    (change) => {
      routed = change.cursor;
      observation.sink?.changeRead?.(change);
      if (change.model !== controlModel) return pages.route(change);
      return isPresenceEntry(change) ? presence.receive(change) : control(change);
    },
    (reason) => {
      // Changes were lost between the log and this process: no page here can be brought up to date.
      debug('the change log reported a gap (%s): every page refreshes', reason);
      for (const page of pages.select(() => true)) pages.end(page, reason);
    },
  );
  const detachOrm = orm?.attach(async (changes) => void (await log.append(changes)), log);
  const sweeper = setInterval(() => pages.sweep(pageIdleMs), Math.max(1_000, pageIdleMs / 2));
  sweeper.unref();

  function flushDirty() {
    flushing = undefined;
    const now = dirty;
    dirty = new Set();
    for (const connection of now) connection.flush();
  }

  /** Throws the client's mistake as a `PushError`; the claims and where to serve from, or a refresh. */
  function admit(token: unknown, cursor: unknown, binding: string | undefined): ReturnType<ConnectionHost['admit']> {
    if (closed) throw closedError();
    if (typeof token !== 'string' || token === '')
      throw new PushError('SERVERPUSH_ERR_BAD_TOKEN', 'the `token` parameter is required');
    const { claims, expired } = tokens.verify(token, binding);
    if (cursor !== undefined && (typeof cursor !== 'string' || cursor.length > 128)) {
      throw new PushError('SERVERPUSH_ERR_BAD_CURSOR', 'the `cursor` parameter is malformed');
    }
    // A long-lived page whose token expired reloads to get a new one, rather than loop on errors.
    if (expired) return { refresh: refreshDelivery('expired') };
    // Rendered while the log did not answer: the page does not know where it stands. It reloads
    // once the log is back.
    if (cursor === undefined && claims.cursor === unknownCursor) return { recover: true };
    const from = cursor ?? claims.cursor;
    if (!log.check(from)) return { refresh: refreshDelivery('epoch') };
    // A client resumes from what it received since its page rendered: never from before that, which
    // would have the process read history no page needs.
    if (
      cursor !== undefined &&
      claims.cursor !== unknownCursor &&
      log.check(claims.cursor) &&
      log.compare(cursor, claims.cursor) < 0
    ) {
      throw new PushError('SERVERPUSH_ERR_BAD_CURSOR', 'the cursor is older than its page');
    }
    return { claims, from };
  }

  /** Resolves once the log answers again (one probe a second, each time-boxed, shared by every caller). */
  let probing: Promise<void> | undefined;
  function logBack(): Promise<void> {
    probing ??= (async () => {
      while (!closed) {
        let timer: NodeJS.Timeout | undefined;
        const waited = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, 1_000, 'timeout')));
        try {
          if ((await Promise.race([log.head(), waited])) !== 'timeout') return;
        } catch {
          await waited;
        } finally {
          clearTimeout(timer);
        }
      }
    })().finally(() => (probing = undefined));
    return probing;
  }

  const host: ConnectionHost = {
    pages: presence.track(pages),
    maxPages: maxPagesPerConnection,
    admit,
    logBack,
    observation,
    schedule(connection) {
      dirty.add(connection);
      flushing ??= setImmediate(flushDirty);
    },
    opened(connection, address) {
      // A refused connection is not counted: it carries nothing, and its transport ends it.
      const refused = noRoom(address);
      if (refused !== undefined) return refused;
      connections.add(connection);
      if (address !== undefined) byAddress.set(address, (byAddress.get(address) ?? 0) + 1);
      observation.sink?.connectionOpened?.(connection.transport);
      return undefined;
    },
    closed(connection, address, slow) {
      if (!connections.delete(connection)) return;
      dirty.delete(connection);
      observation.sink?.connectionClosed?.(connection.transport, slow);
      if (address === undefined) return;
      const held = (byAddress.get(address) ?? 1) - 1;
      if (held > 0) byAddress.set(address, held);
      else byAddress.delete(address);
    },
  };

  /** Why one more connection from `address` is refused, if it is. */
  function noRoom(address: string | undefined): PushError | undefined {
    if (connections.size >= maxConnections) {
      return new PushError(
        'SERVERPUSH_ERR_BUSY',
        `this push process holds ${maxConnections} connections (maxConnections); retry later`,
        { retryAfter: 5 },
      );
    }
    if (address !== undefined && (byAddress.get(address) ?? 0) >= maxConnectionsPerAddress) {
      return new PushError(
        'SERVERPUSH_ERR_LIMIT',
        `one address may hold ${maxConnectionsPerAddress} connections (maxConnectionsPerAddress)`,
        { retryAfter: 5 },
      );
    }
    return undefined;
  }

  function endpoint(binding: string | undefined, address?: string, transport?: ConnectionKind): PushEndpoint {
    return {
      open: (sink) => new PushConnection(host, sink, binding, address, transport),
      check(token, cursor) {
        const refused = noRoom(address);
        if (refused !== undefined) throw refused;
        if (token !== undefined) admit(token, cursor, binding);
      },
      reportError,
      rejected,
    };
  }

  function rejected(code: ErrorCode, message: string) {
    observation.sink?.rejected?.(code, message);
  }

  function reportError(error: unknown, where: string) {
    observation.sink?.errorReported?.(error, where);
    try {
      onError(error, where);
    } catch (thrown) {
      logError(thrown, 'onError');
    }
  }

  /** A long-poll of one page, over a connection of its own. */
  async function poll(
    token: string,
    cursor: string | undefined,
    { waitMs, signal, binding }: PollOptions,
  ): Promise<Message[]> {
    let answer: (batches: readonly PageBatch[]) => void = () => {};
    const answered = new Promise<readonly PageBatch[]>((resolve) => (answer = resolve));
    const connection = new PushConnection(host, { write: (batches) => answer(batches) }, binding);
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => connection.flush(true);
    signal?.addEventListener('abort', onAbort);
    try {
      const { fresh } = await connection.add('', token, cursor);
      // The hold starts once the page is open.
      timer = setTimeout(() => connection.flush(true), waitMs);
      // A page's first request is answered at once (after its replay), so its client learns it is
      // connected without waiting out a hold; the requests after it are held.
      if (fresh || signal?.aborted === true) {
        await connection.settled(settleMs);
        connection.flush(true);
      }
      const batches = await answered;
      return decode(batches.flatMap((batch) => batch.deliveries));
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      connection.close();
    }
  }

  /** The pages `filter` selects; a filter that throws selects nothing (and is logged). */
  function selected(filter: PageFilter<Viewer>): Page[] {
    return pages.select((page) => {
      try {
        return filter(page.mailbox.ctx as PushContext<Viewer>);
      } catch (error) {
        debug('page filter threw: %O', error);
        return false;
      }
    });
  }

  async function revalidateHere(filter: PageFilter<Viewer>): Promise<number> {
    const chosen = selected(filter);
    await Promise.all(
      chosen.map(async (page) => {
        try {
          await host.pages.revalidate(page);
        } catch (error) {
          debug('revalidating page %s failed, ending it: %O', page.id, error);
          pages.end(page, 'revalidate');
        }
      }),
    );
    return chosen.length;
  }

  function disconnectHere(filter: PageFilter<Viewer>): number {
    const chosen = selected(filter);
    for (const page of chosen) pages.end(page, 'disconnect');
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

  const push: Push<Viewer, Identity> = {
    log,
    transports,
    updates(routeName, fn) {
      if (typeof routeName !== 'string' || routeName === '')
        throw new TypeError('updates(): the route name must be a non-empty string');
      if (typeof fn !== 'function')
        throw new TypeError(`updates("${routeName}"): the update function must be a function`);
      viewers.add(routeName, fn as UpdateFunction<Viewer>);
      return this;
    },
    global(fn) {
      if (typeof fn !== 'function') throw new TypeError('global(): the update function must be a function');
      viewers.addGlobal(fn as UpdateFunction<Viewer>);
      return this;
    },
    fragment(name: string, ...rest: unknown[]) {
      const [model, render] = rest.length >= 2 ? rest : [undefined, rest[0]];
      if (rest.length >= 2 && model === undefined)
        throw new TypeError(`fragment("${name}"): the model must be a model class or name`);
      if (model !== undefined) {
        try {
          modelName(model);
        } catch (error) {
          throw new TypeError(`fragment("${name}"): ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      const made = createFragment<Viewer, never>(name, model, render);
      if (fragments.has(made.name))
        throw new TypeError(`fragment("${made.name}"): this push instance has a fragment of that name already`);
      fragments.set(made.name, made as Fragment<never, never>);
      return made;
    },
    presence(route, fn) {
      presence.register(route, fn as PresenceFunction<never, never>);
      return this;
    },
    members: (channel) => presence.members(channel),
    concerns: (route) => viewers.concerns(route),
    async publish(changes) {
      // Its log is closed with it: a change appended now would reach nobody.
      if (closed) throw new PushError('SERVERPUSH_ERR_CLOSED', 'publish() after close(): the push instance is closed');
      return log.append(Array.isArray(changes) ? changes : [changes as ChangeInput]);
    },
    token({ binding, ...claims }) {
      return tokens.sign(claims, binding);
    },
    endpoint,
    poll,
    check(token, cursor, binding) {
      admit(token, cursor, binding);
    },
    reportError,
    rejected,
    observe: (observer) => observation.add(observer),
    async snapshot() {
      const taken = await snapshotOf({ log, routed, connections, pages });
      // Nothing routed yet: the tail started at the head, so it stands where the head stood first.
      routed ??= taken.log.routed;
      return taken;
    },
    // The contexts a filter reads carry identities from tokens this instance signed.
    revalidate: (filter: PageFilter<Viewer, Identity> | IdentityFilter<Identity>) =>
      request('revalidate', filter as PageFilter<Viewer> | IdentityFilter),
    disconnect: (filter: PageFilter<Viewer, Identity> | IdentityFilter<Identity>) =>
      request('disconnect', filter as PageFilter<Viewer> | IdentityFilter),
    stats() {
      return { ...pages.stats(), connections: connections.size, waiting: connections.size };
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweeper);
      for (const transport of transports) transport.close?.();
      detachOrm?.();
      stopTail();
      // Held polls are answered empty, not with refresh: the clients come back (to another
      // process, or to this one restarted) and resume from their cursors; requests from now on
      // get 503, which clients retry.
      for (const connection of [...connections]) connection.flush(true);
      for (const connection of [...connections]) connection.close();
      if (flushing !== undefined) clearImmediate(flushing);
      pages.clear();
      // Before the log closes: the other processes hear at once that this one's members are gone.
      await presence.close();
      await log.close();
    },
  };
  return push;
}

/** How long a poll that opens a page waits for its replayed changes to finish serializing, in ms. */
const settleMs = 10_000;

function stringModelName(model: unknown): string {
  if (typeof model === 'string' && model !== '') return model;
  throw new TypeError('A spec `model` must be a model name when no ORM adapter is configured');
}

/** Secrets printed in this package's documentation: anyone can sign tokens with them. */
const publicSecrets = new Set(['at least 32 bytes, the same in every process']);

function logError(error: unknown, where: string): void {
  console.error(`serverpush: internal error while ${where}:`, error);
}
