// None

import { Model, type StaticHookArguments } from 'objection';
import { pushable } from '../../../adapters/objection/index.ts';
import { captureDebug, databases, listsWithItems, rowOf, seed, setup, testOn } from './setup.ts';

for (const db of databases) {
  const row = rowOf(db);
  const dbTest = testOn(db);

  dbTest('pushable() reports a query-builder insert with the row read back, defaults included', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await Counter.query().insert({ name: 'a' });
    t.deepEqual(batches, [[{ model: 'counters', op: 'insert', id: 1, before: null, after: row(1, 'a') }]]);
  });

  dbTest('pushable() reports an instance insert', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await Counter.fromJson({ name: 'a', hits: 3 }).$query().insert();
    t.deepEqual(batches, [[{ model: 'counters', op: 'insert', id: 1, before: null, after: row(1, 'a', 3) }]]);
  });

  dbTest('pushable() reports each row of a many-row insertGraph()', async (t) => {
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

  dbTest('pushable() logs an insert whose returning() leaves out the id column, and reports the others', async (t) => {
    const { Counter, batches } = await setup(t, db);
    const logged = captureDebug(t, 'serverpush:objection');
    const inserted = await Counter.query().insert({ name: 'a' }).returning('name');
    t.is(inserted.name, 'a');
    await Counter.query().insert({ name: 'b' }).returning('*');
    t.deepEqual(batches, [[{ model: 'counters', op: 'insert', id: 2, before: null, after: row(2, 'b') }]]);
    const message = 'counters: 1 insert(s) not reported: returning() left out the id column';
    t.true(logged.some((line) => line.includes(message)));
  });

  dbTest('pushable() reports an instance patch with the row before and after', async (t) => {
    const { Counter, batches } = await setup(t, db);
    const counter = await Counter.query().insertAndFetch({ name: 'a' });
    batches.length = 0;
    await counter.$query().patch({ hits: 5 });
    t.deepEqual(batches, [[{ model: 'counters', op: 'update', id: 1, before: row(1, 'a'), after: row(1, 'a', 5) }]]);
  });

  dbTest('pushable() reports an instance update', async (t) => {
    const { Counter, batches } = await setup(t, db);
    const counter = await Counter.query().insertAndFetch({ name: 'a' });
    batches.length = 0;
    await counter.$query().update({ name: 'b', hits: 2, done: true });
    t.deepEqual(batches, [
      [{ model: 'counters', op: 'update', id: 1, before: row(1, 'a'), after: row(1, 'b', 2, true) }],
    ]);
  });

  dbTest('pushable() reports an instance delete with the row before and no row after', async (t) => {
    const { Counter, batches } = await setup(t, db);
    const counter = await Counter.query().insertAndFetch({ name: 'a' });
    batches.length = 0;
    await counter.$query().delete();
    t.deepEqual(batches, [[{ model: 'counters', op: 'delete', id: 1, before: row(1, 'a'), after: null }]]);
  });

  dbTest('pushable() reports a query-builder patch with the rows before and after', async (t) => {
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

  dbTest('pushable() reports a query-builder patch that uses returning()', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await seed(Counter, 'a', 'b');
    batches.length = 0;
    const patched = await Counter.query().patch({ hits: 4 }).where('id', 2).returning('*');
    t.deepEqual(
      patched.map(({ id, hits }) => ({ id, hits })),
      [{ id: 2, hits: 4 }],
    );
    t.deepEqual(batches, [[{ model: 'counters', op: 'update', id: 2, before: row(2, 'b'), after: row(2, 'b', 4) }]]);
  });

  dbTest('pushable() reports a query-builder update of every row it matches', async (t) => {
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

  dbTest('pushable() reads the rows after a patch whose where refers to the changed column', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await seed(Counter, 'a', 'b');
    await Counter.query().patch({ done: true }).where('id', 2);
    batches.length = 0;
    await Counter.query().patch({ done: true }).where('done', false);
    t.deepEqual(batches, [
      [{ model: 'counters', op: 'update', id: 1, before: row(1, 'a'), after: row(1, 'a', 0, true) }],
    ]);
  });

  dbTest('pushable() reports increment() and decrement()', async (t) => {
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

  dbTest('pushable() reports findById().patch(), patchAndFetchById() and deleteById()', async (t) => {
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

  dbTest('pushable() reports nothing for statements that affect no row', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await seed(Counter, 'a');
    batches.length = 0;
    t.is(await Counter.query().patch({ hits: 1 }).where('name', 'nobody'), 0);
    t.is(await Counter.query().update({ name: 'x', hits: 0, done: false }).where('id', 7), 0);
    t.is(await Counter.query().deleteById(7), 0);
    t.deepEqual(batches, []);
  });

  dbTest('pushable() reports composite keys as arrays', async (t) => {
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

  dbTest('pushable() keeps the static hooks of the subclass working when they call super', async (t) => {
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
    t.deepEqual(
      batches.flat().map(({ op }) => op),
      ['insert', 'update'],
    );
  });

  dbTest('pushable() reports the inserts, updates and deletes of a graph upsert', async (t) => {
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
