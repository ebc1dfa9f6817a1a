// The demos' sqlite database through knex and better-sqlite3, in WAL mode: a push process may read
// the change log while the app process writes.

import knexFactory, { type Knex } from 'knex';

/** A knex on the sqlite file `filename`, every connection in WAL mode. */
export function openSqlite(filename: string): Knex {
  return knexFactory({
    client: 'better-sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    pool: {
      afterCreate: (connection: { pragma(statement: string): unknown }, done: () => void) => {
        connection.pragma('journal_mode = WAL');
        done();
      },
    },
  });
}
