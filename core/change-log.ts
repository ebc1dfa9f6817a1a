// The change log contract: an ordered, bounded history of changes with opaque cursors.
//
// A cursor means "everything up to and including this position has been seen". Every log gives
// its cursors an epoch, so a cursor from another log, or from before a restart of a log that does
// not survive restarts, is recognised and answered with a refresh instead of being misread.

import type { Change, ChangeInput, GapReason } from './types.ts';

/** What `since()` found: the changes after the cursor, or why the page must refresh. */
export type SinceResult =
  | { readonly ok: true; readonly changes: readonly Change[] }
  | { readonly ok: false; readonly reason: GapReason };

/**
 * A change log kept in the app's own database (`knexLog()`) can be its ORM adapter's transactional
 * outbox: the adapter appends each write's changes inside the write's own transaction, so they
 * commit with it or not at all.
 */
export interface Outbox<Database = unknown, Transaction = unknown> {
  /** The database handle the outbox writes through: the ORM adapter reports the writes made on it. */
  readonly database: Database;
  /**
   * Appends within `transaction` (given the database itself, in a transaction of its own); tail
   * listeners see the changes once committed. The logs on one table share one outbox, so an adapter
   * appends once per outbox.
   */
  appendWithin(transaction: Transaction, changes: readonly ChangeInput[]): Promise<void>;
}

/** An ordered, bounded history of changes. */
export interface ChangeLog {
  /** Present when the log is kept in the app's database and can take changes inside its transactions. */
  readonly outbox?: Outbox | undefined;
  /** Appends changes in order and resolves with them positioned. Tail listeners see them in order. */
  append(changes: readonly ChangeInput[]): Promise<Change[]>;
  /** The cursor of the newest change, or of the empty log: "nothing seen yet". */
  head(): Promise<string>;
  /**
   * The changes after `cursor`, oldest first; `{ ok: false }` when the log no longer reaches back
   * that far (`'history'`) or the cursor is of another epoch (`'epoch'`). Throws a `PushError`
   * `SERVERPUSH_ERR_BAD_CURSOR` when the cursor is malformed or ahead of the log; a shared log whose
   * store may lose data (Redis) answers a cursor ahead of it with `'epoch'` instead, since there it
   * means the store came back older, not that the client is lying.
   */
  since(cursor: string): Promise<SinceResult>;
  /**
   * Throws `SERVERPUSH_ERR_BAD_CURSOR` when the cursor is malformed; returns `false` when it is of
   * another epoch; `true` when `compare()` can order it. A log shared by several processes must
   * accept a cursor ahead of what this process has seen yet: the client may have got it from
   * another process, and this one's tail will catch up.
   */
  check(cursor: string): boolean;
  /** Orders two cursors of this log's epoch: negative, zero or positive. */
  compare(a: string, b: string): number;
  /**
   * Calls `listener` with each appended change, in log order, and `onGap` when this reader lost
   * changes it cannot deliver (it fell behind the retained history, or the log's store lost its data
   * and started a new epoch): every page that relied on the tail must then refresh. Returns a
   * function that stops both.
   */
  tail(listener: (change: Change) => void, onGap?: (reason: GapReason) => void): () => void;
  /** Releases timers and connections. */
  close(): Promise<void>;
}
