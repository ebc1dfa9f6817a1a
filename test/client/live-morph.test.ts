// Morphing runs idiomorph, which reads the DOM globals of its realm: these tests bundle the client
// as client/build.mjs does and run it inside the jsdom window, as a page runs serverpush.js.

import test, { type ExecutionContext } from 'ava';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import type { PushClient } from '../../client/index.ts';
import { createPage, type DomWindow } from '../helpers/jsdom.ts';
import { rowChange } from '../helpers/live-page.ts';
import { createPushServerDouble, type PushServerDouble } from '../helpers/push-server-double.ts';

const clientDir = fileURLToPath(new URL('../../client/', import.meta.url));

let bundled: Promise<string> | undefined;
/** The classic script, bundled in memory (idiomorph included), once per test file. */
function script(): Promise<string> {
  bundled ??= build({
    stdin: { contents: "import { start } from './auto.ts';\nstart();\n", resolveDir: clientDir, loader: 'ts' },
    bundle: true,
    platform: 'browser',
    target: 'es2018',
    format: 'iife',
    write: false,
    logLevel: 'silent',
  }).then((result) => result.outputFiles[0]!.text);
  return bundled;
}

async function open(t: ExecutionContext, body: string): Promise<{ window: DomWindow; server: PushServerDouble }> {
  const server = await createPushServerDouble(t);
  const window = createPage(t, {
    url: `${server.origin}/page`,
    body: `${body}<script data-serverpush data-token="T" data-base="/serverpush" data-transports="long-poll" data-share="false"></script>`,
  });
  window.eval(await script());
  const client = (window as unknown as { serverpush: PushClient }).serverpush;
  t.teardown(() => client.close());
  await server.poll(0);
  return { window, server };
}

const item = (id: number, title: string, done: boolean) =>
  `<li data-serverpush-id="${id}" class="${done ? 'done' : 'open'}"><span class="title">${title}</span> <input class="rename" value="${title}"></li>`;

test('connect() morphs a list item with data-serverpush-morph: the same element, and the value being typed stays', async (t) => {
  const { window, server } = await open(
    t,
    `<ul id="list" data-serverpush-list="todo" data-serverpush-html data-serverpush-morph>${item(1, 'milk', false)}</ul>`,
  );
  const { document } = window;
  const before = document.querySelector('[data-serverpush-id="1"]')!;
  const input = before.querySelector('input')!;
  input.focus();
  input.value = 'oat milk, typed';

  server.send(rowChange('todo', 'update', 1, item(1, 'milk!', true)));
  await server.poll(1);
  const after = document.querySelector('[data-serverpush-id="1"]')!;
  t.is(after, before, 'morphed in place, not replaced');
  t.is(after.className, 'done');
  t.is(after.querySelector('.title')?.textContent, 'milk!');
  t.is(after.querySelector('input'), input);
  t.is(input.value, 'oat milk, typed', 'the focused field keeps what the user typed');
  t.is(document.activeElement, input);

  // Enter and leave are the same as without morphing.
  server.send(rowChange('todo', 'enter', 2, item(2, 'bread', false)), rowChange('todo', 'leave', 1, null));
  await server.poll(2);
  t.deepEqual(
    [...document.querySelectorAll('#list > li')].map((li) => li.getAttribute('data-serverpush-id')),
    ['2'],
  );
});

test('connect() replaces a list item without data-serverpush-morph', async (t) => {
  const { window, server } = await open(
    t,
    `<ul data-serverpush-list="todo" data-serverpush-html>${item(1, 'milk', false)}</ul>`,
  );
  const before = window.document.querySelector('[data-serverpush-id="1"]');
  server.send(rowChange('todo', 'update', 1, item(1, 'milk!', true)));
  await server.poll(1);
  const after = window.document.querySelector('[data-serverpush-id="1"]');
  t.not(after, before);
  t.is(after?.className, 'done');
});

test('connect() morphs the children of a data-serverpush-html element with data-serverpush-morph', async (t) => {
  const { window, server } = await open(
    t,
    '<h1 data-serverpush-html="hits" data-serverpush-morph><span id="hits">1</span> hits</h1>',
  );
  const span = window.document.getElementById('hits');
  server.send(rowChange('hits', 'update', 1, '<span id="hits">2</span> hits'));
  await server.poll(1);
  t.is(window.document.getElementById('hits'), span);
  t.is(window.document.querySelector('h1')?.textContent, '2 hits');
});
