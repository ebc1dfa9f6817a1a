import test, { type ExecutionContext } from 'ava';
import createDebug from 'debug';
import type { Knex } from 'knex';
import { format } from 'node:util';
import { Model, type StaticHookArguments } from 'objection';
import { objection, pushable, type ObjectionOptions } from '../../../adapters/objection/index.ts';
import type { ChangeInput } from '../../../core/types.ts';
import { testDatabases, type TestDatabase } from '../../helpers/databases.ts';

// The adapter reports to a module-level list of sinks, so tests that write run one at a time.
// Every behaviour test runs on each database; the row shapes differ only where the drivers do:
// sqlite returns booleans as 1 and 0, PostgreSQL as true and false. Ids are `increments()`
// (integer) columns, which both return as numbers; a PostgreSQL test pins `bigint` ids.

const databases = await testDatabases();

async function setup(t: ExecutionContext, db: TestDatabase) {
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
  t.teardown(objection().attach(async (changes) => void batches.push(changes)));
  return { knex, Counter, Tag, batches };
}

/** A `counters` row as `db` returns it. */
function rowOf(db: TestDatabase) {
  return (id: number, name: string, hits = 0, done = false) => {
    return { id, name, hits, done: db.dialect === 'sqlite' ? Number(done) : done };
  };
}

async function seed(Counter: typeof Model, ...names: string[]) {
  for (const name of names) await Counter.query().insert({ name });
}

/** Collects what `debug` logs under `namespace` until the test ends. */
function captureDebug(t: ExecutionContext, namespace: string): string[] {
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

for (const db of databases) {
  const row = rowOf(db);
  const serial = (title: string, run: (t: ExecutionContext) => Promise<void>) => {
    const register = db.skip === undefined ? test.serial : test.serial.skip;
    register(`${title} (${db.dialect})`, run);
  };

  serial('pushable() reports a query-builder insert with the row read back, defaults included', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await Counter.query().insert({ name: 'a' });
    t.deepEqual(batches, [
      [{ model: 'counters', op: 'insert', id: 1, before: null, after: row(1, 'a') }],
    ]);
  });

  serial('pushable() reports an instance insert', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await Counter.fromJson({ name: 'a', hits: 3 }).$query().insert();
    t.deepEqual(batches, [
      [{ model: 'counters', op: 'insert', id: 1, before: null, after: row(1, 'a', 3) }],
    ]);
  });

  serial('pushable() reports each row of a many-row insertGraph()', async (t) => {
    const { Counter, batches } = await setup(t, db);
    // sqlite refuses a many-row `insert([...])`, so insertGraph inserts one by one there.
    await Counter.query().insertGraph([{ name: 'a' }, { name: 'b' }]);
    t.deepEqual(
      batches.flat().map(({ op, id, after }) => ({ op, id, after })),
      [
        { op: 'insert', id: 1, after: row(1, 'a') },
        { op: 'insert', id: 2, after: row(2, 'b') },
      ],
    );
  });

  serial('pushable() logs an insert whose returning() leaves out the id column, and reports the others', async (t) => {
    const { Counter, batches } = await setup(t, db);
    const logged = captureDebug(t, 'serverpush:objection');
    const inserted = await Counter.query().insert({ name: 'a' }).returning('name');
    t.is(inserted.name, 'a');
    await Counter.query().insert({ name: 'b' }).returning('*');
    t.deepEqual(batches, [
      [{ model: 'counters', op: 'insert', id: 2, before: null, after: row(2, 'b') }],
    ]);
    const message = 'counters: 1 insert(s) not reported: returning() left out the id column';
    t.true(logged.some((line) => line.includes(message)));
  });

  serial('pushable() reports an instance patch with the row before and after', async (t) => {
    const { Counter, batches } = await setup(t, db);
    const counter = await Counter.query().insertAndFetch({ name: 'a' });
    batches.length = 0;
    await counter.$query().patch({ hits: 5 });
    t.deepEqual(batches, [
      [{ model: 'counters', op: 'update', id: 1, before: row(1, 'a'), after: row(1, 'a', 5) }],
    ]);
  });

  serial('pushable() reports an instance update', async (t) => {
    const { Counter, batches } = await setup(t, db);
    const counter = await Counter.query().insertAndFetch({ name: 'a' });
    batches.length = 0;
    await counter.$query().update({ name: 'b', hits: 2, done: true });
    t.deepEqual(batches, [
      [{ model: 'counters', op: 'update', id: 1, before: row(1, 'a'), after: row(1, 'b', 2, true) }],
    ]);
  });

  serial('pushable() reports an instance delete with the row before and no row after', async (t) => {
    const { Counter, batches } = await setup(t, db);
    const counter = await Counter.query().insertAndFetch({ name: 'a' });
    batches.length = 0;
    await counter.$query().delete();
    t.deepEqual(batches, [
      [{ model: 'counters', op: 'delete', id: 1, before: row(1, 'a'), after: null }],
    ]);
  });

  serial('pushable() reports a query-builder patch with the rows before and after', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await seed(Counter, 'a', 'b', 'a');
    batches.length = 0;
    await Counter.query().patch({ hits: 9 }).where('name', 'a');
    t.deepEqual(batches, [
      [
        { model: 'counters', op: 'update', id: 1, before: row(1, 'a'), after: row(1, 'a', 9) },
        { model: 'counters', op: 'update', id: 3, before: row(3, 'a'), after: row(3, 'a', 9) },
      ],
    ]);
  });

  serial('pushable() reports a query-builder patch that uses returning()', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await seed(Counter, 'a', 'b');
    batches.length = 0;
    const patched = await Counter.query().patch({ hits: 4 }).where('id', 2).returning('*');
    t.deepEqual(patched.map(({ id, hits }) => ({ id, hits })), [{ id: 2, hits: 4 }]);
    t.deepEqual(batches, [
      [{ model: 'counters', op: 'update', id: 2, before: row(2, 'b'), after: row(2, 'b', 4) }],
    ]);
  });

  serial('pushable() reports a query-builder update of every row it matches', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await seed(Counter, 'a', 'b');
    batches.length = 0;
    await Counter.query().update({ name: 'z', hits: 1, done: true }).where('id', '>', 0);
    t.deepEqual(
      batches.flat().map(({ id, before, after }) => ({ id, before, after })),
      [
        { id: 1, before: row(1, 'a'), after: row(1, 'z', 1, true) },
        { id: 2, before: row(2, 'b'), after: row(2, 'z', 1, true) },
      ],
    );
  });

  serial('pushable() reads the rows after a patch whose where refers to the changed column', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await seed(Counter, 'a', 'b');
    await Counter.query().patch({ done: true }).where('id', 2);
    batches.length = 0;
    await Counter.query().patch({ done: true }).where('done', false);
    t.deepEqual(batches, [
      [{ model: 'counters', op: 'update', id: 1, before: row(1, 'a'), after: row(1, 'a', 0, true) }],
    ]);
  });

  serial('pushable() reports increment() and decrement()', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await seed(Counter, 'a', 'b');
    batches.length = 0;
    await Counter.query().increment('hits', 3).where('id', 2);
    await Counter.query().decrement('hits', 1).where('id', 2);
    t.deepEqual(
      batches.map((changes) => changes.map(({ id, before, after }) => ({ id, before, after }))),
      [
        [{ id: 2, before: row(2, 'b'), after: row(2, 'b', 3) }],
        [{ id: 2, before: row(2, 'b', 3), after: row(2, 'b', 2) }],
      ],
    );
  });

  serial('pushable() reports findById().patch(), patchAndFetchById() and deleteById()', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await seed(Counter, 'a', 'b');
    batches.length = 0;
    await Counter.query().findById(1).patch({ hits: 1 });
    await Counter.query().patchAndFetchById(1, { hits: 2 });
    await Counter.query().deleteById(2);
    t.deepEqual(
      batches.map((changes) => changes.map(({ op, id, before, after }) => ({ op, id, before, after }))),
      [
        [{ op: 'update', id: 1, before: row(1, 'a'), after: row(1, 'a', 1) }],
        [{ op: 'update', id: 1, before: row(1, 'a', 1), after: row(1, 'a', 2) }],
        [{ op: 'delete', id: 2, before: row(2, 'b'), after: null }],
      ],
    );
  });

  serial('pushable() reports nothing for statements that affect no row', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await seed(Counter, 'a');
    batches.length = 0;
    t.is(await Counter.query().patch({ hits: 1 }).where('name', 'nobody'), 0);
    t.is(await Counter.query().update({ name: 'x', hits: 0, done: false }).where('id', 7), 0);
    t.is(await Counter.query().deleteById(7), 0);
    t.deepEqual(batches, []);
  });

  serial('pushable() reports composite keys as arrays', async (t) => {
    const { Tag, batches } = await setup(t, db);
    await Tag.query().insert({ post: 'p1', tag: 'news' });
    await Tag.query().findById(['p1', 'news']).patch({ weight: 2 });
    t.deepEqual(
      batches.flat().map(({ op, id, after }) => ({ op, id, after })),
      [
        { op: 'insert', id: ['p1', 'news'], after: { post: 'p1', tag: 'news', weight: 1 } },
        { op: 'update', id: ['p1', 'news'], after: { post: 'p1', tag: 'news', weight: 2 } },
      ],
    );
  });

  serial('pushable() keeps the static hooks of the subclass working when they call super', async (t) => {
    const { knex, batches } = await setup(t, db);
    const seen: string[] = [];
    class Audited extends pushable(Model) {
      static override tableName = 'counters';
      static override async beforeUpdate(args: StaticHookArguments<Model>) {
        seen.push('beforeUpdate');
        await super.beforeUpdate(args);
      }
      static override async afterUpdate(args: StaticHookArguments<Model>) {
        seen.push('afterUpdate');
        return super.afterUpdate(args);
      }
    }
    await Audited.query(knex).insert({ name: 'a' });
    await Audited.query(knex).patch({ hits: 4 }).where('id', 1);
    t.deepEqual(seen, ['beforeUpdate', 'afterUpdate']);
    t.deepEqual(batches.flat().map(({ op }) => op), ['insert', 'update']);
  });

  serial('pushable() delivers the changes of a transaction after it commits, in order, as one batch', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await Counter.transaction(async (trx) => {
      await Counter.query(trx).insert({ name: 'a' });
      await Counter.query(trx).patch({ hits: 2 }).where('id', 1);
      await Counter.bindKnex(trx).query().deleteById(1);
      t.deepEqual(batches, []);
    });
    t.deepEqual(
      batches.map((changes) => changes.map(({ op, id }) => `${op} ${id}`)),
      [['insert 1', 'update 1', 'delete 1']],
    );
  });

  serial('pushable() delivers the changes of a transaction before its trx.commit() resolves', async (t) => {
    const { knex, Counter, batches } = await setup(t, db);
    const trx = await knex.transaction();
    await Counter.query(trx).insert({ name: 'a' });
    t.deepEqual(batches, []);
    await trx.commit();
    t.deepEqual(batches.flat().map(({ op, id }) => `${op} ${id}`), ['insert 1']);
  });

  serial('pushable() reads before-rows inside the transaction of the statement', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await Counter.transaction(async (trx) => {
      await Counter.query(trx).insert({ name: 'a' });
      await Counter.query(trx).patch({ hits: 1 }).where('id', 1);
    });
    t.deepEqual(batches.flat()[1]?.before, row(1, 'a'));
  });

  serial('pushable() delivers nothing when the transaction rolls back', async (t) => {
    const { knex, Counter, batches } = await setup(t, db);
    await t.throwsAsync(
      Counter.transaction(async (trx) => {
        await Counter.query(trx).insert({ name: 'a' });
        throw new Error('undo');
      }),
      { message: 'undo' },
    );
    const trx = await knex.transaction();
    await Counter.query(trx).insert({ name: 'b' });
    await trx.rollback();
    t.deepEqual(batches, []);
    t.is(await Counter.query().resultSize(), 0);
  });

  serial('pushable() delivers nothing when a failing statement rolls the transaction back', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await t.throwsAsync(
      Counter.transaction(async (trx) => {
        await Counter.query(trx).insert({ name: 'a' });
        await Counter.query(trx).insert({ id: 1, name: 'same id' });
      }),
      { any: true }, // better-sqlite3's SqliteError is not a native Error
    );
    t.deepEqual(batches, []);
    t.is(await Counter.query().resultSize(), 0);
  });

  serial('pushable() drops the changes of a rolled-back savepoint and delivers the rest on the outermost commit', async (t) => {
    const { knex, Counter, batches } = await setup(t, db);
    await knex.transaction(async (trx) => {
      await Counter.query(trx).insert({ name: 'kept' });
      await trx.transaction(async (savepoint) => {
        await Counter.query(savepoint).insert({ name: 'released' });
      });
      t.deepEqual(batches, []);
      await t.throwsAsync(
        trx.transaction(async (savepoint) => {
          await Counter.query(savepoint).insert({ name: 'dropped' });
          throw new Error('undo savepoint');
        }),
      );
      await t.throwsAsync(
        trx.transaction(async (savepoint) => {
          await Counter.query(savepoint).insert({ name: 'dropped too' });
          await Counter.query(savepoint).insert({ id: 1, name: 'same id' });
        }),
        { any: true },
      );
      const savepoint = await trx.transaction();
      await Counter.query(savepoint).patch({ hits: 1 });
      await savepoint.rollback();
      await Counter.query(trx).patch({ done: true }).where('name', 'kept');
    });
    t.deepEqual(
      batches.map((changes) => changes.map(({ op, after }) => `${op} ${String(after?.['name'])}`)),
      [['insert kept', 'insert released', 'update kept']],
    );
  });

  serial('pushable() keeps the query working when a sink rejects, and logs it', async (t) => {
    const { Counter, batches } = await setup(t, db);
    const logged = captureDebug(t, 'serverpush:objection');
    t.teardown(
      objection().attach(async () => {
        throw new Error('sink down');
      }),
    );
    const counter = await Counter.query().insert({ name: 'a' });
    t.is(counter.id, 1);
    await new Promise(setImmediate);
    t.is(batches.length, 1);
    t.true(logged.some((line) => line.includes('could not deliver 1 change(s): Error: sink down')));
  });

  serial('objection().attach() delivers every change to each attached adapter until detached', async (t) => {
    const { Counter, batches } = await setup(t, db);
    const other: Array<readonly ChangeInput[]> = [];
    const detach = objection().attach(async (changes) => void other.push(changes));
    await Counter.query().insert({ name: 'a' });
    detach();
    detach();
    await Counter.query().insert({ name: 'b' });
    t.is(batches.length, 2);
    t.is(other.length, 1);
  });

  serial('objection() turns model instances into rows with options.toRow', async (t) => {
    const { Counter } = await setup(t, db);
    const rows: unknown[] = [];
    const toRow: ObjectionOptions['toRow'] = (model) => {
      return { kind: model.constructor.name, ...model.$toDatabaseJson() };
    };
    t.teardown(objection({ toRow }).attach(async (changes) => void rows.push(changes[0]?.after)));
    await Counter.query().insert({ name: 'a' });
    t.deepEqual(rows, [{ kind: 'Counter', ...row(1, 'a') }]);
  });

  serial('pushable() reports the inserts, updates and deletes of a graph upsert', async (t) => {
    const { knex, batches } = await setup(t, db);
    const { List } = await listsWithItems(knex);
    const items = [{ name: 'a' }, { name: 'b' }, { name: 'c' }];
    await List.query().insertGraph({ name: 'l', items });
    batches.length = 0;
    await List.transaction(async (trx) => {
      const items = [{ id: 1, name: 'a2' }, { name: 'd' }];
      await List.query(trx).upsertGraph({ id: 1, name: 'l2', items });
    });
    const summary = batches.flat().map(({ model, op, id, before, after }) => {
      return `${model} ${op} ${String(id)} ${String(before?.['name'])} ${String(after?.['name'])}`;
    });
    t.deepEqual(summary.sort(), [
      'items delete 2 b undefined',
      'items delete 3 c undefined',
      'items insert 4 undefined d',
      'items update 1 a a2',
      'lists update 1 l l2',
    ]);
  });
}

async function listsWithItems(knex: Knex) {
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

// What only PostgreSQL shows: many-row inserts, a pool of connections writing at once, a
// transaction that a failed statement aborts, and `bigint` ids.
for (const db of databases.filter(({ dialect }) => dialect === 'postgresql')) {
  const row = rowOf(db);
  const serial = db.skip === undefined ? test.serial : test.serial.skip;

  serial('pushable() reports each row of a many-row insert([...]) as one batch (postgresql)', async (t) => {
    const { Counter, batches } = await setup(t, db);
    const counters = await Counter.query().insert([
      { name: 'a' },
      { name: 'b', hits: 2 },
      { name: 'c' },
    ]);
    t.deepEqual(counters.map(({ id }) => id), [1, 2, 3]);
    t.deepEqual(batches, [
      [
        { model: 'counters', op: 'insert', id: 1, before: null, after: row(1, 'a') },
        { model: 'counters', op: 'insert', id: 2, before: null, after: row(2, 'b', 2) },
        { model: 'counters', op: 'insert', id: 3, before: null, after: row(3, 'c') },
      ],
    ]);
  });

  serial('pushable() reports each row of a many-row insert([...]).returning(\'*\') (postgresql)', async (t) => {
    const { Counter, batches } = await setup(t, db);
    const counters = await Counter.query().insert([{ name: 'a' }, { name: 'b' }]).returning('*');
    t.deepEqual(
      counters.map(({ id, done }) => ({ id, done })),
      [{ id: 1, done: false }, { id: 2, done: false }],
    );
    t.deepEqual(batches.flat().map(({ op, id, after }) => ({ op, id, after })), [
      { op: 'insert', id: 1, after: row(1, 'a') },
      { op: 'insert', id: 2, after: row(2, 'b') },
    ]);
  });

  serial('pushable() reports each of many concurrent writes on the pool once, with its rows (postgresql)', async (t) => {
    const { Counter, batches } = await setup(t, db);
    const names = Array.from({ length: 12 }, (_, index) => `c${index + 1}`);
    const inserted = await Promise.all(names.map((name) => Counter.query().insert({ name })));
    const ids = inserted.map(({ id }) => id);
    const nameOf = new Map(inserted.map(({ id, name }) => [id, name]));
    const byId = (changes: readonly ChangeInput[]) => {
      return [...changes].sort((a, b) => Number(a.id) - Number(b.id));
    };
    t.is(batches.length, 12);
    t.deepEqual(
      byId(batches.flat()),
      ids.sort((a, b) => a - b).map((id) => {
        const after = row(id, nameOf.get(id) ?? '');
        return { model: 'counters', op: 'insert', id, before: null, after };
      }),
    );

    batches.length = 0;
    await Promise.all(ids.map((id) => Counter.query().patch({ hits: id }).where('id', id)));
    t.is(batches.length, 12);
    t.deepEqual(
      byId(batches.flat()).map(({ id, before, after }) => ({ id, before, after })),
      ids.map((id) => {
        const name = nameOf.get(id) ?? '';
        return { id, before: row(id, name), after: row(id, name, id) };
      }),
    );

    batches.length = 0;
    const odd = ids.filter((id) => id % 2 === 1);
    await Promise.all(odd.map((id) => Counter.query().deleteById(id)));
    t.deepEqual(
      byId(batches.flat()).map(({ op, id, before, after }) => ({ op, id, before, after })),
      odd.map((id) => {
        return { op: 'delete', id, before: row(id, nameOf.get(id) ?? '', id), after: null };
      }),
    );

    // The same row from many connections: each statement is reported once, though outside a
    // transaction the rows read around it can include the others' writes.
    batches.length = 0;
    const increment = () => Counter.query().increment('hits', 1).where('id', 2);
    await Promise.all(Array.from({ length: 8 }, increment));
    t.is(batches.length, 8);
    t.true(batches.flat().every(({ id, after }) => id === 2 && Number(after?.['hits']) > 2));
    t.is((await Counter.query().findById(2))?.hits, 10);
  });

  serial('pushable() delivers nothing for a transaction that a failed statement aborted, though it resolves (postgresql)', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await Counter.transaction(async (trx) => {
      await Counter.query(trx).insert({ name: 'a' });
      await t.throwsAsync(Counter.query(trx).insert({ id: 1, name: 'same id' }), {
        message: /duplicate key value violates unique constraint/,
      });
      await t.throwsAsync(Counter.query(trx).patch({ hits: 1 }), {
        message: /current transaction is aborted/,
      });
    });
    t.deepEqual(batches, []);
    t.is(await Counter.query().resultSize(), 0);
  });

  serial('pushable() delivers nothing when trx.commit() of an aborted transaction rolls it back (postgresql)', async (t) => {
    const { knex, Counter, batches } = await setup(t, db);
    const trx = await knex.transaction();
    await Counter.query(trx).insert({ name: 'a' });
    await trx.transaction(async (savepoint) => {
      await Counter.query(savepoint).patch({ hits: 1 });
    });
    await t.throwsAsync(trx.raw('select no_such_column'));
    await trx.commit();
    t.deepEqual(batches, []);
    t.is(await Counter.query().resultSize(), 0);
  });

  serial('pushable() reports bigint ids as the strings node-postgres returns (postgresql)', async (t) => {
    const { knex, batches } = await setup(t, db);
    await knex.schema.createTable('events', (table) => {
      table.bigIncrements('id');
      table.string('name');
    });
    class Event extends pushable(Model) {
      static override tableName = 'events';
    }
    await Event.query(knex).insert({ name: 'a' });
    await Event.query(knex).findById(1).patch({ name: 'b' });
    t.deepEqual(batches.flat().map(({ op, id, after }) => ({ op, id, after })), [
      { op: 'insert', id: '1', after: { id: '1', name: 'a' } },
      { op: 'update', id: '1', after: { id: '1', name: 'b' } },
    ]);
  });
}

test('objection() throws a TypeError naming a bad option', (t) => {
  t.throws(() => objection(null as unknown as ObjectionOptions), {
    instanceOf: TypeError,
    message: 'objection() options must be an object',
  });
  t.throws(() => objection({ toRow: 'json' } as unknown as ObjectionOptions), {
    instanceOf: TypeError,
    message: 'options.toRow must be a function',
  });
});

test('objection().modelName() returns the table name of a model class and a string as is', (t) => {
  const adapter = objection();
  class Counter extends pushable(Model) {
    static override tableName = 'counters';
  }
  class Plain extends Model {
    static override tableName = 'plains';
  }
  t.is(adapter.modelName(Counter), 'counters');
  t.is(adapter.modelName(Plain), 'plains');
  t.is(adapter.modelName('counters'), 'counters');
});

test('objection().modelName() throws a TypeError for anything else', (t) => {
  const adapter = objection();
  class Nameless extends Model {}
  const cases: Array<[unknown, string]> = [
    [42, 'modelName() expects an Objection model class or a model name, got number'],
    ['', 'modelName() expects an Objection model class or a model name, got an empty string'],
    [null, 'modelName() expects an Objection model class or a model name, got null'],
    [class Counter {}, 'modelName() expects an Objection model class or a model name, got function Counter'],
    [Nameless, 'model class Nameless has no static tableName'],
  ];
  for (const [model, message] of cases) {
    t.throws(() => adapter.modelName(model), { instanceOf: TypeError, message });
  }
});

test('pushable() returns a class that is already pushable as is', (t) => {
  const Base = pushable(Model);
  t.is(pushable(Base), Base);
});
