// push.presence() on real Koa servers and ports, two push processes' worth of instances sharing one
// in-memory change log: members on connect, joins and leaves once per identity, the list limit,
// per-viewer refusal, and the expiry of a process that stops heartbeating.

import test from 'ava';
import { memoryLog } from '../../core/memory-log.ts';
import { until } from '../helpers/until.ts';
import { severable, Tab, testServer } from './helpers.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens a tab, closed when the test ends. */
function tab(t: Parameters<typeof testServer>[0], url: string, token: string): Tab {
  const opened = new Tab(url, token);
  t.teardown(() => opened.close());
  return opened;
}

test('push.presence() sends a page the members on connect, itself included, then joins', async (t) => {
  const log = memoryLog();
  const a = await testServer(t, log);
  const b = await testServer(t, log);
  const alice = tab(t, a.url, await a.token('alice'));
  const bob = tab(t, b.url, await b.token('bob'));
  await until(() => alice.names().length === 2 && bob.names().length === 2);
  const dave = tab(t, a.url, await a.token('dave'));
  await until(() => dave.messages.length > 0);
  const [first] = dave.messages;
  t.is(first?.type, 'here');
  t.is(dave.events[0]?.type, 'here');
  t.is(first?.channel, 'team:1:list:1');
  t.is(first?.count, 3);
  t.deepEqual(dave.names(), ['Alice', 'Bob', 'Dave']);
  t.deepEqual(dave.list.get(dave.self!), { name: 'Dave' });
  await until(() => alice.names().length === 3 && bob.names().length === 3);
  t.is(alice.about('join', 'Dave').length, 1);
  t.is(bob.about('join', 'Dave').length, 1);
  // Member ids are opaque: no identity in them.
  t.false(JSON.stringify(alice.messages).includes('dave'));
  t.deepEqual(
    a.push.members('team:1:list:1').members.map((member) => member.data),
    [{ name: 'Alice' }, { name: 'Bob' }, { name: 'Dave' }],
  );
  t.is(b.push.members('team:1:list:1').count, 3);
});

test('push.presence() counts two pages of one identity on two processes as one member', async (t) => {
  const log = memoryLog();
  const a = await testServer(t, log);
  const b = await testServer(t, log);
  const bob = tab(t, a.url, await a.token('bob'));
  await until(() => bob.names().length === 1);
  const aliceA = tab(t, a.url, await a.token('alice'));
  const aliceB = tab(t, b.url, await b.token('alice'));
  await until(() => aliceA.names().length === 2 && aliceB.names().length === 2);
  await until(() => bob.names().length === 2);
  t.is(a.push.members('team:1:list:1').count, 2);
  t.is(aliceA.self, aliceB.self);
  // Her first page closes: she is still there (leaveDelayMs is 200 here).
  await aliceA.close();
  await sleep(600);
  t.deepEqual(bob.names(), ['Alice', 'Bob']);
  t.is(bob.about('leave', 'Alice').length, 0);
  // Her last page closes: one leave.
  await aliceB.close();
  await until(() => bob.names().length === 1);
  await sleep(300);
  t.is(bob.about('join', 'Alice').length, 1);
  t.is(bob.about('leave', 'Alice').length, 1);
  t.is(bob.count, 1);
});

test('push.presence() lists maxMembers members and counts the others', async (t) => {
  const log = memoryLog();
  const a = await testServer(t, log, { maxMembers: 2 });
  const b = await testServer(t, log, { maxMembers: 2 });
  const alice = tab(t, a.url, await a.token('alice'));
  await until(() => alice.count === 1);
  const bob = tab(t, b.url, await b.token('bob'));
  await until(() => alice.count === 2 && bob.count === 2);
  const dave = tab(t, a.url, await a.token('dave'));
  await until(() => alice.count === 3 && dave.count === 3 && bob.count === 3);
  t.is(dave.messages[0]?.type, 'here');
  t.is(dave.messages[0]?.members?.length, 2);
  t.is(alice.events.at(-1)?.type, 'count');
  t.is(alice.events.at(-1)?.member, undefined);
  t.deepEqual(alice.names(), ['Alice', 'Bob']);
  const erin = tab(t, b.url, await b.token('erin'));
  await until(() => alice.count === 4 && erin.count === 4);
  // A member beyond the list leaves: the count goes down, the list stays.
  await erin.close();
  await until(() => alice.count === 3);
  t.deepEqual(alice.names(), ['Alice', 'Bob']);
  // A listed member leaves: a leave with the member. (A list sent again after a reconnect lists the
  // first members there are, Dave among them now.)
  await bob.close();
  await until(() => alice.count === 2);
  t.false(alice.names().includes('Bob'));
  t.true(alice.names().length <= 2);
  t.is(alice.about('leave', 'Bob').length, 1);
});

test('push.presence() sends nothing to a viewer the presence function refuses, nor shows them', async (t) => {
  const log = memoryLog();
  const a = await testServer(t, log);
  const b = await testServer(t, log);
  const alice = tab(t, a.url, await a.token('alice'));
  await until(() => alice.count === 1);
  // Carol is of team 2: her page of list 1 is present in team 2's channel, never team 1's.
  const carol = tab(t, b.url, await b.token('carol'));
  const stranger = tab(t, a.url, await a.token('nobody'));
  await until(() => carol.count === 1);
  const bob = tab(t, b.url, await b.token('bob'));
  await until(() => alice.count === 2);
  await sleep(300);
  t.deepEqual(carol.names(), ['Carol']);
  t.true(carol.messages.every((message) => message.channel === 'team:2:list:1'));
  t.false(JSON.stringify(carol.messages).includes('Alice'));
  t.deepEqual(alice.names(), ['Alice', 'Bob']);
  t.deepEqual(bob.names(), ['Alice', 'Bob']);
  // A viewer the function returns null for gets no presence message and is no member.
  t.deepEqual(stranger.messages, []);
  t.is(a.push.members('team:1:list:1').count, 2);
});

test('push.presence(): the members of a process that stops heartbeating leave the others within expiryMs', async (t) => {
  const log = memoryLog();
  const options = { heartbeatMs: 100, expiryMs: 500 };
  const cutOff = severable(log);
  const a = await testServer(t, cutOff, options);
  const b = await testServer(t, log, options);
  const alice = tab(t, a.url, await a.token('alice'));
  const bob = tab(t, b.url, await b.token('bob'));
  await until(() => alice.count === 2 && bob.count === 2);
  // Heartbeats keep alice there well past expiryMs.
  await sleep(1_000);
  t.deepEqual(bob.names(), ['Alice', 'Bob']);
  // Process a is cut off from the log: nothing it says reaches b any more.
  cutOff.cut();
  const since = Date.now();
  await until(() => bob.names().length === 1, 3_000);
  const took = Date.now() - since;
  t.log(`alice left b ${took} ms after a's last entry could reach the log (expiryMs 500, heartbeatMs 100)`);
  t.true(took >= 300 && took <= 500 + 100 + 1_000 / 10 + 200, `took ${took} ms`);
  t.is(bob.about('leave', 'Alice').length, 1);
});

test("push.close() takes the process's members away from the others at once", async (t) => {
  const log = memoryLog();
  const a = await testServer(t, log, { heartbeatMs: 5_000, expiryMs: 15_000 });
  const b = await testServer(t, log);
  const alice = tab(t, a.url, await a.token('alice'));
  const bob = tab(t, b.url, await b.token('bob'));
  await until(() => alice.count === 2 && bob.count === 2);
  await alice.close();
  const since = Date.now();
  // leaveDelayMs is 200: close before it runs out, so the leave comes from close().
  await a.push.close();
  await until(() => bob.names().length === 1, 2_000);
  t.true(Date.now() - since < 1_000);
});

test('a process that starts later learns the members already there', async (t) => {
  const log = memoryLog();
  const a = await testServer(t, log);
  const alice = tab(t, a.url, await a.token('alice'));
  await until(() => alice.count === 1);
  const b = await testServer(t, log);
  await until(() => b.push.members('team:1:list:1').count === 1);
  const bob = tab(t, b.url, await b.token('bob'));
  await until(() => bob.messages.length > 0);
  t.is(bob.messages[0]?.type, 'here');
  t.deepEqual(bob.names(), ['Alice', 'Bob']);
});
