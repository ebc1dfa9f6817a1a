// None

import { objection } from '../../../adapters/objection/index.ts';
import { captureDebug, databases, rowOf, setup, testOn } from './setup.ts';

for (const db of databases) {
  const row = rowOf(db);
  const dbTest = testOn(db);

  dbTest('pushable() delivers the changes of a transaction after it commits, in order, as one batch', async (t) => {
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

  dbTest('pushable() delivers the changes of a transaction before its trx.commit() resolves', async (t) => {
    const { knex, Counter, batches } = await setup(t, db);
    const trx = await knex.transaction();
    await Counter.query(trx).insert({ name: 'a' });
    t.deepEqual(batches, []);
    await trx.commit();
    t.deepEqual(
      batches.flat().map(({ op, id }) => `${op} ${id}`),
      ['insert 1'],
    );
  });

  dbTest('pushable() reads before-rows inside the transaction of the statement', async (t) => {
    const { Counter, batches } = await setup(t, db);
    await Counter.transaction(async (trx) => {
      await Counter.query(trx).insert({ name: 'a' });
      await Counter.query(trx).patch({ hits: 1 }).where('id', 1);
    });
    t.deepEqual(batches.flat()[1]?.before, row(1, 'a'));
  });

  dbTest('pushable() delivers nothing when the transaction rolls back', async (t) => {
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

  dbTest('pushable() delivers nothing when a failing statement rolls the transaction back', async (t) => {
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

  dbTest(
    'pushable() drops the changes of a rolled-back savepoint and delivers the rest on the outermost commit',
    async (t) => {
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
    },
  );

  dbTest('pushable() keeps the query working when a sink rejects, and logs it', async (t) => {
    const { knex, Counter, batches } = await setup(t, db);
    const logged = captureDebug(t, 'serverpush:objection');
    t.teardown(
      objection({ knex }).attach(async () => {
        throw new Error('sink down');
      }),
    );
    const counter = await Counter.query().insert({ name: 'a' });
    t.is(counter.id, 1);
    await new Promise(setImmediate);
    t.is(batches.length, 1);
    t.true(logged.some((line) => line.includes('could not deliver 1 change(s): Error: sink down')));
  });
}
