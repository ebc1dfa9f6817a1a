// The change log's migration beside an app's own knex migrations: `migrateKnexLog()` records it in
// a table of its own, so the app's migrations directory and serverpush's never corrupt each other,
// whatever the order, however often, from several processes at once; on sqlite and PostgreSQL.

import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import createKnex, { type Knex } from 'knex';
import { knexLog } from '../../../adapters/knex-log/index.ts';
import { knexLogMigrations, migrateKnexLog, up } from '../../../adapters/knex-log/migration.ts';
import { knexConfig, testDatabases, type TestDatabase } from '../../helpers/databases.ts';

const databases = await testDatabases();
const execFileAsync = promisify(execFile);

/** The app's own migrations directory: one migration that creates `todos`. */
async function appMigrations(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'serverpush-app-migrations-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const directory = join(dir, 'migrations');
  await mkdir(directory);
  // An ESM app, as the README requires: its migrations are ES modules in .js files.
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }');
  await writeFile(
    join(directory, '20260101000000_todos.js'),
    `export const up = (knex) => knex.schema.createTable('todos', (table) => { table.increments('id'); table.string('title'); });
export const down = (knex) => knex.schema.dropTable('todos');
`,
  );
  return directory;
}

/** A fresh database, and its knex config for other processes; closed when the test ends. */
async function database(t: ExecutionContext, db: TestDatabase): Promise<{ knex: Knex; config: Knex.Config }> {
  let config: Knex.Config;
  if (db.dialect === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'serverpush-migrate-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    config = { ...knexConfig('sqlite'), connection: { filename: join(dir, 'app.sqlite') } };
  } else {
    const knex = await db.connect(t);
    config = knexConfig('postgresql', (knex.client.config as Knex.Config).searchPath?.[0]);
  }
  const knex = createKnex(config);
  t.teardown(() => knex.destroy());
  return { knex, config };
}

for (const db of databases) {
  const title = (what: string) => `${what} (${db.dialect})`;
  const maybe = db.skip === undefined ? test : test.skip;

  for (const order of ['app first', 'serverpush first'] as const) {
    maybe(title(`migrateKnexLog() and the app's own migrations directory both run, ${order}, twice`), async (t) => {
      const { knex } = await database(t, db);
      const directory = await appMigrations(t);
      const appRuns: unknown[] = [];
      const logRuns: string[][] = [];
      const app = async () => void appRuns.push(await knex.migrate.latest({ directory }));
      const log = async () => void logRuns.push(await migrateKnexLog(knex));
      for (let round = 1; round <= 2; round += 1) {
        for (const step of order === 'app first' ? [app, log] : [log, app]) await step();
      }
      t.deepEqual(logRuns, [['serverpush_changes_v1'], []]);
      t.deepEqual(appRuns, [
        [1, ['20260101000000_todos.js']],
        [1, []],
      ]);
      t.deepEqual(await knex('knex_migrations').pluck('name'), ['20260101000000_todos.js']);
      t.deepEqual(await knex('serverpush_migrations').pluck('name'), ['serverpush_changes_v1']);
      const [, pending] = (await knex.migrate.list({ directory })) as [unknown[], unknown[]];
      t.deepEqual(pending, []);
      const changes = await knexLog({ knex });
      t.teardown(() => changes.close());
      await changes.append([{ model: 'todos', op: 'insert', id: 1, after: { id: 1, title: 'a' } }]);
      t.deepEqual(await knex('serverpush_changes').pluck('model'), ['todos']);
    });
  }

  maybe(
    title("knexLogMigrations() recorded in the app's own knex_migrations: whichever runs second finds it corrupt"),
    async (t) => {
      // Why migrateKnexLog() exists: the shape the README documented before.
      for (const first of ['app', 'serverpush'] as const) {
        const { knex } = await database(t, db);
        const directory = await appMigrations(t);
        const app = () => knex.migrate.latest({ directory });
        const serverpush = () => knex.migrate.latest({ migrationSource: knexLogMigrations() });
        await (first === 'app' ? app() : serverpush());
        await t.throwsAsync(first === 'app' ? serverpush() : app(), {
          message: `The migration directory is corrupt, the following files are missing: ${first === 'app' ? '20260101000000_todos.js' : 'serverpush_changes_v1'}`,
        });
      }
    },
  );

  maybe(title('migrateKnexLog() run by three processes at once creates the tables once'), async (t) => {
    const { knex, config } = await database(t, db);
    const script = fileURLToPath(new URL('migrate-process.ts', import.meta.url));
    const runs = await Promise.all(
      [1, 2, 3].map(async () => {
        const { stdout } = await execFileAsync(process.execPath, ['--import=tsx', script, JSON.stringify(config)], {
          timeout: 30_000,
        });
        // knex prints a warning of its own when the lock is taken ("Can't take lock"): the last line is ours.
        return JSON.parse(stdout.trim().split('\n').pop() ?? '') as string[];
      }),
    );
    t.deepEqual(runs.flat(), ['serverpush_changes_v1'], 'exactly one process ran the migration');
    t.deepEqual(await knex('serverpush_migrations').pluck('name'), ['serverpush_changes_v1']);
    t.is((await knex('serverpush_migrations_lock').select('*')).length, 1, "knex's lock row, once");
    t.is((await knex('serverpush_changes_meta').select('epoch')).length, 1);
    // And calls on one knex take turns.
    t.deepEqual(await Promise.all([migrateKnexLog(knex), migrateKnexLog(knex)]), [[], []]);
  });

  maybe(
    title('migrateKnexLog() takes as they are the tables a migration file of the app made with up()'),
    async (t) => {
      const { knex } = await database(t, db);
      await up(knex);
      const [{ epoch }] = await knex('serverpush_changes_meta').select('epoch');
      t.deepEqual(await migrateKnexLog(knex), ['serverpush_changes_v1']);
      t.deepEqual(await knex('serverpush_changes_meta').pluck('epoch'), [epoch], 'the epoch is kept');
    },
  );

  maybe(title('migrateKnexLog() with table and migrationsTable makes those tables'), async (t) => {
    const { knex } = await database(t, db);
    t.deepEqual(await migrateKnexLog(knex, { table: 'push_changes', migrationsTable: 'push_migrations' }), [
      'push_changes_v1',
    ]);
    t.deepEqual(await knex('push_migrations').pluck('name'), ['push_changes_v1']);
    t.true(await knex.schema.hasTable('push_changes_meta'));
    t.false(await knex.schema.hasTable('serverpush_migrations'));
    const log = await knexLog({ knex, table: 'push_changes' });
    t.teardown(() => log.close());
    t.pass();
  });
}

test('migrateKnexLog() rejects a missing knex and bad options with TypeErrors naming them', async (t) => {
  const knex = createKnex(knexConfig('sqlite'));
  t.teardown(() => knex.destroy());
  await t.throwsAsync(migrateKnexLog(undefined as unknown as Knex), {
    instanceOf: TypeError,
    message: "migrateKnexLog() needs the app's knex instance",
  });
  await t.throwsAsync(migrateKnexLog(knex, null as never), {
    instanceOf: TypeError,
    message: 'migrateKnexLog() options must be an object',
  });
  await t.throwsAsync(migrateKnexLog(knex, { migrationsTable: 'Bad-Name' }), {
    instanceOf: TypeError,
    message:
      'The `migrationsTable` option must be 1 to 50 lower-case letters, digits or underscores, not starting with a digit',
  });
  await t.throwsAsync(migrateKnexLog(knex, { table: '1x' }), {
    instanceOf: TypeError,
    message: 'The `table` option must be 1 to 50 lower-case letters, digits or underscores, not starting with a digit',
  });
});
