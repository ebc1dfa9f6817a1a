// Presence in the browser client: the member list a page keeps from presence messages (a list sent
// again becomes the joins and leaves it implies), the presence elements, and connect() in jsdom
// against a real server: `serverpush:presence` on the document and `client.on('presence')`.

import test from 'ava';
import { connect } from '../../client/index.ts';
import { createPresenceState, showPresence, type PresenceDetail } from '../../client/presence.ts';
import { resolveGlobals } from '../../client/globals.ts';
import { memoryLog } from '../../core/memory-log.ts';
import type { PresenceMessage } from '../../core/types.ts';
import { createPage, pageGlobals } from '../helpers/jsdom.ts';
import { until } from '../helpers/until.ts';
import { Tab, testServer } from './helpers.ts';

const channel = 'list:1';
const alice = { id: 'a', data: { name: 'Alice' } };
const bob = { id: 'b', data: { name: 'Bob' } };
const dave = { id: 'd', data: { name: 'Dave' } };
const here = (members: (typeof alice)[], count = members.length): PresenceMessage => ({
  name: 'presence',
  channel,
  type: 'here',
  members,
  self: 'a',
  count,
});
const brief = (details: PresenceDetail[]) =>
  details.map((detail) => [detail.type, detail.member?.id, detail.members.map((m) => m.id).join(''), detail.count]);

test('createPresenceState() turns a list sent again into the joins and leaves it implies', (t) => {
  const state = createPresenceState();
  t.deepEqual(brief(state.apply(here([alice, bob]))), [['here', undefined, 'ab', 2]]);
  // The same list after a reconnect: nothing happened.
  t.deepEqual(brief(state.apply(here([alice, bob]))), []);
  t.deepEqual(brief(state.apply({ name: 'presence', channel, type: 'join', member: dave, count: 3 })), [
    ['join', 'd', 'abd', 3],
  ]);
  // A join already known (sent before a reconnect and again after it) is not a second join.
  t.deepEqual(brief(state.apply({ name: 'presence', channel, type: 'join', member: dave, count: 3 })), []);
  // Bob left and Erin... no: Dave stays, Bob left while the page was away.
  t.deepEqual(brief(state.apply(here([alice, dave]))), [['leave', 'b', 'ad', 2]]);
  t.deepEqual(brief(state.apply({ name: 'presence', channel, type: 'count', count: 7 })), [
    ['count', undefined, 'ad', 7],
  ]);
  t.deepEqual(brief(state.apply(here([alice, dave], 6))), [['count', undefined, 'ad', 6]]);
  t.deepEqual(brief(state.apply({ name: 'presence', channel, type: 'leave', member: dave, count: 5 })), [
    ['leave', 'd', 'a', 5],
  ]);
  // The page may no longer see the channel: its members leave, and it is forgotten.
  t.deepEqual(brief(state.apply({ name: 'presence', channel, type: 'here', members: [], count: 0 })), [
    ['leave', 'a', '', 0],
  ]);
  t.deepEqual(brief(state.apply({ name: 'presence', channel, type: 'join', member: bob, count: 1 })), []);
});

test('showPresence() fills data-serverpush-presence lists and counts, marking the viewer', (t) => {
  const window = createPage(t, {
    url: 'http://127.0.0.1/',
    body: `<ul id="plain" data-serverpush-presence data-serverpush-field="name"><li>stale</li></ul>
      <ul id="templated" data-serverpush-presence="list:1"><template><li><b data-serverpush-field="name"></b> is here</li></template></ul>
      <ul id="other" data-serverpush-presence="list:2"><li>untouched</li></ul>
      <span id="count" data-serverpush-presence-count></span>
      <span id="others" data-serverpush-presence-others></span>
      <ul id="broken" data-serverpush-presence></ul>`,
  });
  const reported: unknown[] = [];
  const globals = resolveGlobals(pageGlobals(window, { reportError: (error) => reported.push(error) }));
  const [detail] = createPresenceState().apply(here([alice, bob], 5));
  showPresence(globals, detail!);
  const $ = (selector: string) => window.document.querySelector(selector)!;
  t.is(
    $('#plain').innerHTML,
    '<li data-serverpush-id="a" data-serverpush-self="">Alice</li><li data-serverpush-id="b">Bob</li>',
  );
  t.is(
    $('#templated').innerHTML.replace(/<template>.*<\/template>/, ''),
    '<li data-serverpush-id="a" data-serverpush-self=""><b data-serverpush-field="name">Alice</b> is here</li><li data-serverpush-id="b"><b data-serverpush-field="name">Bob</b> is here</li>',
  );
  t.is($('#other').textContent, 'untouched');
  t.is($('#count').textContent, '5');
  t.is($('#others').textContent, '4');
  // A list without a field shows each member's data as text: an object there is the markup's mistake.
  t.is(
    (reported[0] as Error).message,
    `serverpush: <ul data-serverpush-presence> shows text, and a presence member's data carried an object there; name a field with data-serverpush-field`,
  );
});

test('connect() dispatches serverpush:presence and calls on("presence") listeners, and keeps the presence list', async (t) => {
  const log = memoryLog();
  const server = await testServer(t, log, { leaveDelayMs: 1_000 });
  const bob = new Tab(server.url, await server.token('bob'));
  t.teardown(() => bob.close());
  await until(() => bob.count === 1);
  const window = createPage(t, {
    url: `${server.url}/lists/1`,
    body: '<ul id="who" data-serverpush-presence data-serverpush-field="name"></ul><span id="n" data-serverpush-presence-others></span>',
  });
  const events: string[] = [];
  window.document.addEventListener('serverpush:presence', (event) => {
    events.push(`${event.detail.type}:${event.message.channel}`);
  });
  const client = connect<{ presence: { name: string } }>({
    token: await server.token('alice'),
    transports: ['long-poll'],
    globals: pageGlobals(window),
  });
  t.teardown(() => client.close());
  const heard: string[] = [];
  client.on('presence', (detail) => heard.push(`${detail.type}:${detail.member?.data.name ?? detail.members.length}`));
  const who = () => window.document.querySelector('#who')!.textContent;
  await until(() => who() === 'BobAlice');
  t.is(window.document.querySelector('#n')!.textContent, '1');
  const dave = new Tab(server.url, await server.token('dave'));
  await until(() => who() === 'BobAliceDave');
  await dave.close();
  await until(() => who() === 'BobAlice');
  t.deepEqual(heard, ['here:2', 'join:Dave', 'leave:Dave']);
  t.deepEqual(events, ['here:team:1:list:1', 'join:team:1:list:1', 'leave:team:1:list:1']);
  t.is(window.document.querySelector('#who [data-serverpush-self]')?.textContent, 'Alice');
});
