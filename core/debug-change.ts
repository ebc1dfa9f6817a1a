// The per-change debug line, `DEBUG=serverpush:change`: for each change this process routes, one
// line saying whom it reached, printed once every page it concerns has its messages or was dropped.
// It answers "did my change reach anyone?"; off, it costs one check per change.

import createDebug from 'debug';
import type { Change } from './types.ts';

const debug = createDebug('serverpush:change');

/** What became of a change for one page that a connection holds. */
export type TraceOutcome = 'delivered' | 'authorize' | 'serializer';

/** The routing of one change, page by page, as the mailboxes report it. */
export interface ChangeTrace {
  /** A page's serialization started. */
  begin(): void;
  /** A page no connection holds took the change: it is serialized when its client comes back. */
  waiting(): void;
  /** A page's serialization settled: a message, or dropped by `authorize` or by its serializers. */
  settle(outcome: TraceOutcome): void;
}

/** A change's trace, sealed by the router once every page was handed the change. */
export interface SealableTrace extends ChangeTrace {
  seal(): void;
}

/**
 * Starts the trace of a change that concerns `pages` pages through `specs` specs, when
 * `DEBUG=serverpush:change` is on; else `undefined`.
 *
 * @example
 * const trace = traceChange(change, 3, 4);
 * // …each mailbox reports begin() and settle()…
 * trace?.seal(); // serverpush:change todos 7 update: 3 pages through 4 specs; delivered 2, dropped 1 (authorize 1, serializer 0), waiting 0, skipped 0; 0.42 ms
 */
export function traceChange(change: Change, pages: number, specs: number): SealableTrace | undefined {
  if (!debug.enabled) return undefined;
  const started = performance.now();
  let pending = 0;
  let sealed = false;
  let printed = false;
  const counts = { delivered: 0, authorize: 0, serializer: 0, waiting: 0 };
  const print = () => {
    if (printed) return;
    printed = true;
    const { delivered, authorize, serializer, waiting } = counts;
    // Pages matched but not served: they had the change already (replay and live overlap) or had ended.
    const skipped = pages - delivered - authorize - serializer - waiting;
    debug(
      '%s %s %s: %d %s through %d %s; delivered %d, dropped %d (authorize %d, serializer %d), waiting %d, skipped %d; %s ms',
      change.model,
      typeof change.id === 'object' ? JSON.stringify(change.id) : String(change.id),
      change.op,
      pages,
      pages === 1 ? 'page' : 'pages',
      specs,
      specs === 1 ? 'spec' : 'specs',
      delivered,
      authorize + serializer,
      authorize,
      serializer,
      waiting,
      Math.max(0, skipped),
      (performance.now() - started).toFixed(2),
    );
  };
  return {
    begin() {
      pending += 1;
    },
    waiting() {
      counts.waiting += 1;
    },
    settle(outcome) {
      counts[outcome] += 1;
      pending -= 1;
      if (sealed && pending === 0) print();
    },
    seal() {
      sealed = true;
      if (pending === 0) print();
    },
  };
}
