import test from 'ava';
import { jsonp } from '../../transports/jsonp.ts';
import { conformance, muxConformance, pushServer } from './conformance.ts';
import { jsonpMux } from './drivers/mux.ts';
import { jsonpDriver, parseScript } from './drivers/jsonp.ts';

conformance(jsonpDriver, () => jsonp({ timeoutMs: 500 }));
muxConformance(jsonpMux, () => jsonp({ timeoutMs: 500 }));

const pollUrl = (base: string, query: Record<string, string>) => `${base}/jsonp?${new URLSearchParams(query)}`;

test('jsonp() answers with a script and every JSONP hardening header', async (t) => {
  const server = await pushServer(t, [jsonp({ timeoutMs: 100 })]);
  const response = await fetch(pollUrl(server.base, { token: await server.page(), callback: 'cb' }));
  t.is(response.status, 200);
  t.is(response.headers.get('content-type'), 'application/javascript; charset=utf-8');
  t.is(response.headers.get('x-content-type-options'), 'nosniff');
  t.is(response.headers.get('content-disposition'), 'attachment; filename=f.txt');
  t.is(response.headers.get('cache-control'), 'no-store');
  t.is(await response.text(), '/**/cb({"messages":[]});');
});

test('jsonp() frames messages as /**/callback({"messages":[…]}); for a dotted callback', async (t) => {
  const server = await pushServer(t, [jsonp({ timeoutMs: 100 })]);
  const token = await server.page();
  await server.publish('one');
  const text = await (await fetch(pollUrl(server.base, { token, callback: 'serverpush._jsonp.c12' }))).text();
  const { messages } = parseScript(text, 'serverpush._jsonp.c12');
  t.is(text, `/**/serverpush._jsonp.c12(${JSON.stringify({ messages })});`);
  t.like(messages?.[0], { name: 'item', op: 'insert', model: 'items', id: 1, data: { title: 'one' } });
});

test('jsonp() answers an empty messages array when nothing changed within timeoutMs', async (t) => {
  const server = await pushServer(t, [jsonp({ timeoutMs: 100 })]);
  const token = await server.page();
  t.is(
    await (await fetch(pollUrl(server.base, { token, callback: 'cb' }))).text(),
    '/**/cb({"messages":[]});',
    'the first poll is answered at once',
  );
  const started = Date.now();
  const held = await fetch(pollUrl(server.base, { token, callback: 'cb' }));
  t.is(held.status, 200);
  t.is(await held.text(), '/**/cb({"messages":[]});');
  t.true(Date.now() - started >= 90);
});

test('jsonp() escapes U+2028 and U+2029 in the JSON it frames', async (t) => {
  const server = await pushServer(t, [jsonp({ timeoutMs: 100 })]);
  const token = await server.page();
  await server.publish('line\u2028paragraph\u2029end');
  const text = await (await fetch(pollUrl(server.base, { token, callback: 'cb' }))).text();
  t.false(/[\u2028\u2029]/.test(text));
  t.true(text.includes('"title":"line\\u2028paragraph\\u2029end"'));
  t.like(parseScript(text, 'cb').messages?.[0], { data: { title: 'line\u2028paragraph\u2029end' } });
});

test('jsonp() answers a bad token 200 with the error and the status long-poll would use', async (t) => {
  const server = await pushServer(t, [jsonp({ timeoutMs: 100 })]);
  const response = await fetch(pollUrl(server.base, { token: 'eyJ2IjoxfQ.AAAA', callback: 'cb' }));
  t.is(response.status, 200);
  t.is(response.headers.get('content-type'), 'application/javascript; charset=utf-8');
  t.is(
    await response.text(),
    '/**/cb({"error":{"code":"SERVERPUSH_ERR_BAD_TOKEN","message":"the page token signature does not verify"},"status":401});',
  );
});

test('jsonp() escapes line separators in an error message that quotes the request', async (t) => {
  const server = await pushServer(t, [jsonp({ timeoutMs: 100 })]);
  const text = await (
    await fetch(pollUrl(server.base, { token: await server.page(), cursor: 'a\u2028b', callback: 'cb' }))
  ).text();
  t.is(
    text,
    '/**/cb({"error":{"code":"SERVERPUSH_ERR_BAD_CURSOR","message":"cursor \\"a\\u2028b\\" is malformed"},"status":400});',
  );
});

test('jsonp() reads the page token only, never a cookie', async (t) => {
  const server = await pushServer(t, [jsonp({ timeoutMs: 100 })]);
  const token = await server.page();
  const response = await fetch(pollUrl(server.base, { callback: 'cb' }), {
    headers: { Cookie: `token=${token}; serverpush=${token}` },
  });
  t.deepEqual(parseScript(await response.text(), 'cb'), {
    error: { code: 'SERVERPUSH_ERR_BAD_TOKEN', message: 'the `token` parameter is required' },
    status: 401,
  });
});

test('jsonp() refuses a missing or malformed callback 400 with a JSON message and calls nothing', async (t) => {
  const server = await pushServer(t, [jsonp({ timeoutMs: 100 })]);
  const token = await server.page();
  const invalid = 'callback must be JavaScript identifiers joined by dots (like "cb" or "a.b"), at most 32 characters';
  const cases: ReadonlyArray<[string | undefined, string]> = [
    [undefined, 'jsonp requires a callback parameter'],
    ['', 'jsonp requires a callback parameter'],
    ['a'.repeat(33), invalid],
    ['alert(1)//', invalid],
    ['a..b', invalid],
    ['a.', invalid],
    ['.a', invalid],
    ['1abc', invalid],
    ['a\u2028b', invalid],
    ['a\u2029b', invalid],
    ['a\nb', invalid],
    ['caf\u00e9', invalid],
    ['cb;alert(1)', invalid],
    ['delete', invalid],
    ['import', invalid],
  ];
  for (const [callback, message] of cases) {
    const response = await fetch(pollUrl(server.base, callback === undefined ? { token } : { token, callback }));
    t.is(response.status, 400, JSON.stringify(callback));
    t.is(response.headers.get('content-type'), 'application/json; charset=utf-8');
    t.is(response.headers.get('x-content-type-options'), 'nosniff');
    t.deepEqual(
      await response.json(),
      { error: { code: 'SERVERPUSH_ERR_BAD_REQUEST', message } },
      JSON.stringify(callback),
    );
  }
});

test('jsonp() accepts identifier paths up to 32 characters, reserved words after a dot', async (t) => {
  const server = await pushServer(t, [jsonp({ timeoutMs: 100 })]);
  const token = await server.page();
  for (const callback of [
    'a'.repeat(32),
    '$',
    '_a.$b.c_1',
    'jQuery.fn.cb',
    'ns.delete',
    'window.__serverpush_jsonp.c1z',
  ]) {
    const response = await fetch(pollUrl(server.base, { token, callback }));
    t.is(response.status, 200, callback);
    t.deepEqual(parseScript(await response.text(), callback), { messages: [] }, callback);
  }
});

test('jsonp() answers a request other than GET 405', async (t) => {
  const server = await pushServer(t, [jsonp({ timeoutMs: 100 })]);
  const response = await fetch(pollUrl(server.base, { token: await server.page(), callback: 'cb' }), {
    method: 'POST',
  });
  t.is(response.status, 405);
  t.is(response.headers.get('allow'), 'GET');
  t.deepEqual(await response.json(), {
    error: { code: 'SERVERPUSH_ERR_BAD_REQUEST', message: 'jsonp accepts GET only' },
  });
});

test('jsonp() validates timeoutMs when it is created', (t) => {
  t.throws(() => jsonp({ timeoutMs: 0 }), {
    instanceOf: TypeError,
    message: 'The `timeoutMs` option must be a positive integer, got 0',
  });
  t.throws(() => jsonp({ timeoutMs: 30_001 }), {
    instanceOf: TypeError,
    message: 'The `timeoutMs` option of jsonp() must be at most 30000, got 30001',
  });
  t.is(jsonp({ timeoutMs: 30_000 }).name, 'jsonp');
});
