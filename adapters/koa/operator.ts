// The operator's view: a read-only HTML page of what this push process is doing, for when "updates
// stopped": its routes with their pages, its transports with their connections, where its tail
// stands in the change log, and the recent refreshes, errors and changes. Off until the app mounts
// it, and refused unless the app's guard lets the request in. Rendered here; no framework, no script.

import type Koa from 'koa';
import type { ErrorCode } from '../../core/errors.ts';
import type { Push } from '../../core/push.ts';
import { positiveInteger } from '../../core/options.ts';
import {
  type OperatorState,
  type RecentChange,
  type RecentError,
  type RecentRefresh,
  renderOperatorPage,
} from './operator-page.ts';

export type { OperatorState, RecentChange, RecentError, RecentRefresh };

/** Options of `operator()`. */
export interface OperatorOptions {
  /**
   * Whether this request may see the view: `true` lets it in, anything else (or a throw) refuses it
   * 403. The view shows the paths of every viewer's pages and the server's errors: let operators in
   * only. Required.
   */
  readonly guard: (ctx: Koa.Context) => boolean | Promise<boolean>;
  /** How many recent refreshes, errors and changes the view keeps, each. Default: `50`. */
  readonly recent?: number | undefined;
}

/** The operator's view: a Koa middleware, which observes the push instance until `close()`. */
export interface OperatorView extends Koa.Middleware {
  /** Stops observing the push instance. */
  close(): void;
}

/**
 * Creates the operator's view of `push` (this process only) for the app to mount on a route of its
 * choice, behind `guard`. Throws a `TypeError` without a guard.
 *
 * @example
 * router.get('/_serverpush', operator(push, { guard: (ctx) => ctx.state.user?.admin === true }));
 */
export function operator(push: Push<never> | Push<unknown>, options: OperatorOptions): OperatorView {
  if (typeof push?.observe !== 'function' || typeof push.snapshot !== 'function')
    throw new TypeError('operator(): the first argument must be a push instance (createPush())');
  const guard = (options as Partial<OperatorOptions> | undefined)?.guard;
  if (typeof guard !== 'function')
    throw new TypeError(
      "operator(): the `guard` option is required: a function of the request that returns true for operators only (the view shows every viewer's page paths and the server's errors)",
    );
  const keep = positiveInteger(options.recent ?? 50, 'recent');
  const since = Date.now();
  const counts = { changes: 0, deliveries: 0, refreshes: 0, rejected: 0, errors: 0 };
  const refreshes = ring<RecentRefresh>(keep);
  const errors = ring<RecentError>(keep);
  const changes = ring<RecentChange>(keep);

  const stop = push.observe({
    changeRouted(change, pages, specs) {
      counts.changes += 1;
      const id = typeof change.id === 'object' ? JSON.stringify(change.id) : String(change.id);
      changes.add({ at: Date.now(), model: change.model, id, op: change.op, pages, specs });
    },
    frameWritten(_transport, batches) {
      for (const batch of batches)
        for (const delivery of batch.deliveries) if (delivery.cursor !== undefined) counts.deliveries += 1;
    },
    refreshed(reason, page) {
      counts.refreshes += 1;
      refreshes.add({
        at: Date.now(),
        reason,
        page: page === undefined ? undefined : { path: page.path, route: page.route },
      });
    },
    rejected(code: ErrorCode, message) {
      counts.rejected += 1;
      errors.add({ at: Date.now(), kind: 'rejected', what: code, message });
    },
    errorReported(error, where) {
      counts.errors += 1;
      errors.add({ at: Date.now(), kind: 'internal', what: where, message: messageOf(error) });
    },
    serializerFailed(kind, name, error) {
      counts.errors += 1;
      errors.add({ at: Date.now(), kind: 'serializer', what: `${kind} ${name}`, message: messageOf(error) });
    },
  });

  const view = async (ctx: Koa.Context) => {
    ctx.set(headers);
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      ctx.set('Allow', 'GET, HEAD');
      ctx.type = 'text/plain';
      ctx.body = "The operator's view is read-only: GET it.";
      return;
    }
    let allowed = false;
    try {
      allowed = (await guard(ctx)) === true;
    } catch (error) {
      push.reportError(error, "running the operator's view guard");
    }
    if (!allowed) {
      ctx.status = 403;
      ctx.type = 'text/plain';
      ctx.body = "The operator's view is refused: its guard did not let this request in.";
      return;
    }
    const state: OperatorState = {
      snapshot: await push.snapshot(),
      transports: push.transports.map((transport) => transport.name),
      since,
      counts: { ...counts },
      refreshes: refreshes.list(),
      errors: errors.list(),
      changes: changes.list(),
    };
    ctx.type = 'html';
    ctx.body = renderOperatorPage(state, Date.now());
  };
  return Object.assign(view, { close: stop });
}

/** No cache keeps the page, no browser sniffs it or frames it, and it runs no script. */
const headers: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
};

/** The newest `size` items added, newest first. */
function ring<T>(size: number): { add(item: T): void; list(): T[] } {
  const items: T[] = [];
  let next = 0;
  return {
    add(item) {
      if (items.length < size) items.push(item);
      else items[next] = item;
      next = (next + 1) % size;
    },
    list() {
      const oldestFirst = items.length < size ? items : [...items.slice(next), ...items.slice(0, next)];
      return oldestFirst.slice().reverse();
    },
  };
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 500);
}
