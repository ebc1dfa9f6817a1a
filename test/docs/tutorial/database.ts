// The database: the chat's own migrations, then the change log's, recorded apart from them.
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import { migrateKnexLog } from 'serverpush/knex-log/migration';

const chatMigrations: Record<string, Knex.Migration> = {
  '001_chat': {
    async up(knex) {
      await knex.schema.createTable('users', (table) => {
        table.increments('id');
        table.string('name', 40).notNullable().unique();
      });
      await knex.schema.createTable('messages', (table) => {
        table.increments('id');
        table.integer('roomId').notNullable().index();
        table.integer('fromId').notNullable().references('users.id');
        table.integer('toId').nullable().references('users.id');
        table.string('text', 500).notNullable();
      });
    },
    async down(knex) {
      await knex.schema.dropTable('messages');
      await knex.schema.dropTable('users');
    },
  },
};

export async function openDatabase(filename: string): Promise<Knex> {
  const knex = knexFactory({ client: 'better-sqlite3', connection: { filename }, useNullAsDefault: true });
  await knex.migrate.latest({
    migrationSource: {
      getMigrations: async () => Object.keys(chatMigrations),
      getMigrationName: (name: string) => name,
      getMigration: async (name: string) => chatMigrations[name]!,
    },
  });
  // The change log's tables, with a migrations table of their own.
  await migrateKnexLog(knex);
  Model.knex(knex);
  return knex;
}
