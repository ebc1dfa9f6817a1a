// The auth demo's schema and seed: users in teams (passwords as scrypt hashes), their to-dos, and
// the login sessions koa-session keeps server-side. A knex migration source, like demo/migrations.ts.

import type { Knex } from 'knex';
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;
const keyBytes = 32;

/** Hashes a password as `scrypt$<salt>$<key>` (base64url), with a fresh random salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, keyBytes);
  return `scrypt$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Whether `password` matches a hash made by `hashPassword()`; `false` for a malformed hash. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const [scheme, salt, key] = hash.split('$');
  if (scheme !== 'scrypt' || salt === undefined || key === undefined) return false;
  const expected = Buffer.from(key, 'base64url');
  if (expected.length === 0) return false;
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64url'), expected.length);
  return timingSafeEqual(actual, expected);
}

/** The seeded users: alice and bob share team 1, carol is alone in team 2. Password: `demo`. */
export const seedUsers = [
  { id: 1, username: 'alice', teamId: 1 },
  { id: 2, username: 'bob', teamId: 1 },
  { id: 3, username: 'carol', teamId: 2 },
] as const;

/** The auth demo's migrations, by name; their names sort after the counter demo's. */
export const authMigrations: Record<string, Knex.Migration> = {
  '20261201_auth_users_todos_sessions': {
    async up(knex) {
      await knex.schema.createTable('users', (table) => {
        table.increments('id');
        table.string('username', 64).notNullable().unique();
        table.string('passwordHash', 200).notNullable();
        table.integer('teamId').notNullable();
      });
      await knex.schema.createTable('todos', (table) => {
        table.increments('id');
        table.integer('ownerId').notNullable().index();
        table.integer('teamId').notNullable().index();
        table.string('title', 200).notNullable();
        table.boolean('done').notNullable().defaultTo(false);
        table.boolean('shared').notNullable().defaultTo(false);
      });
      await knex.schema.createTable('sessions', (table) => {
        table.string('key', 128).primary();
        table.text('data').notNullable();
        table.bigInteger('expiresAt').notNullable().index();
      });
      for (const user of seedUsers) await knex('users').insert({ ...user, passwordHash: await hashPassword('demo') });
      await knex('todos').insert([
        { ownerId: 1, teamId: 1, title: 'Water the plants', done: false, shared: false },
        { ownerId: 2, teamId: 1, title: 'Book the team lunch', done: false, shared: true },
        { ownerId: 3, teamId: 2, title: 'Plan the offsite', done: false, shared: true },
      ]);
    },
    async down(knex) {
      await knex.schema.dropTable('sessions');
      await knex.schema.dropTable('todos');
      await knex.schema.dropTable('users');
    },
  },
};

/** The auth demo's migrations as a source of their own, for an app without the counter. */
export const authMigrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(authMigrations),
  getMigrationName: (name) => name,
  getMigration: async (name) => authMigrations[name]!,
};
