// The presence suite, run once per change log (./memory.test.ts, ./redis.test.ts): push.presence()
// on real Koa servers and ports, two push processes' worth of instances sharing the log: members on
// connect, joins and leaves once per identity, the list limit, per-viewer refusal, and the expiry of
// a process that stops heartbeating.

import test, { type ExecutionContext } from 'ava';
import type { ChangeLog } from '../../core/change-log.ts';
import { until } from '../helpers/until.ts';
import { severable, Tab, testServer } from './helpers.ts';

/** Gives each push server of a test its change log: the same shared log, or a connection of its own to it. */
export type Logs = (t: ExecutionContext) => Promise<() => Promise<ChangeLog>>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens a tab, closed when the test ends. */
function tab(t: ExecutionContext, url: string, token: string): Tab {
  const opened = new Tab(url, token);
  t.teardown(() => opened.close());
  return opened;
}

/** Defines the suite's tests for one kind of change log; skipped with `skip`. */
export function presenceSuite(kind: string, logs: Logs, skip = false): void {
  const run = skip ? test.skip : test;
  run(`push.presence() sends a page the members on connect, itself included, then joins (${kind})`, async (t) => {
    const log = await logs(t);
    const a = await testServer(t, await log());
    const b = await testServer(t, await log());
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
    // In the order they joined: alice and bob (who connected together), then dave.
    const members = a.push.members('team:1:list:1').members.map((member) => (member.data as { name: string }).name);
    t.deepEqual(members.slice(0, 2).sort(), ['Alice', 'Bob']);
    t.is(members[2], 'Dave');
    t.is(b.push.members('team:1:list:1').count, 3);
  });

  run(`push.presence() counts two pages of one identity on two processes as one member (${kind})`, async (t) => {
    const log = await logs(t);
    const a = await testServer(t, await log());
    const b = await testServer(t, await log());
    const bob = tab(t, a.url, await a.token('bob'));
    await until(() => bob.names().length === 1);
    const aliceA = tab(t, a.url, await a.token('alice'));
    const aliceB = tab(t, b.url, await b.token('alice'));
    await until(() => aliceA.names().length === 2 && aliceB.names().length === 2);
    await until(() => bob.names().length === 2);
    t.is(a.push.members('team:1:list:1').count, 2);
    t.is(aliceA.self, aliceB.self);
    // Her first page closes: she is still there (leaveDelayMs is 500 here).
    await aliceA.close();
    await sleep(800);
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

  run(`push.presence() lists maxMembers members and counts the others (${kind})`, async (t) => {
    const log = await logs(t);
    const a = await testServer(t, await log(), { maxMembers: 2 });
    const b = await testServer(t, await log(), { maxMembers: 2 });
    const alice = tab(t, a.url, await a.token('alice'));
    await until(() => alice.count === 1);
    const bob = tab(t, b.url, await b.token('bob'));
    await until(() => alice.count === 2 && bob.count === 2);
    const dave = tab(t, a.url, await a.token('dave'));
    await until(() => alice.count === 3 && dave.count === 3 && bob.count === 3);
    t.is(dave.messages[0]?.type, 'here');
    t.is(dave.messages[0]?.members?.length, 2);
    // Dave is beyond alice's list: she hears the count, never his join.
    t.is(alice.about('join', 'Dave').length, 0);
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

  run(
    `push.presence() sends nothing to a viewer the presence function refuses, nor shows them (${kind})`,
    async (t) => {
      const log = await logs(t);
      const a = await testServer(t, await log());
      const b = await testServer(t, await log());
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
    },
  );

  run(
    `push.presence(): the members of a process that stops heartbeating leave the others within expiryMs (${kind})`,
    async (t) => {
      const log = await logs(t);
      const options = { heartbeatMs: 100, expiryMs: 500 };
      const cutOff = severable(await log());
      const a = await testServer(t, cutOff, options);
      const b = await testServer(t, await log(), options);
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
      // expiryMs after the last heartbeat (up to heartbeatMs before the cut), found by a sweep every heartbeatMs; slack for a loaded machine.
      t.true(took >= 300 && took <= 1_500, `took ${took} ms`);
      t.is(bob.about('leave', 'Alice').length, 1);
    },
  );

  run(`push.close() takes the process's members away from the others at once (${kind})`, async (t) => {
    const log = await logs(t);
    const a = await testServer(t, await log(), { heartbeatMs: 5_000, expiryMs: 15_000 });
    const b = await testServer(t, await log());
    const alice = tab(t, a.url, await a.token('alice'));
    const bob = tab(t, b.url, await b.token('bob'));
    await until(() => alice.count === 2 && bob.count === 2);
    await alice.close();
    const since = Date.now();
    // leaveDelayMs is 500: close before it runs out, so the leave comes from close().
    await a.push.close();
    await until(() => bob.names().length === 1, 2_000);
    t.true(Date.now() - since < 1_000);
  });

  run(`a process that starts later learns the members already there (${kind})`, async (t) => {
    const log = await logs(t);
    const a = await testServer(t, await log());
    const alice = tab(t, a.url, await a.token('alice'));
    await until(() => alice.count === 1);
    const b = await testServer(t, await log());
    await until(() => b.push.members('team:1:list:1').count === 1);
    const bob = tab(t, b.url, await b.token('bob'));
    await until(() => bob.messages.length > 0);
    t.is(bob.messages[0]?.type, 'here');
    t.deepEqual(bob.names(), ['Alice', 'Bob']);
  });

  run(`push.presence(): a process that missed a leave learns it from the next heartbeat (${kind})`, async (t) => {
    const log = await logs(t);
    const options = { heartbeatMs: 100, expiryMs: 5_000, leaveDelayMs: 300 };
    const cutOff = severable(await log());
    const a = await testServer(t, cutOff, options);
    const b = await testServer(t, await log(), options);
    const alice = tab(t, a.url, await a.token('alice'));
    const bob = tab(t, b.url, await b.token('bob'));
    await until(() => alice.count === 2 && bob.count === 2);
    // Alice's leave is lost on its way to the log; a's next heartbeats say it holds nobody.
    cutOff.cut();
    await alice.close();
    await sleep(600);
    cutOff.mend();
    const since = Date.now();
    await until(() => bob.names().length === 1, 3_000);
    t.log(`b learned of the lost leave ${Date.now() - since} ms after the log was reachable again`);
    t.true(Date.now() - since < 2_000);
    t.is(bob.about('leave', 'Alice').length, 1);
  });
}
