// The migration that creates the tables of `knexLog()`: the change rows, and a one-row meta table
// with the log's epoch and its retained horizon.

/**
 * `knexLogMigrations()`, `up()`, `down()`: the tables `knexLog()` needs.
 *
 * @module serverpush/knex-log/migration
 */

import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';

/** The default name of the change table; the meta table is named after it, `<table>_meta`. */
export const defaultTable = 'serverpush_changes';

// Lower case, as PostgreSQL folds unquoted names; PostgreSQL truncates identifiers past 63 bytes,
// and `<table>_meta`, `<table>_id_seq` and the NOTIFY channel `<table>_<oid>` must fit.
const tablePattern = /^[a-z_][a-z0-9_]{0,49}$/;

/** Throws a `TypeError` naming `option` unless `table` can name the change table. */
export function checkTable(table: unknown, option = 'table'): string {
  if (typeof table !== 'string' || !tablePattern.test(table)) {
    throw new TypeError(
      `The \`${option}\` option must be 1 to 50 lower-case letters, digits or underscores, not starting with a digit`,
    );
  }
  return table;
}

/**
 * Creates the change table and its meta table, with a new random epoch. Usable as a migration's
 * `up` as is (`export { up, down } from 'serverpush/knex-log/migration'`), or called from one
 * with another table name.
 *
 * @example
 * // migrations/20260101000000_serverpush.ts, for another table name:
 * import { up as createLog, down as dropLog } from 'serverpush/knex-log/migration';
 * export const up = (knex) => createLog(knex, 'push_changes');
 * export const down = (knex) => dropLog(knex, 'push_changes');
 */
export async function up(knex: Knex, table: string = defaultTable): Promise<void> {
  checkTable(table);
  await knex.schema.createTable(table, (columns) => {
    // An autoincrement key on sqlite: ids are never reused, also after every row was trimmed.
    columns.bigIncrements('id');
    columns.string('model', 255).notNullable();
    columns.string('op', 6).notNullable();
    // Column names of one word, unchanged by snake/camel case mappers (`knexSnakeCaseMappers()`).
    columns.text('pk').notNullable(); // the row's id as JSON
    columns.text('after');
    columns.text('before');
    columns.bigInteger('at').notNullable();
  });
  await knex.schema.createTable(`${table}_meta`, (columns) => {
    columns.string('epoch', 16).notNullable();
    // The id of the newest change trimmed: changes up to it may be gone.
    columns.bigInteger('horizon').notNullable().defaultTo(0);
  });
  await knex(`${table}_meta`).insert({ epoch: randomBytes(5).toString('hex'), horizon: 0 });
}

/** Drops the tables `up()` created. Cursors of the old tables are answered with a refresh after `up()` runs again. */
export async function down(knex: Knex, table: string = defaultTable): Promise<void> {
  checkTable(table);
  await knex.schema.dropTableIfExists(`${table}_meta`);
  await knex.schema.dropTableIfExists(table);
}

/** Options of `knexLogMigrations()`. */
export interface KnexLogMigrationsOptions {
  /** The change table, as given to `knexLog()`. Default: `'serverpush_changes'`. */
  readonly table?: string;
}

/** One migration of the change log, as a knex migration source hands it out. */
export interface KnexLogMigration {
  readonly name: string;
  /** Applies the migration. */
  up(knex: Knex): Promise<void>;
  /** Reverts the migration. */
  down(knex: Knex): Promise<void>;
}

/**
 * Makes a knex migration source holding the change log's migrations, named `<table>_v1` onwards.
 * Pass it to `knex.migrate.latest({ migrationSource })`, or list its migrations from your own
 * source beside yours.
 *
 * @example
 * await knex.migrate.latest({ migrationSource: knexLogMigrations(), tableName: 'serverpush_migrations' });
 */
export function knexLogMigrations(options: KnexLogMigrationsOptions = {}): Knex.MigrationSource<KnexLogMigration> {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('knexLogMigrations() options must be an object');
  const table = checkTable(options.table ?? defaultTable);
  const migrations: readonly KnexLogMigration[] = [
    { name: `${table}_v1`, up: (knex) => up(knex, table), down: (knex) => down(knex, table) },
  ];
  return {
    getMigrations: async () => [...migrations],
    getMigrationName: (migration) => migration.name,
    getMigration: async (migration) => migration,
  };
}
