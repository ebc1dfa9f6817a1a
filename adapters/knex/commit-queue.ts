// Holds what a knex transaction's statements produced until the outermost transaction commits.

import createDebug from 'debug';
import type { Knex } from 'knex';
import { isTransaction } from './transaction.ts';

const debug = createDebug('serverpush:knex');

/** Items produced by statements, delivered once the transaction they ran in has committed. */
export interface CommitQueue<T> {
  /**
   * Adds what one statement run on `knex` produced: delivered at once outside a transaction, else
   * when the outermost transaction commits (dropped on a rollback); see docs/adapters.md#the-commit-queue.
   */
  add(knex: Knex, items: readonly T[]): void;
}

/**
 * Makes a commit queue that hands each committed batch, in the order added, to `deliver`; a throw
 * from `deliver` is logged under `serverpush:knex`. How commits are told from rollbacks:
 * docs/adapters.md#the-commit-queue.
 *
 * @example
 * const queue = createCommitQueue<string>((events) => console.log(events));
 * await knex.transaction(async (trx) => {
 *   await trx('posts').insert({ title: 'hi' });
 *   queue.add(trx, ['post created']); // logged when the transaction commits
 * });
 */
export function createCommitQueue<T>(deliver: (items: readonly T[]) => void): CommitQueue<T> {
  if (typeof deliver !== 'function') {
    throw new TypeError('createCommitQueue() expects a deliver function');
  }
  // Per outermost transaction, each statement's items with the transactions (outermost last)
  // it ran in, so that a rolled-back savepoint can drop its own.
  const waiting = new WeakMap<Knex.Transaction, Array<Waiting<T>>>();
  const watched = new WeakSet<Knex.Transaction>();

  function transactionOnEnd(trx: Knex.Transaction, outermost: Knex.Transaction, committed: boolean): void {
    const list = waiting.get(outermost);
    if (!list) return;
    if (trx === outermost) {
      waiting.delete(outermost);
      const items = list.flatMap((entry) => entry.items);
      if (items.length === 0) return;
      if (committed) deliverSafely(deliver, items);
      else debug('dropped %d item(s): their transaction rolled back', items.length);
    } else if (!committed) {
      waiting.set(
        outermost,
        list.filter((entry) => !entry.within.includes(trx)),
      );
    }
  }

  return {
    add(knex: Knex, items: readonly T[]): void {
      if (items.length === 0) return;
      if (!isTransaction(knex)) return deliverSafely(deliver, items);
      if (knex.isCompleted()) {
        debug('dropped %d item(s): their transaction ended before they were added', items.length);
        return;
      }
      const within: Knex.Transaction[] = [];
      for (let trx: Knex.Transaction | undefined = knex; trx; trx = trx.parentTransaction) {
        within.push(trx);
      }
      const outermost = within[within.length - 1] ?? knex;
      for (const trx of within) {
        if (watched.has(trx)) continue;
        watched.add(trx);
        onEnd(trx, (committed) => transactionOnEnd(trx, outermost, committed));
      }
      const list = waiting.get(outermost) ?? [];
      list.push({ items, within });
      waiting.set(outermost, list);
    },
  };
}

interface Waiting<T> {
  readonly items: readonly T[];
  readonly within: readonly Knex.Transaction[];
}

function deliverSafely<T>(deliver: (items: readonly T[]) => void, items: readonly T[]): void {
  try {
    deliver(items);
  } catch (error) {
    debug('could not deliver %d item(s): %O', items.length, error);
  }
}

// Shared by every queue, so that a transaction's methods are wrapped once.
const instrumented = new WeakSet<Knex.Transaction>();
const rolledBack = new WeakSet<Knex.Transaction>();

// knex resolves `executionPromise` on commit but also on a rollback without an error
// (`doNotRejectOnRollback`, knex/knex#5887), and has no commit event (knex/knex#1641): a rollback
// is told apart by wrapping the transaction's own `rollback()`.
function onEnd(trx: Knex.Transaction, callback: (committed: boolean) => void): void {
  if (!instrumented.has(trx)) {
    instrumented.add(trx);
    const rollback = trx.rollback;
    trx.rollback = (error?: unknown) => {
      if (!trx.isCompleted()) rolledBack.add(trx);
      return rollback.call(trx, error);
    };
    if (!trx.parentTransaction) watchCommitTag(trx);
  }
  trx.executionPromise.then(
    () => callback(!rolledBack.has(trx)),
    () => callback(false),
  );
}

// PostgreSQL answers the COMMIT of a transaction that a failed statement aborted with the command
// tag ROLLBACK, not with an error, and knex settles the transaction as committed. The tag is read
// where the transaction's own client returns the driver's response, before knex settles it.
function watchCommitTag(trx: Knex.Transaction): void {
  const client: { query?: unknown } | undefined = trx.client;
  const query = client?.query;
  if (!client || typeof query !== 'function') return;
  client.query = function (this: unknown, ...args: unknown[]): Promise<unknown> {
    return Promise.resolve(query.apply(this, args)).then((result: unknown) => {
      if (isCommitAnsweredWithRollback(result)) rolledBack.add(trx);
      return result;
    });
  };
}

// The result is knex's query object: the SQL it ran, and the driver's response.
function isCommitAnsweredWithRollback(result: unknown): boolean {
  if (typeof result !== 'object' || result === null) return false;
  const { sql, response } = result as { sql?: unknown; response?: unknown };
  if (typeof sql !== 'string' || !/^\s*commit\b/i.test(sql)) return false;
  if (typeof response !== 'object' || response === null) return false;
  return (response as { command?: unknown }).command === 'ROLLBACK';
}
