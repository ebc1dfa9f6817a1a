import test, { type ExecutionContext } from 'ava';
import createDebug from 'debug';
import type { Knex } from 'knex';
import { format } from 'node:util';
import { Model } from 'objection';
import { objection, pushable } from '../../../adapters/objection/index.ts';
import type { ChangeInput } from '../../../core/types.ts';
import { testDatabases, type TestDatabase } from '../../helpers/databases.ts';

// Shared by the objection adapter's tests. Every behaviour test runs on each database, with a
// database of its own, so the tests run concurrently; the rows are the same on both (the adapter
// makes sqlite's 1 and 0 booleans, as PostgreSQL gives them). Ids are `increments()`
// (integer) columns, which both return as numbers; a PostgreSQL test pins `bigint` ids.

export const databases = await testDatabases();

/** A fresh database with pushable `counters` and `tags`, and an adapter attached for it whose batches are kept. */
export async function setup(t: ExecutionContext, db: TestDatabase) {
  const knex = await db.connect(t);
  await knex.schema.createTable('counters', (table) => {
    table.increments('id');
    table.string('name').notNullable();
    table.integer('hits').notNullable().defaultTo(0);
    table.boolean('done').notNullable().defaultTo(false);
  });
  await knex.schema.createTable('tags', (table) => {
    table.string('post');
    table.string('tag');
    table.integer('weight').notNullable().defaultTo(1);
    table.primary(['post', 'tag']);
  });

  class Counter extends pushable(Model) {
    static override tableName = 'counters';
    declare id: number;
    declare name: string;
    declare hits: number;
    declare done: boolean;
  }
  class Tag extends pushable(Model) {
    static override tableName = 'tags';
    static override idColumn = ['post', 'tag'];
    declare post: string;
    declare tag: string;
    declare weight: number;
  }
  Counter.knex(knex);
  Tag.knex(knex);

  const batches: Array<readonly ChangeInput[]> = [];
  t.teardown(objection({ knex }).attach(async (changes) => void batches.push(changes)));
  return { knex, Counter, Tag, batches };
}

/** A `counters` row as the adapter logs it: booleans as booleans on every database. */
export function rowOf(_db: TestDatabase) {
  return (id: number, name: string, hits = 0, done = false) => {
    return { id, name, hits, done };
  };
}

export async function seed(Counter: typeof Model, ...names: string[]) {
  for (const name of names) await Counter.query().insert({ name });
}

/** Collects what `debug` logs under `namespace` until the test ends. */
export function captureDebug(t: ExecutionContext, namespace: string): string[] {
  const logged: string[] = [];
  const log = createDebug.log;
  const namespaces = createDebug.disable();
  createDebug.enable(namespace);
  createDebug.log = (...args: unknown[]) => void logged.push(format(...args));
  t.teardown(() => {
    createDebug.log = log;
    createDebug.enable(namespaces);
  });
  return logged;
}

/** Pushable `lists` with `items`, a has-many relation, for graph operations. */
export async function listsWithItems(knex: Knex) {
  await knex.schema.createTable('lists', (table) => {
    table.increments('id');
    table.string('name');
  });
  await knex.schema.createTable('items', (table) => {
    table.increments('id');
    table.integer('listId');
    table.string('name');
  });
  class Item extends pushable(Model) {
    static override tableName = 'items';
    declare id: number;
    declare name: string;
  }
  class List extends pushable(Model) {
    static override tableName = 'lists';
    declare id: number;
    declare name: string;
    declare items?: Item[];
    static override relationMappings = () => ({
      items: {
        relation: Model.HasManyRelation,
        modelClass: Item,
        join: { from: 'lists.id', to: 'items.listId' },
      },
    });
  }
  List.knex(knex);
  Item.knex(knex);
  return { List, Item };
}

/** Registers a test on `db`, its title suffixed with the dialect; skipped when the database cannot be reached. */
export function testOn(db: TestDatabase): (title: string, run: (t: ExecutionContext) => Promise<void>) => void {
  return (title, run) => (db.skip === undefined ? test : test.skip)(`${title} (${db.dialect})`, run);
}
