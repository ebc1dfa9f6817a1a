// The knex change log on SQLite.

import type { Knex } from 'knex';
import type { Dialect } from './dialect.ts';

/**
 * The SQLite dialect: one writer at a time, so ids commit in order and the newest id is settled.
 *
 * @example
 * const dialect = sqlite(knex, 'serverpush_changes');
 */
export function sqlite(knex: Knex, table: string): Dialect {
  return {
    key: table,
    async insert(trx, rows) {
      const inserted = (await trx(table).insert(rows).returning('id')) as Array<{ id: number }>;
      return inserted.map((row) => Number(row.id)).sort((a, b) => a - b);
    },
    async frontier() {
      // The autoincrement counter, which stays when every row was trimmed.
      const row: unknown = await knex('sqlite_sequence').where('name', table).first('seq');
      const last = Number((row as { seq?: unknown } | undefined)?.seq ?? 0);
      return { settled: last, allocated: last };
    },
    async reachable() {
      await knex.raw('select 1');
    },
    async listen() {
      return async () => {};
    },
  };
}
