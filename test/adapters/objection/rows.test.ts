// What the app's functions receive with objection(): the same parsed rows on sqlite and PostgreSQL,
// through the memory log and the knex log alike.

import type { ExecutionContext } from 'ava';
import type { Knex } from 'knex';
import { Model } from 'objection';
import { knexLog } from '../../../adapters/knex-log/index.ts';
import { up } from '../../../adapters/knex-log/migration.ts';
import { objection, pushable } from '../../../adapters/objection/index.ts';
import { memoryLog } from '../../../core/memory-log.ts';
import { createPush, type RouteTable } from '../../../core/push.ts';
import type { ChangeMessage, Message } from '../../../core/types.ts';
import { closing, page, secret } from '../../helpers/push.ts';
import { databases, testOn } from './setup.ts';

const routes: RouteTable = { match: () => ({ name: 'notes', params: {} }) };

/** A pushable `notes` model: a boolean column, a JSON column (no `jsonAttributes`), a virtual attribute, a getter and a method. */
async function notes(knex: Knex) {
  await knex.schema.createTable('notes', (table) => {
    table.increments('id');
    table.string('title').notNullable();
    table.boolean('edited').notNullable().defaultTo(false);
    table.json('meta');
    table.timestamp('at').notNullable().defaultTo('2024-05-06T07:08:09.000Z');
  });
  class Note extends pushable(Model) {
    static override tableName = 'notes';
    static override virtualAttributes = ['shout'];
    declare id: number;
    declare title: string;
    declare edited: boolean;
    declare meta: { color: string } | null;
    declare at: string;
    get shout(): string {
      return this.title.toUpperCase();
    }
    /** A getter the model does not list as virtual: only an instance has it. */
    get whisper(): string {
      return this.title.toLowerCase();
    }
    /** A method: only an instance has it. */
    summary(): string {
      return `${this.title} (${this.edited ? 'edited' : 'new'})`;
    }
  }
  Note.knex(knex);
  return Note;
}

type NoteClass = Awaited<ReturnType<typeof notes>>;

/** A push instance on `knex` with specs that read the notes' rows every way a spec can. */
async function pushOn(t: ExecutionContext, knex: Knex, logKind: 'memory' | 'knex', Note: NoteClass) {
  if (logKind === 'knex') await up(knex);
  const log = logKind === 'memory' ? memoryLog() : await knexLog({ knex, pollIntervalMs: 20 });
  const push = closing(t, createPush({ secret, routes, orm: objection({ knex }), log }));
  const seen: unknown[] = [];
  const item = push.fragment('note', Note, (note) => {
    seen.push(note);
    return `<li>${note.title} (${note.edited ? 'edited' : 'new'}) ${note.whisper}</li>`;
  });
  push.updates('notes', () => [
    { name: 'equal', model: Note, params: { edited: true, 'meta.color': 'red' }, data: { id: 'id' } },
    {
      name: 'predicate',
      model: Note,
      params: (note) => note.edited && note.meta?.color === 'red',
      data: { id: 'id' },
    },
    {
      name: 'map',
      model: Note,
      data: { edited: 'edited', color: 'meta.color', shout: 'shout', at: 'at' },
    },
    {
      name: 'function',
      model: Note,
      serializer: (_ctx, note) => {
        seen.push(note);
        return { edited: note.edited, color: note.meta?.color, shout: note.shout, whisper: note.whisper };
      },
    },
    { name: 'fragment', model: Note, serializer: item },
  ]);
  return { push, seen };
}

const byName = (messages: Message[]) =>
  Object.fromEntries((messages as ChangeMessage[]).map((m) => [`${m.name}:${m.effect}`, m.data]));

for (const db of databases) {
  const dbTest = testOn(db);
  for (const logKind of ['memory', 'knex'] as const) {
    dbTest(`objection() hands predicates, serializers and fragments parsed model rows (${logKind} log)`, async (t) => {
      const knex = await db.connect(t);
      const Note = await notes(knex);
      const { push, seen } = await pushOn(t, knex, logKind, Note);
      const token = await page(push, '/notes');
      await push.poll(token, undefined, { waitMs: 10 });
      const note = await Note.query().insert({ title: 'Hello', meta: { color: 'red' } });
      await Note.query().patch({ edited: true }).where('id', note.id);
      const messages: Message[] = [];
      let cursor: string | undefined;
      while (messages.filter((m) => 'cursor' in m).length < 6) {
        const got = await push.poll(token, cursor, { waitMs: 2_000 });
        if (got.length === 0) break;
        messages.push(...got);
        cursor = (got.at(-1) as ChangeMessage).cursor;
      }
      t.deepEqual(byName(messages), {
        'map:enter': { edited: false, color: 'red', shout: 'HELLO', at: '2024-05-06T07:08:09.000Z' },
        'function:enter': { edited: false, color: 'red', shout: 'HELLO', whisper: 'hello' },
        'fragment:enter': '<li>Hello (new) hello</li>',
        'equal:enter': { id: note.id },
        'predicate:enter': { id: note.id },
        'map:update': { edited: true, color: 'red', shout: 'HELLO', at: '2024-05-06T07:08:09.000Z' },
        'function:update': { edited: true, color: 'red', shout: 'HELLO', whisper: 'hello' },
        'fragment:update': '<li>Hello (edited) hello</li>',
      });
      // Instances, methods included (typed as the model's data, `ModelObject<Note>`).
      // The function ran twice; the fragment on the insert, then on the update after and before it.
      t.deepEqual(seen.map((row) => (row instanceof Note ? row.summary() : row)).sort(), [
        'Hello (edited)',
        'Hello (edited)',
        'Hello (new)',
        'Hello (new)',
        'Hello (new)',
      ]);
    });
  }

  dbTest('objection() logs rows in the same form on every database: booleans, parsed JSON, ISO dates', async (t) => {
    const knex = await db.connect(t);
    const Note = await notes(knex);
    const log = memoryLog();
    const push = closing(t, createPush({ secret, orm: objection({ knex }), log }));
    const head = await log.head();
    await Note.query().insert({ title: 'Hello', meta: { color: 'red' } });
    await push.publish([]);
    const result = await log.since(head);
    t.true(result.ok);
    t.deepEqual(result.ok ? result.changes.map((change) => change.after) : [], [
      { id: 1, title: 'Hello', edited: false, meta: { color: 'red' }, at: '2024-05-06T07:08:09.000Z', shout: 'HELLO' },
    ]);
  });
}
