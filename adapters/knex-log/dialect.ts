// What the knex change log needs from a database, and the shape of its change rows. One
// implementation per database: ./postgres.ts and ./sqlite.ts.

import type { Knex } from 'knex';

/** A row of the change table, as the driver returns it. */
export interface ChangeRow {
  readonly id: number | string;
  readonly model: string;
  readonly op: string;
  readonly pk: string;
  readonly after: string | null;
  readonly before: string | null;
  readonly at: number | string;
}

/** Where the log stands: every id up to `settled` has committed or never will; `allocated` is the newest id handed out. */
export interface Frontier {
  readonly settled: number;
  readonly allocated: number;
}

/** What differs between PostgreSQL and SQLite. */
export interface Dialect {
  /** Tells apart the tables (and notify settings) that knex may reach by one name. */
  readonly key: string;
  /** Inserts rows within `trx` and resolves with their ids, in input order. */
  insert(trx: Knex, rows: readonly Record<string, unknown>[]): Promise<number[]>;
  /** Reads how far the log has settled. Calls must not overlap. */
  frontier(settled: number): Promise<Frontier>;
  /** Resolves once the database can be reached, through a connection of its own (not the pool). */
  reachable(): Promise<void>;
  /** Calls `wake` when another connection appended; resolves with a function that stops. */
  listen(wake: () => void): Promise<() => Promise<void>>;
}
