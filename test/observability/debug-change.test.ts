// DEBUG=serverpush:change: one line per change, saying whom it reached. Captured through debug's
// own `log` override, with the namespace enabled by `debug.enable()` as DEBUG would.

import { formatWithOptions, stripVTControlCharacters } from 'node:util';
import test from 'ava';
import createDebug from 'debug';
import { createPush, type RouteTable } from '../../core/push.ts';
import type { ChangeMessage, Message } from '../../core/types.ts';
import { closing, page, secret } from '../helpers/push.ts';
import { until } from '../helpers/until.ts';

const lines: string[] = [];
createDebug.enable('serverpush:change');
createDebug.log = (...args: unknown[]) => {
  // The namespace and colours are in the arguments already; the line is what would reach stderr.
  lines.push(stripVTControlCharacters(formatWithOptions({ colors: false }, ...args)));
};

const routes: RouteTable = { match: () => ({ name: 'list', params: { id: '1' } }) };

test.serial(
  'DEBUG=serverpush:change prints one line for a change that reached two pages and was dropped by authorize for a third',
  async (t) => {
    // Carol may not see the list's tasks any more: `authorize` drops them for her page.
    const push = closing(t, createPush({ secret, routes, authorize: (ctx) => ctx.identity !== 'carol' }));
    push.updates('list', (ctx) => [
      { name: 'task', model: 'tasks', params: { listId: ctx.params['id']! }, data: { title: 'title' } },
    ]);
    const tokens = await Promise.all(['alice', 'bob', 'carol'].map((who) => page(push, '/lists/1', who)));
    // Each page's first poll opens it; the second is held while the change is routed.
    const opened = await Promise.all(tokens.map((token) => push.poll(token, undefined, { waitMs: 1_000 })));
    t.deepEqual(opened, [[], [], []]);
    const held = tokens.map((token) => push.poll(token, undefined, { waitMs: 1_000 }));
    await until(() => push.stats().connections === 3);
    lines.length = 0;
    await push.publish({ model: 'tasks', op: 'update', id: 7, after: { id: 7, listId: 1, title: 'milk' } });
    const received = (await Promise.all(held)).map((messages: Message[]) =>
      messages.map((message) => (message as ChangeMessage).data),
    );
    t.deepEqual(received, [[{ title: 'milk' }], [{ title: 'milk' }], []]);
    await until(() => lines.length === 1);
    t.regex(
      lines[0]!,
      /serverpush:change tasks 7 update: 3 pages through 3 specs; delivered 2, dropped 1 \(authorize 1, serializer 0\), waiting 0, skipped 0; \d+\.\d\d ms/,
    );
  },
);

test.serial('DEBUG=serverpush:change says so of a change no page listens to, and of pages nobody holds', async (t) => {
  const push = closing(t, createPush({ secret, routes }));
  push.updates('list', (ctx) => [
    {
      name: 'task',
      model: 'tasks',
      params: { listId: ctx.params['id']! },
      // A function that gives a viewer nothing: the page's message is dropped by its serializer.
      serializer: (_ctx, row) => {
        if (row['title'] === 'nothing') throw new Error('nothing to show');
        return row['title'];
      },
    },
  ]);
  const token = await page(push, '/lists/1', 'alice');
  await push.poll(token, undefined, { waitMs: 1_000 });
  lines.length = 0;
  await push.publish({ model: 'notes', op: 'insert', id: 1, after: { id: 1 } });
  // No connection holds the page between two polls: it takes the change, serialized when it is held.
  await push.publish({ model: 'tasks', op: 'insert', id: [2, 'b'], after: { id: 2, listId: 1, title: 'later' } });
  const held = push.poll(token, undefined, { waitMs: 1_000 });
  await until(() => push.stats().connections === 1);
  await push.publish({ model: 'tasks', op: 'insert', id: 3, after: { id: 3, listId: 1, title: 'nothing' } });
  t.deepEqual(
    (await held).map((message) => (message as ChangeMessage).data),
    ['later'],
  );
  await until(() => lines.length === 3);
  t.regex(
    lines[0]!,
    /serverpush:change notes 1 insert: 0 pages through 0 specs; delivered 0, dropped 0 \(authorize 0, serializer 0\), waiting 0, skipped 0; /,
  );
  t.regex(
    lines[1]!,
    /serverpush:change tasks \[2,"b"\] insert: 1 page through 1 spec; delivered 0, dropped 0 \(authorize 0, serializer 0\), waiting 1, skipped 0; /,
  );
  t.regex(
    lines[2]!,
    /serverpush:change tasks 3 insert: 1 page through 1 spec; delivered 0, dropped 1 \(authorize 0, serializer 1\), waiting 0, skipped 0; /,
  );
});
