// The auth demo's per-viewer rules, tested with the harness (`serverpush/testing`): the demo's own
// app, routes, update function, `authenticate` and `todo-item` fragment, in-process, no browser.

import test, { type ExecutionContext } from 'ava';
import { createHarness, type HarnessAgent } from '../../adapters/testing/index.ts';
import { authDemoApp } from '../helpers/auth-demo.ts';

// Serial: each demo binds Objection's models to its own database, and that binding is global.
const serial = test.serial;

/** The /todos page's events: each item's HTML as its viewer sees it, `null` for one who may not. */
interface TodoEvents {
  readonly 'my-todo': string | null;
  readonly 'team-todo': string | null;
}

/** The auth demo as demo/app.ts mounts it, on a sqlite file of its own, and a harness for it. */
async function setup(t: ExecutionContext) {
  const { app, push, close } = await authDemoApp();
  const harness = createHarness(push, app);
  t.teardown(async () => {
    await harness.close();
    await close();
  });
  /** A browser logged in as `username`. */
  const login = async (username: string): Promise<HarnessAgent> => {
    const agent = harness.agent();
    const response = await agent.request('/login', { form: { username, password: 'demo' } });
    if (response.status !== 303) throw new Error(`login as ${username} answered ${response.status}`);
    return agent;
  };
  /** Changes a to-do as `agent`, as the page's controls do. */
  const change = async (agent: HarnessAgent, id: number, fields: Record<string, unknown>) => {
    const response = await agent.request(`/todos/${id}`, { json: fields });
    t.is(response.status, 204, response.text);
  };
  return { harness, push, login, change };
}

// Seeded: alice (1) and bob (2) in team 1, carol (3) in team 2; to-do 1 is alice's own, 2 bob's
// shared in team 1, 3 carol's shared in team 2.

serial('a shared to-do is rendered for each teammate who sees it, and never reaches another team', async (t) => {
  const { login, change } = await setup(t);
  const [alice, bob, carol] = await Promise.all([login('alice'), login('bob'), login('carol')]);
  const alicePage = await alice.open<TodoEvents>('/todos');
  const bobPage = await bob.open<TodoEvents>('/todos');
  const carolPage = await carol.open<TodoEvents>('/todos');

  await change(bob, 2, { title: 'Book the team dinner' });
  const forAlice = await alicePage.next();
  t.like(forAlice, { name: 'team-todo', effect: 'update', id: 2 });
  t.regex(String(forAlice.data), /Book the team dinner/);
  t.regex(String(forAlice.data), />bob</, 'rendered for alice: bob owns it');
  t.notRegex(String(forAlice.data), /\(yours\)/);
  // bob's own shared item is in both of his lists, rendered as his.
  const forBob = [await bobPage.next(), await bobPage.next()];
  t.deepEqual(forBob.map(({ name }) => name).sort(), ['my-todo', 'team-todo']);
  for (const message of forBob) t.regex(String(message.data), /Book the team dinner.*bob \(yours\)/);
  await carolPage.nothing();

  await change(carol, 3, { done: true });
  t.like(await carolPage.next(), { name: 'my-todo', id: 3 });
  await alicePage.nothing();
  await bobPage.nothing();
});

serial(
  "giving a to-do to a teammate makes it leave the giver's page (rendered as nothing) and enter the taker's",
  async (t) => {
    const { login, change } = await setup(t);
    const [alice, bob] = await Promise.all([login('alice'), login('bob')]);
    const alicePage = await alice.open<TodoEvents>('/todos');
    const bobPage = await bob.open<TodoEvents>('/todos');

    const added = await alice.request('/todos', { json: { title: 'Fix the bike' } });
    const { id } = JSON.parse(added.text) as { id: number };
    t.like(await alicePage.next(), { name: 'my-todo', effect: 'enter', id });
    await bobPage.nothing();

    await change(alice, id, { ownerId: 2 });
    t.like(await alicePage.next(), { name: 'my-todo', effect: 'leave', id, data: null });
    const taken = await bobPage.next();
    t.like(taken, { name: 'my-todo', effect: 'enter', id });
    t.regex(String(taken.data), /Fix the bike.*bob \(yours\)/);
  },
);

serial("logging out ends every page of that user with a refresh, and no one else's", async (t) => {
  const { login } = await setup(t);
  const [alice, bob] = await Promise.all([login('alice'), login('bob')]);
  const tabs = [await alice.open<TodoEvents>('/todos'), await alice.open<TodoEvents>('/todos')];
  const bobPage = await bob.open<TodoEvents>('/todos');
  t.is((await alice.request('/logout', { method: 'POST' })).status, 303);
  t.deepEqual(await Promise.all(tabs.map((tab) => tab.refresh())), ['disconnect', 'disconnect']);
  await bobPage.nothing();
});

serial('an anonymous visitor of /todos is sent to the login page: the harness says so', async (t) => {
  const { harness } = await setup(t);
  await t.throwsAsync(harness.open('/todos'), {
    message:
      "harness.open('/todos'): the app answered 302 (Location: /login), not a page; to open it logged in, log in with an agent: harness.agent()",
  });
});
