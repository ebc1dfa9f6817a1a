import test from 'ava';
import { errorCodes } from '../../core/errors.ts';
import { createPush, type RouteTable } from '../../core/push.ts';
import type { ChangeInput, ChangeMessage, Message } from '../../core/types.ts';
import { closing, page, secret } from '../helpers/push.ts';

// A chat room: public messages (`to: null`) for everyone in it, private ones for their two ends.
interface Viewer {
  readonly id: number;
  readonly role: 'member' | 'admin';
}
type Line = {
  readonly id: number;
  readonly roomId: number;
  readonly from: number;
  readonly to: number | null;
  readonly text: string;
};
const routes: RouteTable = { match: () => ({ name: 'room', params: {} }) };
const viewers = new Map<number, Viewer>([
  [1, { id: 1, role: 'member' }],
  [2, { id: 2, role: 'member' }],
  [3, { id: 3, role: 'member' }],
]);

const line = (id: number, fields: Partial<Line> = {}): Line => ({
  id,
  roomId: 1,
  from: 1,
  to: null,
  text: `line ${id}`,
  ...fields,
});
const insert = (after: Line): ChangeInput => ({ model: 'lines', op: 'insert', id: after.id, after, before: null });
const update = (before: Line | null, after: Line): ChangeInput => ({
  model: 'lines',
  op: 'update',
  id: after.id,
  after,
  before,
});
const remove = (before: Line): ChangeInput => ({ model: 'lines', op: 'delete', id: before.id, after: null, before });
const received = (messages: Message[]) =>
  messages.map((m) => ('effect' in m ? `${m.effect}:${String(m.id)}:${String(m.data)}` : m.name));

function room(t: Parameters<typeof closing>[0]) {
  const push = closing(t, createPush({ secret, routes, authenticate: (id) => viewers.get(Number(id))! }));
  const renders: string[] = [];
  const item = push.fragment('line', (row: Line, viewer) => {
    renders.push(`${viewer.id}:${row.id}`);
    const seen = row.to === null || row.to === viewer.id || row.from === viewer.id;
    return seen ? `<li>${row.text}</li>` : null;
  });
  push.updates('room', () => [{ name: 'line', model: 'lines', params: { roomId: 1 }, serializer: item }]);
  /** Opens a page for each of viewers 1, 2 and 3; returns a function that polls them all. */
  const open = async () => {
    const tokens = [await page(push, '/', 1), await page(push, '/', 2), await page(push, '/', 3)];
    // Open the pages first, so that each change is routed to the three at once.
    for (const token of tokens) await push.poll(token, undefined, { waitMs: 10 });
    return async () =>
      Promise.all(tokens.map(async (token) => received(await push.poll(token, undefined, { waitMs: 200 }))));
  };
  return { push, item, renders, open };
}

test('push.fragment() sends each viewer the HTML its render returns: enter, then update', async (t) => {
  const { push, open, renders } = room(t);
  const poll = await open();
  await push.publish([insert(line(1)), update(line(1), line(1, { text: 'edited' }))]);
  const expected = ['enter:1:<li>line 1</li>', 'update:1:<li>edited</li>'];
  t.deepEqual(await poll(), [expected, expected, expected]);
  // An update renders the row before it too, to tell an update from an enter.
  t.is(renders.length, 9);
});

test('push.fragment() sends nothing to a viewer for whom render returns null and who never saw the row', async (t) => {
  const { push, open } = room(t);
  const poll = await open();
  const secret = line(2, { from: 1, to: 2, text: 'psst' });
  await push.publish([
    insert(secret),
    update(secret, { ...secret, text: 'psst!' }),
    remove({ ...secret, text: 'psst!' }),
  ]);
  const [one, two, three] = await poll();
  t.deepEqual(one, ['enter:2:<li>psst</li>', 'update:2:<li>psst!</li>', 'leave:2:null']);
  t.deepEqual(two, one);
  t.deepEqual(three, []);
});

test('push.fragment() tells a viewer who saw the row that it left when render turns null for it', async (t) => {
  const { push, open } = room(t);
  const poll = await open();
  const shown = line(3);
  const hidden = line(3, { to: 2 });
  await push.publish([insert(shown), update(shown, hidden), update(hidden, shown)]);
  const [one, two, three] = await poll();
  t.deepEqual(one, ['enter:3:<li>line 3</li>', 'update:3:<li>line 3</li>', 'update:3:<li>line 3</li>']);
  t.deepEqual(two, one);
  // Seen, hidden (leave), then shown again: render decides, so it enters anew.
  t.deepEqual(three, ['enter:3:<li>line 3</li>', 'leave:3:null', 'enter:3:<li>line 3</li>']);
});

test('push.fragment() tells only the viewers who saw a row that leaves the params or is deleted', async (t) => {
  const { push, open } = room(t);
  const poll = await open();
  const open1 = line(4);
  const private1 = line(5, { to: 1, from: 2 });
  await push.publish([
    insert(open1),
    insert(private1),
    update(open1, { ...open1, roomId: 2 }),
    update(private1, { ...private1, roomId: 2 }),
  ]);
  const [one, two, three] = await poll();
  t.deepEqual(one, ['enter:4:<li>line 4</li>', 'enter:5:<li>line 5</li>', 'leave:4:null', 'leave:5:null']);
  t.deepEqual(two, one);
  t.deepEqual(three, ['enter:4:<li>line 4</li>', 'leave:4:null']);
});

test('push.fragment() tells every viewer to remove a row it cannot see when the change has no row before', async (t) => {
  const { push, open } = room(t);
  const poll = await open();
  await push.publish(update(null, line(6, { to: 2 })));
  t.deepEqual(await poll(), [['enter:6:<li>line 6</li>'], ['enter:6:<li>line 6</li>'], ['leave:6:null']]);
});

test('push.fragment() renders once per change for viewers whose vary keys are equal', async (t) => {
  const push = closing(t, createPush({ secret, routes, authenticate: (id) => viewers.get(Number(id))! }));
  let renders = 0;
  const item = push.fragment('line', (row: Line, viewer) => {
    renders += 1;
    return `<li data-role="${viewer.role}">${row.text}</li>`;
  });
  push.updates('room', () => [
    { name: 'line', model: 'lines', params: { roomId: 1 }, serializer: item, vary: (ctx) => ctx.viewer.role },
  ]);
  const tokens = [await page(push, '/', 1), await page(push, '/', 2), await page(push, '/', 3)];
  for (const token of tokens) await push.poll(token, undefined, { waitMs: 10 });
  await push.publish(insert(line(7)));
  for (const token of tokens) {
    const [message] = (await push.poll(token, undefined, { waitMs: 200 })) as ChangeMessage[];
    t.is(message?.data, '<li data-role="member">line 7</li>');
  }
  t.is(renders, 1);
});

test('push.fragment() skips a viewer whose render throws or answers neither HTML nor null; the others get theirs', async (t) => {
  const push = closing(t, createPush({ secret, routes, authenticate: (id) => viewers.get(Number(id))! }));
  const item = push.fragment('line', (row: Line, viewer) => {
    if (viewer.id === 1) throw new Error('template broke');
    return (viewer.id === 2 ? 42 : `<li>${row.text}</li>`) as string;
  });
  push.updates('room', () => [{ name: 'line', model: 'lines', serializer: item }]);
  const tokens = [await page(push, '/', 1), await page(push, '/', 2), await page(push, '/', 3)];
  await push.publish([insert(line(8))]);
  const got = await Promise.all(
    tokens.map(async (token) => received(await push.poll(token, undefined, { waitMs: 200 }))),
  );
  t.deepEqual(got, [[], [], ['enter:8:<li>line 8</li>']]);
});

test('push.fragment() throws a TypeError for a bad name, a missing render and a name used twice', (t) => {
  const push = closing(t, createPush({ secret }));
  push.fragment('line', () => null);
  t.throws(() => push.fragment('line', () => null), {
    instanceOf: TypeError,
    message: 'fragment("line"): this push instance has a fragment of that name already',
  });
  t.throws(() => push.fragment('no spaces', () => null), {
    instanceOf: TypeError,
    message: 'fragment(): the name must match /^[A-Za-z_][\\w.:-]{0,63}$/, got "no spaces"',
  });
  t.throws(() => push.fragment('item', 'lines', 'html' as never), {
    instanceOf: TypeError,
    message: 'fragment("item"): the render function must be a function',
  });
  t.throws(() => push.fragment('other', 42, () => null), {
    instanceOf: TypeError,
    message: 'fragment("other"): A spec `model` must be a model name when no ORM adapter is configured',
  });
});

test('push.fragment() of one model, or of another push instance, fails the page of a spec that uses it otherwise', async (t) => {
  const foreign = closing(t, createPush({ secret })).fragment('foreign', () => null);
  for (const [use, message] of [
    [
      (push: ReturnType<typeof createPush>) => push.fragment('user', 'users', () => null),
      '`serializer` is fragment "user" of model users, but the spec\'s model is lines',
    ],
    [() => foreign, '`serializer` is a fragment "foreign" of another push instance'],
  ] as const) {
    const reported: string[] = [];
    const onError = (error: unknown) => void reported.push((error as Error).message);
    const push = closing(t, createPush({ secret, routes, onError }));
    const fragment = use(push);
    push.updates('room', () => [{ name: 'line', model: 'lines', serializer: fragment }]);
    const error = await t.throwsAsync(push.poll(await page(push), undefined, { waitMs: 100 }));
    t.is((error as { code?: string }).code, 'SERVERPUSH_ERR_PAGE');
    t.deepEqual(reported, [`update spec "line" of route "room": ${message}`]);
  }
  t.is(errorCodes.SERVERPUSH_ERR_PAGE, 422);
});
