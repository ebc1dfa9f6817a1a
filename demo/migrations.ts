// The demo's schema, as a knex migration source so it runs the same from source and from a build.

import type { Knex } from 'knex';
import { authMigrations } from './auth-migrations.ts';

const migrations: Record<string, Knex.Migration> = {
  '20261128_counters': {
    async up(knex) {
      await knex.schema.createTable('counters', (table) => {
        table.integer('id').primary();
        table.integer('hits').notNullable().defaultTo(0);
      });
      await knex('counters').insert({ id: 1, hits: 0 });
    },
    async down(knex) {
      await knex.schema.dropTable('counters');
    },
  },
  ...authMigrations,
};

/** The demo's migrations, in order. */
export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name]!,
};
