// The migration that creates the tables of `knexLog()`: the change rows, and a one-row meta table
// with the log's epoch and its retained horizon; and `migrateKnexLog()`, which runs it recorded
// apart from the app's own migrations.

/**
 * `knexLogMigrations()`, `up()`, `down()`: the tables `knexLog()` needs.
 *
 * @module serverpush/knex-log/migration
 */

import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
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
 * `migrateKnexLog()` runs it; to run it yourself, give knex a migrations table of its own
 * (`tableName`): recorded in the app's `knex_migrations`, its names are missing from the app's
 * migrations directory, and knex then refuses that directory as corrupt.
 *
 * @example
 * await knex.migrate.latest({ migrationSource: knexLogMigrations(), tableName: 'serverpush_migrations' });
 */
export function knexLogMigrations(options: KnexLogMigrationsOptions = {}): Knex.MigrationSource<KnexLogMigration> {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('knexLogMigrations() options must be an object');
  const table = checkTable(options.table ?? defaultTable);
  const migrations: readonly KnexLogMigration[] = [
    {
      name: `${table}_v1`,
      // Tables made before, by `up()` in a migration file of the app's or a run recorded
      // elsewhere, are taken as they are: the same tables, with their epoch kept.
      up: async (knex) => {
        if (!(await knex.schema.hasTable(table)) || !(await knex.schema.hasTable(`${table}_meta`)))
          await up(knex, table);
      },
      down: (knex) => down(knex, table),
    },
  ];
  return {
    getMigrations: async () => [...migrations],
    getMigrationName: (migration) => migration.name,
    getMigration: async (migration) => migration,
  };
}

/** The default table serverpush's migrations are recorded in. */
export const defaultMigrationsTable = 'serverpush_migrations';

/** Options of `migrateKnexLog()`. */
export interface MigrateKnexLogOptions {
  /** The change table, as given to `knexLog()`. Default: `'serverpush_changes'`. */
  readonly table?: string;
  /**
   * The table knex records these migrations in (knex migrate's `tableName`), apart from the app's
   * own `knex_migrations`. Default: `'serverpush_migrations'`.
   */
  readonly migrationsTable?: string;
}

/** How long `migrateKnexLog()` waits for another process that runs the same migrations, in ms. */
const waitMs = 10_000;

/** The run under way on each knex, so that calls on one knex take turns instead of racing. */
const running = new WeakMap<Knex, Promise<unknown>>();

/**
 * Creates or updates the tables of `knexLog()`, recording the migrations in a table of their own
 * (`serverpush_migrations`), so they never mix with the app's own knex migrations. Idempotent:
 * call it at every start, in either order with the app's migrations, from several processes at
 * once. Resolves with the names of the migrations it ran (none when the tables are up to date).
 * Tables made before (by `up()` in a migration file of the app's) are taken as they are.
 *
 * @example
 * await knex.migrate.latest(); // the app's own migrations, in ./migrations
 * await migrateKnexLog(knex);
 * const log = await knexLog({ knex });
 */
export async function migrateKnexLog(knex: Knex, options: MigrateKnexLogOptions = {}): Promise<string[]> {
  if (typeof knex?.migrate?.latest !== 'function')
    throw new TypeError("migrateKnexLog() needs the app's knex instance");
  if (typeof options !== 'object' || options === null)
    throw new TypeError('migrateKnexLog() options must be an object');
  const migrationSource = knexLogMigrations({ table: checkTable(options.table ?? defaultTable) });
  const tableName = checkTable(options.migrationsTable ?? defaultMigrationsTable, 'migrationsTable');
  const previous = running.get(knex) ?? Promise.resolve();
  const run = previous.catch(() => {}).then(() => latest(knex, migrationSource, tableName));
  running.set(knex, run);
  return run;
}

/**
 * Runs knex's `migrate.latest()` in one transaction, so that processes that start together do not
 * race: knex makes its migrations table and lock row unguarded, and two processes could each
 * insert a lock row, locking both out for good. PostgreSQL: the transaction first takes an
 * advisory lock, and the others wait for it. SQLite: one writer wins, the others fail busy and
 * roll back whole, then try again and find the work done.
 */
async function latest(knex: Knex, migrationSource: Knex.MigrationSource<KnexLogMigration>, tableName: string) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await knex.transaction(async (trx) => {
        if (knex.client.dialect === 'postgresql') {
          await trx.raw("select pg_advisory_xact_lock(hashtext(current_schema() || '.' || ?))", [tableName]);
        }
        const [, ran] = (await trx.migrate.latest({ migrationSource, tableName })) as [number, string[]];
        return ran;
      });
    } catch (error) {
      const code = String((error as { code?: unknown }).code ?? '');
      const busy = /^SQLITE_(BUSY|LOCKED)/.test(code) || (error as Error).name === 'MigrationLocked';
      if (!busy || Date.now() > deadline) throw error;
      await delay(50 + Math.floor(Math.random() * 100));
    }
  }
}
