// The columns objection() tells of a model, and the Koa createPush() warning about a spec's params
// on a column its model does not have.

import test, { type ExecutionContext } from 'ava';
import Router from '@koa/router';
import Koa from 'koa';
import { Model, snakeCaseMappers } from 'objection';
import { createPush } from '../../../adapters/koa/index.ts';
import { objection, pushable } from '../../../adapters/objection/index.ts';
import { longPoll } from '../../../transports/long-poll.ts';
import { secret } from '../../helpers/push.ts';
import { listen } from '../../helpers/server.ts';
import { until } from '../../helpers/until.ts';
import { databases, testOn } from './setup.ts';
import { captureConsole } from '../../helpers/console.ts';

async function todos(t: ExecutionContext, db: (typeof databases)[number]) {
  const knex = await db.connect(t);
  await knex.schema.createTable('todos', (table) => {
    table.increments('id');
    table.integer('owner_id');
    table.string('title');
    table.json('meta');
  });
  class Todo extends pushable(Model) {
    static override tableName = 'todos';
    static override columnNameMappers = snakeCaseMappers();
    static override virtualAttributes = ['label'];
  }
  return { knex, Todo };
}

for (const db of databases) {
  const dbTest = testOn(db);

  dbTest(
    'objection().columns() reads the table through knex, in property names, with virtual attributes',
    async (t) => {
      const { knex, Todo } = await todos(t, db);
      t.deepEqual([...((await objection({ knex }).columns(Todo)) ?? [])].sort(), [
        'id',
        'label',
        'meta',
        'ownerId',
        'title',
      ]);
    },
  );
}

test('objection().columns() takes jsonSchema properties when no knex is known, and cannot tell otherwise', async (t) => {
  class Note extends Model {
    static override tableName = 'notes_without_knex';
    static override jsonSchema = { type: 'object', properties: { id: { type: 'integer' }, text: { type: 'string' } } };
  }
  class Bare extends Model {
    static override tableName = 'bare_without_knex';
  }
  t.deepEqual(await objection().columns(Note), ['id', 'text']);
  t.is(await objection().columns(Bare), undefined);
  t.is(await objection().columns('notes'), undefined, 'a model name says nothing of columns');
  t.is(await objection({ toRow: (model) => model.$toJson() }).columns(Note), undefined, 'custom rows are the app’s');
});

for (const db of databases) {
  const serialTest = db.skip === undefined ? test.serial : test.skip;

  serialTest(
    `createPush() with objection() warns once per model and column about params on a column the model does not have (${db.dialect})`,
    async (t) => {
      const warnings = captureConsole(t, 'warn');
      const { knex, Todo } = await todos(t, db);
      const router = new Router();
      const push = createPush({ secret, router, orm: objection({ knex }), transports: [longPoll({ timeoutMs: 200 })] });
      t.teardown(() => push.close());
      router.get('todos', '/users/:id/todos', (ctx) => void (ctx.body = ctx.state.serverpush.tag()));
      push.updates('todos', (ctx) => [
        { name: 'mine', model: Todo, params: { ownerId: ctx.params['id']! } },
        { name: 'typo', model: Todo, params: { ownr: ctx.params['id']!, 'meta.color': 'red' } },
        { name: 'again', model: Todo, params: { ownr: ctx.params['id']! } },
      ]);
      push.global(async () => [{ name: 'labelled', model: Todo, params: { label: 'x', titel: 'y' } }]);
      const app = new Koa().use(push.routes()).use(push.middleware()).use(router.routes());
      const { url } = await listen(t, app.callback());
      for (const user of [1, 2]) {
        const html = await (await fetch(`${url}/users/${user}/todos`)).text();
        const token = /data-token="([^"]+)"/.exec(html)![1]!;
        t.is((await fetch(`${url}/serverpush/long-poll?token=${token}`)).status, 204);
      }
      await until(() => warnings.length === 2);
      const columns = '(its columns: id, ownerId, title, meta, label)';
      t.deepEqual(
        warnings.map(([line]) => String(line).replace(/\(its columns: [^)]*\)/, (list) => sortedList(list))),
        [
          `serverpush: update spec "typo" of route "todos" filters on "ownr", but model todos has no column "ownr", so it never matches ${sortedList(columns)}`,
          `serverpush: update spec "labelled" of route "todos" filters on "titel", but model todos has no column "titel", so it never matches ${sortedList(columns)}`,
        ],
      );
    },
  );
}

/** `(its columns: …)` with the columns sorted, as databases list them in their own order. */
function sortedList(list: string): string {
  const names = list.slice('(its columns: '.length, -1).split(', ').sort();
  return `(its columns: ${names.join(', ')})`;
}
