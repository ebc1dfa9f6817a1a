// The databases that database tests run on: sqlite in memory, and PostgreSQL when reachable.

import { randomBytes } from 'node:crypto';
import type { ExecutionContext } from 'ava';
import createKnex, { type Knex } from 'knex';
import pg from 'pg';

/** A database the tests know how to reach. */
export type Dialect = 'sqlite' | 'postgresql';

/** One database to run a suite on. */
export interface TestDatabase {
  readonly dialect: Dialect;
  /** Why the database's tests are skipped in this run; `undefined` when they run. */
  readonly skip: string | undefined;
  /**
   * A knex on a fresh, empty database: a new in-memory sqlite database, or a PostgreSQL schema
   * of its own (first on the `search_path`, so unqualified tables are created in it). The schema
   * is dropped and the pool destroyed when the test ends. Throws when the database is out of
   * reach.
   */
  connect(t: ExecutionContext): Promise<Knex>;
}

/**
 * The PostgreSQL server, user and database the tests use, with trust auth. The standard `PGHOST`
 * and `PGPORT` variables override the address. Default: 127.0.0.1:5432, user `postgres`,
 * database `test`.
 */
export const postgres = {
  host: process.env['PGHOST'] ?? '127.0.0.1',
  port: Number(process.env['PGPORT'] ?? 5432),
  user: 'postgres',
  database: 'test',
} as const;

/** The knex config of a dialect; for PostgreSQL, with `schema` alone on the `search_path`. */
export function knexConfig(dialect: Dialect, schema?: string): Knex.Config {
  if (dialect === 'sqlite') {
    const connection = { filename: ':memory:' };
    return { client: 'better-sqlite3', connection, useNullAsDefault: true };
  }
  return {
    client: 'pg',
    connection: { ...postgres, connectionTimeoutMillis: 5_000 },
    pool: { min: 0, max: 10 },
    acquireConnectionTimeout: 10_000,
    ...(schema === undefined ? {} : { searchPath: [schema] }),
  };
}

let reachability: Promise<string | undefined> | undefined;

/** Resolves to why PostgreSQL cannot be reached, or to `undefined` when it answers a query. */
export function postgresUnreachable(): Promise<string | undefined> {
  reachability ??= (async () => {
    const client = new pg.Client({ ...postgres, connectionTimeoutMillis: 3_000 });
    // Without a listener, an error after connect() (the server going away) would be thrown.
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      return undefined;
    } catch (error) {
      const { host, port } = postgres;
      const reason = error instanceof Error ? error.message : String(error);
      return `${host}:${port} did not answer (${reason})`;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return reachability;
}

/**
 * The databases to run a suite on, sqlite first. An unreachable PostgreSQL is skipped, and the
 * reason printed once, except when `CI=true`: there its tests run and fail, so that a CI machine
 * without PostgreSQL cannot pass by skipping them.
 */
export async function testDatabases(): Promise<readonly TestDatabase[]> {
  const unreachable = await postgresUnreachable();
  const required = process.env['CI'] === 'true';
  if (unreachable !== undefined && !required) {
    console.log(`skipping PostgreSQL tests: ${unreachable}`);
  }
  return [
    { dialect: 'sqlite', skip: undefined, connect: connectSqlite },
    {
      dialect: 'postgresql',
      skip: required ? undefined : unreachable,
      async connect(t) {
        if (unreachable !== undefined) {
          throw new Error(`PostgreSQL is required when CI=true: ${unreachable}`);
        }
        return connectPostgres(t);
      },
    },
  ];
}

async function connectSqlite(t: ExecutionContext): Promise<Knex> {
  const knex = createKnex(knexConfig('sqlite'));
  t.teardown(() => knex.destroy());
  return knex;
}

// A schema per test: ava runs test files in parallel processes, and a run that crashed must not
// collide with the next one.
async function connectPostgres(t: ExecutionContext): Promise<Knex> {
  const schema = `serverpush_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const knex = createKnex(knexConfig('postgresql', schema));
  t.teardown(async () => {
    try {
      await knex.raw('drop schema if exists ?? cascade', [schema]);
    } finally {
      await knex.destroy();
    }
  });
  await knex.raw('create schema ??', [schema]);
  return knex;
}
