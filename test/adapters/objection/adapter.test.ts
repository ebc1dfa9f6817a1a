// None

import test from 'ava';
import { Model } from 'objection';
import { objection, pushable, type ObjectionOptions } from '../../../adapters/objection/index.ts';
import type { ChangeInput } from '../../../core/types.ts';
import { databases, rowOf, setup, testOn } from './setup.ts';

for (const db of databases) {
  const row = rowOf(db);
  const dbTest = testOn(db);

  dbTest('objection().attach() delivers every change to each attached adapter until detached', async (t) => {
    const { knex, Counter, batches } = await setup(t, db);
    const other: Array<readonly ChangeInput[]> = [];
    const detach = objection({ knex }).attach(async (changes) => void other.push(changes));
    await Counter.query().insert({ name: 'a' });
    detach();
    detach();
    await Counter.query().insert({ name: 'b' });
    t.is(batches.length, 2);
    t.is(other.length, 1);
  });

  dbTest('objection() turns model instances into rows with options.toRow', async (t) => {
    const { knex, Counter } = await setup(t, db);
    const rows: unknown[] = [];
    const toRow: ObjectionOptions['toRow'] = (model) => {
      return { kind: model.constructor.name, ...model.$toDatabaseJson() };
    };
    t.teardown(objection({ toRow, knex }).attach(async (changes) => void rows.push(changes[0]?.after)));
    await Counter.query().insert({ name: 'a' });
    // The app's own rows are left as it makes them: sqlite's 0 stays 0.
    t.deepEqual(rows, [{ kind: 'Counter', ...row(1, 'a'), done: db.dialect === 'sqlite' ? 0 : false }]);
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

for (const db of databases.filter((candidate) => candidate.skip === undefined).slice(0, 1)) {
  test('objection() reports the writes of its own knex only: two databases never hear each other', async (t) => {
    const first = await setup(t, db);
    const second = await setup(t, db);
    await first.Counter.query().insert({ name: 'a' });
    await second.Counter.query().insert({ name: 'b' });
    await second.Counter.query().insert({ name: 'c' });
    t.deepEqual(
      first.batches.flat().map(({ after }) => after?.['name']),
      ['a'],
    );
    t.deepEqual(
      second.batches.flat().map(({ after }) => after?.['name']),
      ['b', 'c'],
    );
  });
}

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
