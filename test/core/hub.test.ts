import test from 'ava';
import { createHub, type Subscription } from '../../core/hub.ts';
import type { Change, Row } from '../../core/types.ts';

let cursor = 0;
const change = (after: Row | null, before: Row | null = null, model = 'todos'): Change => ({
  model,
  op: after === null ? 'delete' : before === null ? 'insert' : 'update',
  id: Number((after ?? before)?.['id']),
  after,
  before,
  at: 0,
  cursor: `t.${++cursor}`,
});

const sub = (
  owner: string,
  equalities: Subscription<string>['equalities'] = [],
  model = 'todos',
): Subscription<string> => ({ model, equalities, owner });
const owners = (found: Iterable<Subscription<string>>) => [...found].map((s) => s.owner).sort();

test('createHub() match() finds subscriptions without params for every row of their model', (t) => {
  const hub = createHub<string>();
  hub.add(sub('all'));
  hub.add(sub('other', [], 'users'));
  t.deepEqual(owners(hub.match(change({ id: 1, ownerId: 7 }))), ['all']);
});

test('createHub() match() finds equality subscriptions by the row after or before the change', (t) => {
  const hub = createHub<string>();
  hub.add(sub('alice', [['ownerId', 7]]));
  hub.add(sub('bob', [['ownerId', 8]]));
  hub.add(sub('carol', [['ownerId', 9]]));
  t.deepEqual(owners(hub.match(change({ id: 1, ownerId: 7 }))), ['alice']);
  // The row moved from bob to alice: both pages hear of it.
  t.deepEqual(owners(hub.match(change({ id: 1, ownerId: 7 }, { id: 1, ownerId: 8 }))), ['alice', 'bob']);
  // A delete carries only the row before.
  t.deepEqual(owners(hub.match(change(null, { id: 1, ownerId: 9 }))), ['carol']);
});

test('createHub() match() compares string forms, so a route param matches a numeric column', (t) => {
  const hub = createHub<string>();
  hub.add(sub('param', [['id', '7']]));
  hub.add(sub('flag', [['done', true]]));
  t.deepEqual(owners(hub.match(change({ id: 7, done: 0 }))), ['param']);
  t.deepEqual(owners(hub.match(change({ id: 8, done: 1 }))), ['flag']);
});

test('createHub() match() needs every equality of a subscription to hold', (t) => {
  const hub = createHub<string>();
  hub.add(
    sub('both', [
      ['teamId', 1],
      ['done', false],
    ]),
  );
  t.deepEqual(owners(hub.match(change({ id: 1, teamId: 1, done: false }))), ['both']);
  t.deepEqual(owners(hub.match(change({ id: 1, teamId: 1, done: true }))), []);
  t.deepEqual(owners(hub.match(change({ id: 1, teamId: 2, done: false }))), []);
});

test('createHub() match() follows dotted paths and tests predicates', (t) => {
  const hub = createHub<string>();
  hub.add(sub('nested', [['meta.kind', 'a']]));
  hub.add({ model: 'todos', equalities: [], predicate: (row) => Number(row['id']) > 10, owner: 'big' });
  t.deepEqual(owners(hub.match(change({ id: 11, meta: { kind: 'a' } }))), ['big', 'nested']);
  t.deepEqual(owners(hub.match(change({ id: 1, meta: { kind: 'b' } }))), []);
});

test('createHub() keys stay unambiguous whatever the values hold', (t) => {
  const hub = createHub<string>();
  hub.add(
    sub('pair', [
      ['a', 'x"],["sy'],
      ['b', 'z'],
    ]),
  );
  t.deepEqual(owners(hub.match(change({ id: 1, a: 'x', b: 'y"],["sz' }))), []);
});

test('createHub() remove() drops a subscription and size follows', (t) => {
  const hub = createHub<string>();
  const a = sub('a', [['id', 1]]);
  const b = sub('b');
  hub.add(a);
  hub.add(b);
  t.is(hub.size, 2);
  hub.remove(a);
  hub.remove(b);
  hub.remove(b);
  t.is(hub.size, 0);
  t.deepEqual(owners(hub.match(change({ id: 1 }))), []);
});

test('createHub() match() finds a subscription once when the rows before and after both match it', (t) => {
  const hub = createHub<string>();
  hub.add(sub('team', [['teamId', 1]]));
  hub.add(sub('all'));
  t.deepEqual(owners(hub.match(change({ id: 1, teamId: 1, title: 'b' }, { id: 1, teamId: 1, title: 'a' }))), [
    'all',
    'team',
  ]);
});
