// pushable() on PostgreSQL only.

import { Model } from 'objection';
import { pushable } from '../../../adapters/objection/index.ts';
import type { ChangeInput } from '../../../core/types.ts';
import { databases, rowOf, setup, testOn } from './setup.ts';

// What only PostgreSQL shows: many-row inserts, a pool of connections writing at once, a
// transaction that a failed statement aborts, and `bigint` ids.
for (const db of databases.filter(({ dialect }) => dialect === 'postgresql')) {
  const row = rowOf(db);
  const dbTest = testOn(db);

  dbTest('pushable() reports each row of a many-row insert([...]) as one batch', async (t) => {
    const { Counter, batches } = await setup(t, db);
    const counters = await Counter.query().insert([{ name: 'a' }, { name: 'b', hits: 2 }, { name: 'c' }]);
    t.deepEqual(
      counters.map(({ id }) => id),
      [1, 2, 3],
    );
    t.deepEqual(batches, [
      [
        { model: 'counters', op: 'insert', id: 1, before: null, after: row(1, 'a') },
        { model: 'counters', op: 'insert', id: 2, before: null, after: row(2, 'b', 2) },
        { model: 'counters', op: 'insert', id: 3, before: null, after: row(3, 'c') },
      ],
    ]);
  });

  dbTest("pushable() reports each row of a many-row insert([...]).returning('*')", async (t) => {
    const { Counter, batches } = await setup(t, db);
    const counters = await Counter.query()
      .insert([{ name: 'a' }, { name: 'b' }])
      .returning('*');
    t.deepEqual(
      counters.map(({ id, done }) => ({ id, done })),
      [
        { id: 1, done: false },
        { id: 2, done: false },
      ],
    );
    t.deepEqual(
      batches.flat().map(({ op, id, after }) => ({ op, id, after })),
      [
        { op: 'insert', id: 1, after: row(1, 'a') },
        { op: 'insert', id: 2, after: row(2, 'b') },
      ],
    );
  });

  dbTest('pushable() reports each of many concurrent writes on the pool once, with its rows', async (t) => {
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
      ids
        .sort((a, b) => a - b)
        .map((id) => {
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

  dbTest(
    'pushable() delivers nothing for a transaction that a failed statement aborted, though it resolves',
    async (t) => {
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
    },
  );

  dbTest('pushable() delivers nothing when trx.commit() of an aborted transaction rolls it back', async (t) => {
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

  dbTest('pushable() reports bigint ids as the strings node-postgres returns', async (t) => {
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
    t.deepEqual(
      batches.flat().map(({ op, id, after }) => ({ op, id, after })),
      [
        { op: 'insert', id: '1', after: { id: '1', name: 'a' } },
        { op: 'update', id: '1', after: { id: '1', name: 'b' } },
      ],
    );
  });
}
