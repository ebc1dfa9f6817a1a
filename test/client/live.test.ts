import test from 'ava';
import type { PushEvent } from '../../client/index.ts';
import { livePage, rowChange } from '../helpers/live-page.ts';

const items = (list: Element | null) =>
  [...(list?.children ?? [])]
    .filter((child) => child.localName !== 'template')
    .map((child) => `${child.getAttribute('data-serverpush-id')}:${child.textContent}`);

const fragment = (id: number, text: string) => `<li class="row" data-serverpush-id="${id}"><b>${text}</b></li>`;

test('connect() applies enter, update and leave to a data-serverpush-list by row id', async (t) => {
  const page = await livePage(t, {
    body: `<ul id="list" data-serverpush-list="row" data-serverpush-html>${fragment(1, 'one')}</ul>`,
  });
  const list = page.document.getElementById('list');

  await page.send(rowChange('row', 'enter', 2, fragment(2, 'two')), rowChange('row', 'enter', 3, fragment(3, 'three')));
  t.deepEqual(items(list), ['1:one', '2:two', '3:three']);

  await page.send(rowChange('row', 'update', 2, fragment(2, 'TWO')));
  t.deepEqual(items(list), ['1:one', '2:TWO', '3:three'], 'replaced where it was');
  t.is(list?.querySelector('[data-serverpush-id="2"] b')?.textContent, 'TWO', 'parsed as HTML');

  await page.send(rowChange('row', 'leave', 1, null), rowChange('row', 'leave', 9, null));
  t.deepEqual(items(list), ['2:TWO', '3:three'], 'a leave of a row the list lacks changes nothing');

  // An update for a row the page did not have adds it; one with no content for this viewer removes it.
  await page.send(rowChange('row', 'update', 4, fragment(4, 'four')), rowChange('row', 'update', 3, null));
  t.deepEqual(items(list), ['2:TWO', '4:four']);
  t.deepEqual(page.reported, []);
});

test('connect() prepends to a list with data-serverpush-insert="prepend", and keys an item that lacks its id', async (t) => {
  const page = await livePage(t, {
    body: '<ol id="list" data-serverpush-list="row" data-serverpush-html data-serverpush-insert="prepend"></ol>',
  });
  const list = page.document.getElementById('list');
  await page.send(rowChange('row', 'enter', 1, '<li>one</li>'), rowChange('row', 'enter', 2, '  <li>two</li>\n'));
  await page.send(rowChange('row', 'update', 1, '<li>ONE</li>'));
  t.deepEqual(items(list), ['2:two', '1:ONE']);

  // A composite key is written with its parts joined by commas.
  await page.send(rowChange('row', 'enter', [7, 'b'], '<li>composite</li>'));
  t.deepEqual(items(list), ['7,b:composite', '2:two', '1:ONE']);
  await page.send(rowChange('row', 'leave', [7, 'b'], null));
  t.deepEqual(items(list), ['2:two', '1:ONE']);
});

test('connect() fills a list item from its <template>, placing each field as text, never as HTML', async (t) => {
  const page = await livePage(t, {
    body: `<ul id="list" data-serverpush-list="message">
      <template><li><strong data-serverpush-field="author.name"></strong>: <span data-serverpush-field="text"></span></li></template>
    </ul>`,
  });
  const list = page.document.getElementById('list');
  const hostile = '<img src="x" onerror="window.pwned = true">';
  await page.send(rowChange('message', 'enter', 1, { author: { name: 'alice' }, text: hostile }));
  t.deepEqual(items(list), [`1:alice: ${hostile}`]);
  t.is(list?.querySelector('img'), null, 'the row value is text');

  await page.send(rowChange('message', 'update', 1, { author: { name: 'alice' }, text: 'edited' }));
  t.deepEqual(items(list), ['1:alice: edited']);
  // A missing field is empty; the prototype is never read.
  await page.send(rowChange('message', 'enter', 2, { author: null, text: 'anonymous', constructor: undefined }));
  t.deepEqual(items(list), ['1:alice: edited', '2:: anonymous']);
  t.deepEqual(page.reported, []);
});

test('connect() shows a payload as a plain item of a list without template or HTML', async (t) => {
  const page = await livePage(t, {
    body: `<ul id="tags" data-serverpush-list="tag"></ul>
      <div id="names" data-serverpush-list="person" data-serverpush-field="name"></div>`,
  });
  await page.send(rowChange('tag', 'enter', 'a', '<b>bold?</b>'), rowChange('person', 'enter', 5, { name: 'bob' }));
  const tags = page.document.getElementById('tags');
  t.deepEqual(items(tags), ['a:<b>bold?</b>']);
  t.is(tags?.firstElementChild?.localName, 'li');
  t.is(page.document.querySelector('#names > div')?.textContent, 'bob');
});

test('connect() refuses to parse row data as HTML: a list with data-serverpush-html needs a whole string', async (t) => {
  const page = await livePage(t, {
    body: '<ul id="list" data-serverpush-list="row" data-serverpush-html><li data-serverpush-id="1">kept</li></ul>',
  });
  await page.send(
    rowChange('row', 'update', 1, { html: '<b>x</b>' }),
    rowChange('row', 'enter', 2, '<li>a</li><li>b</li>'),
    rowChange('row', 'enter', 3, 'just text'),
  );
  t.deepEqual(items(page.document.getElementById('list')), ['1:kept']);
  t.deepEqual(
    page.reported.map((error) => [(error as Error).name, (error as Error).message]),
    [
      [
        'TypeError',
        'serverpush: <ul data-serverpush-list="row" data-serverpush-html> needs an HTML string per item; row 1 carried an object',
      ],
      [
        'TypeError',
        'serverpush: <ul data-serverpush-list="row" data-serverpush-html> needs one element per item; the fragment of row 2 has 2',
      ],
      [
        'TypeError',
        'serverpush: <ul data-serverpush-list="row" data-serverpush-html> needs one element per item; the fragment of row 3 has 0',
      ],
    ],
  );
});

test('connect() sets the text of a data-serverpush-text element, picking data-serverpush-field, for its data-serverpush-id only', async (t) => {
  const page = await livePage(t, {
    body: `<span id="hits" data-serverpush-text="hits">0</span>
      <span id="total" data-serverpush-text="stats" data-serverpush-field="counts.total">?</span>
      <span id="seven" data-serverpush-text="stats" data-serverpush-field="name" data-serverpush-id="7">seven</span>`,
  });
  const text = (id: string) => page.document.getElementById(id)?.textContent;
  await page.send(rowChange('hits', 'update', 1, '<i>12</i>'));
  t.is(text('hits'), '<i>12</i>');
  t.is(page.document.querySelector('#hits i'), null);

  await page.send(rowChange('stats', 'update', 3, { counts: { total: 41 }, name: 'three' }));
  t.deepEqual([text('total'), text('seven')], ['41', 'seven']);
  await page.send(rowChange('stats', 'update', 7, { counts: { total: 42 }, name: 'SEVEN' }));
  t.deepEqual([text('total'), text('seven')], ['42', 'SEVEN']);

  await page.send(rowChange('hits', 'update', 1, { hits: 13 }));
  t.is(text('hits'), '<i>12</i>', 'an object without a field is left out');
  t.deepEqual(
    page.reported.map((error) => (error as Error).message),
    [
      'serverpush: <span data-serverpush-text="hits"> shows text, and hits 1 carried an object there; name a field with data-serverpush-field',
    ],
  );
});

test('connect() places a string payload as HTML in a data-serverpush-html element, and nothing else', async (t) => {
  const page = await livePage(t, {
    body: `<p id="card" data-serverpush-html="card">old</p>
      <p id="bio" data-serverpush-html="profile" data-serverpush-field="bio">kept</p>`,
  });
  const card = page.document.getElementById('card');
  await page.send(rowChange('card', 'update', 1, '<strong>fresh</strong> card'));
  t.is(card?.innerHTML, '<strong>fresh</strong> card');
  await page.send(rowChange('card', 'update', 1, { html: '<b>row data</b>' }));
  t.is(card?.innerHTML, '<strong>fresh</strong> card');
  await page.send(rowChange('card', 'leave', 1, null));
  t.is(card?.innerHTML, '');

  await page.send(rowChange('profile', 'update', 1, { bio: '<script>alert(1)</script>' }));
  t.is(page.document.getElementById('bio')?.textContent, 'kept');
  t.deepEqual(
    page.reported.map((error) => (error as Error).message),
    [
      'serverpush: <p data-serverpush-html="card"> needs an HTML string; card 1 carried an object',
      'serverpush: <p data-serverpush-html="profile" data-serverpush-field="bio"> has data-serverpush-field: HTML is placed only from a whole string the server rendered, never from a field of row data; use data-serverpush-text to show a field',
    ],
  );
});

test('connect() dispatches serverpush:<name> and calls client.on handlers before it updates the live elements', async (t) => {
  const page = await livePage(t, {
    body: '<ul id="list" data-serverpush-list="row" data-serverpush-html></ul>',
  });
  const list = page.document.getElementById('list');
  const seen: string[] = [];
  page.document.addEventListener('serverpush:row', (event) => {
    seen.push(
      `event ${(event as PushEvent).message.effect}, ${items(list).length} items, cancelable ${event.cancelable}`,
    );
  });
  page.client.on('row', (_data, message, event) => {
    seen.push(`on ${message.effect}, ${items(list).length} items, same event ${event.type}`);
  });
  await page.send(rowChange('row', 'enter', 1, '<li>one</li>'));
  t.deepEqual(seen, ['event enter, 0 items, cancelable true', 'on enter, 0 items, same event serverpush:row']);
  t.deepEqual(items(list), ['1:one']);
});

test('connect() leaves the live elements alone when serverpush:<name> is cancelled, by the event, client.on or jQuery', async (t) => {
  const page = await livePage(t, {
    jquery: true,
    body: `<ul id="list" data-serverpush-list="row" data-serverpush-html></ul><span id="hits" data-serverpush-text="hits">0</span>`,
  });
  const list = page.document.getElementById('list');
  page.document.addEventListener('serverpush:row', (event) => {
    if ((event as PushEvent).message.id === 1) event.preventDefault();
  });
  page.client.on('row', (_data, message, event) => {
    if (message.id === 2) event.preventDefault();
  });
  page.window.eval(`jQuery(document).on('serverpush_hits', function () { return false; });`);

  await page.send(
    rowChange('row', 'enter', 1, '<li>one</li>'),
    rowChange('row', 'enter', 2, '<li>two</li>'),
    rowChange('row', 'enter', 3, '<li>three</li>'),
    rowChange('hits', 'update', 1, 5),
  );
  t.deepEqual(items(list), ['3:three']);
  t.is(page.document.getElementById('hits')?.textContent, '0');
});

test('connect() updates every element bound to a name, and reports a bad data-serverpush-insert', async (t) => {
  const page = await livePage(t, {
    body: `<ul id="a" data-serverpush-list="row" data-serverpush-html></ul>
      <ul id="b" data-serverpush-list="row" data-serverpush-insert="top"></ul>
      <span id="c" data-serverpush-text="row" data-serverpush-field="x"></span>`,
  });
  await page.send(rowChange('row', 'enter', 1, '<li>one</li>'));
  t.deepEqual(items(page.document.getElementById('a')), ['1:one']);
  t.deepEqual(items(page.document.getElementById('b')), ['1:<li>one</li>'], 'appended, as text');
  t.is(page.document.getElementById('c')?.textContent, '');
  t.deepEqual(
    page.reported.map((error) => (error as Error).message),
    [
      'serverpush: <ul data-serverpush-list="row" data-serverpush-insert="top"> has data-serverpush-insert="top"; use "append" (the default) or "prepend"',
    ],
  );
});
