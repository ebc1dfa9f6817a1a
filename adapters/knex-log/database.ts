// How the knex change log names its database in errors and warnings, and what it says when the
// database fails it at start: a missing table (the migration did not run) is told apart from a
// database that cannot be reached, and the cause is kept.

import type { Knex } from 'knex';
import { describeError } from '../../core/tail.ts';

/**
 * The database as messages name it: `PostgreSQL at 127.0.0.1:5432`, `SQLite at app.sqlite`; never
 * with the credentials a connection string may hold.
 */
export function databaseOf(knex: Knex): string {
  const config = knex.client.config as Knex.Config;
  const connection: unknown = config.connection;
  if (knex.client.dialect === 'sqlite3') {
    const filename = (connection as { filename?: unknown } | undefined)?.filename;
    return typeof filename === 'string' ? `SQLite at ${filename}` : 'SQLite';
  }
  const given =
    typeof connection === 'string'
      ? connection
      : (connection as { connectionString?: unknown } | undefined)?.connectionString;
  if (typeof given === 'string') {
    try {
      const url = new URL(given);
      return `PostgreSQL at ${url.hostname || 'localhost'}:${url.port || 5432}`;
    } catch {
      return 'PostgreSQL';
    }
  }
  if (typeof connection !== 'object' || connection === null) return 'PostgreSQL';
  const { host, port } = connection as { host?: unknown; port?: unknown };
  return `PostgreSQL at ${typeof host === 'string' ? host : 'localhost'}:${typeof port === 'number' || typeof port === 'string' ? port : 5432}`;
}

/**
 * The error `knexLog()` fails with when its first read of `meta` fails: the migration's hint only for
 * a missing table; "cannot reach" for a database out of reach; the database's own message for the
 * rest. The cause is kept.
 */
export function startError(error: unknown, knex: Knex, meta: string, database: string): Error {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : '';
  // PostgreSQL's SQLSTATE 42P01 is undefined_table; SQLite says so in its message.
  if (code === '42P01' || (code === 'SQLITE_ERROR' && /no such table/.test(message))) {
    return new Error(`knexLog(): cannot read ${meta}: did the migration run (migrateKnexLog())?`, { cause: error });
  }
  // The database answered, with an error of its own (a SQLSTATE, or SQLite's code).
  if (typeof code === 'string' && (/^[0-9A-Z]{5}$/.test(code) || code.startsWith('SQLITE_'))) {
    return new Error(`knexLog(): cannot read ${meta} (${describeError(error)})`, { cause: error });
  }
  // knex's own wording for a pool that got no connection blames a full pool.
  const why =
    error instanceof Error && error.name === 'KnexTimeoutError'
      ? `no connection within ${(knex.client.config as Knex.Config).acquireConnectionTimeout ?? 60_000} ms`
      : describeError(error);
  return new Error(`knexLog(): cannot reach ${database} (${why})`, { cause: error });
}
