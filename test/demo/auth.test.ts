import Router from '@koa/router';
import test, { type ExecutionContext } from 'ava';
import type { ChangeMessage, Message } from '../../core/types.ts';
import { registerAuth } from '../../demo/auth.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { authDemo, CookieJar, type AuthDemo } from '../helpers/auth-demo.ts';

// Serial: each demo binds Objection's models to its own database, and that binding is global.
const serial = test.serial;

const setup = (t: ExecutionContext) => authDemo(t, [longPoll({ timeoutMs: 300 })]);

async function login(demo: AuthDemo, username: string, jar = new CookieJar()): Promise<CookieJar> {
  const response = await jar.fetch(`${demo.url}/login`, {
    method: 'POST',
    body: new URLSearchParams({ username, password: 'demo' }),
  });
  if (response.status !== 303) throw new Error(`login as ${username} answered ${response.status}`);
  return jar;
}

/** An open /todos page: its token, and a long-poll loop that resumes from its last cursor. */
class PageClient {
  cursor: string | undefined;
  constructor(
    readonly demo: AuthDemo,
    readonly jar: CookieJar,
    readonly token: string,
  ) {}

  static async open(demo: AuthDemo, jar: CookieJar): Promise<PageClient> {
    const response = await jar.fetch(`${demo.url}/todos`);
    const token = /data-token="([^"]+)"/.exec(await response.text())?.[1];
    if (token === undefined) throw new Error(`no token on /todos (${response.status})`);
    const page = new PageClient(demo, jar, token);
    await page.poll(); // connects: the push side opens the page's session and replays from its cursor
    return page;
  }

  pollResponse(jar = this.jar): Promise<Response> {
    const query = new URLSearchParams(
      this.cursor === undefined ? { token: this.token } : { token: this.token, cursor: this.cursor },
    );
    return jar.fetch(`${this.demo.url}/serverpush/long-poll?${query}`);
  }

  async poll(): Promise<Message[]> {
    const response = await this.pollResponse();
    if (response.status === 204) return [];
    if (response.status !== 200) throw new Error(`poll answered ${response.status}: ${await response.text()}`);
    const { messages } = (await response.json()) as { messages: Message[] };
    for (const message of messages) if ('cursor' in message) this.cursor = message.cursor;
    return messages;
  }

  /** Polls until a message satisfies `done`; resolves with every message received meanwhile. */
  async until(done: (message: Message) => boolean, timeoutMs = 5_000): Promise<Message[]> {
    const received: Message[] = [];
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      received.push(...(await this.poll()));
      if (received.some(done)) return received;
    }
    throw new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(received)}`);
  }
}

const about =
  (id: number) =>
  (message: Message): message is ChangeMessage =>
    'id' in message && message.id === id;

async function addTodo(demo: AuthDemo, jar: CookieJar, title: string): Promise<number> {
  const response = await jar.fetch(`${demo.url}/todos`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ title }),
  });
  if (response.status !== 201) throw new Error(`adding a to-do answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { id: number }).id;
}

function change(demo: AuthDemo, jar: CookieJar, id: number, fields: Record<string, unknown>): Promise<Response> {
  return jar.fetch(`${demo.url}/todos/${id}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(fields),
  });
}

// Seeded: bob's shared "Book the team lunch" is to-do 2 (team 1), carol's "Plan the offsite" is 3 (team 2).
// A page hears of changes in log order, so once it has the marker that follows a change, it has
// heard all it ever will of that change.
async function marker(demo: AuthDemo, jar: CookieJar, id: 2 | 3, page: PageClient): Promise<Message[]> {
  const response = await change(demo, jar, id, { title: `marker ${Date.now()}` });
  if (response.status !== 204) throw new Error(`marker answered ${response.status}`);
  return page.until(about(id));
}

serial('POST /login sets an HttpOnly session cookie that stays the same while the session lasts', async (t) => {
  const demo = await setup(t);
  const jar = new CookieJar();
  t.is((await jar.fetch(`${demo.url}/todos`)).headers.get('location'), '/login');
  const response = await jar.fetch(`${demo.url}/login`, {
    method: 'POST',
    body: new URLSearchParams({ username: 'alice', password: 'demo' }),
  });
  t.is(response.status, 303);
  t.is(response.headers.get('location'), '/todos');
  const setCookie = response.headers.getSetCookie().find((line) => line.startsWith('koa.sess='));
  t.regex(setCookie ?? '', /httponly/i);
  t.regex(setCookie ?? '', /samesite=lax/i);
  const value = jar.cookies.get('koa.sess');
  t.regex(value ?? '', /^[\w-]{36}$/, 'an opaque key: the session data stays on the server');
  for (let visit = 0; visit < 2; visit += 1) {
    const page = await jar.fetch(`${demo.url}/todos`);
    t.is(page.status, 200);
    t.deepEqual(page.headers.getSetCookie(), []);
  }
  t.is(jar.cookies.get('koa.sess'), value);
  t.is((await jar.fetch(`${demo.url}/login`)).headers.get('location'), '/todos');
});

serial('POST /login with wrong credentials answers the form again with a message, 400, and no session', async (t) => {
  const demo = await setup(t);
  for (const [username, password] of [
    ['alice', 'wrong'],
    ['mallory', 'demo'],
    ['', ''],
  ] as const) {
    const jar = new CookieJar();
    const response = await jar.fetch(`${demo.url}/login`, {
      method: 'POST',
      body: new URLSearchParams({ username, password }),
    });
    t.is(response.status, 400);
    t.regex(await response.text(), /<p class="error" id="login-error" role="alert">Wrong username or password\.<\/p>/);
    t.is(jar.cookies.size, 0);
  }
});

serial(
  "GET /todos renders the viewer's own items and the team's shared ones, each as the viewer sees it",
  async (t) => {
    const demo = await setup(t);
    const lists = async (username: string) => {
      const html = await (await (await login(demo, username)).fetch(`${demo.url}/todos`)).text();
      const list = (id: string) => {
        const items = new RegExp(`<ul id="${id}"[^>]*>(.*?)</ul>`, 's').exec(html)?.[1] ?? '';
        return [
          ...items.matchAll(/<span class="title">([^<]*)<\/span><\/label>\s*<span class="owner">([^<]*)<\/span>/g),
        ].map((m) => `${m[1]} / ${m[2]}`);
      };
      return { mine: list('my-todos'), team: list('team-todos') };
    };
    t.deepEqual(await lists('alice'), {
      mine: ['Water the plants / alice (yours)'],
      team: ['Book the team lunch / bob'],
    });
    t.deepEqual(await lists('bob'), {
      mine: ['Book the team lunch / bob (yours)'],
      team: ['Book the team lunch / bob (yours)'],
    });
    t.deepEqual(await lists('carol'), {
      mine: ['Plan the offsite / carol (yours)'],
      team: ['Plan the offsite / carol (yours)'],
    });
  },
);

serial('POST /logout deletes the session: the old cookie no longer logs in', async (t) => {
  const demo = await setup(t);
  const jar = await login(demo, 'alice');
  const stolen = new CookieJar();
  for (const [name, value] of jar.cookies) stolen.cookies.set(name, value);
  const response = await jar.fetch(`${demo.url}/logout`, { method: 'POST' });
  t.is(response.status, 303);
  t.is(response.headers.get('location'), '/login');
  t.false(jar.cookies.has('koa.sess'));
  t.is((await jar.fetch(`${demo.url}/todos`)).headers.get('location'), '/login');
  t.is((await stolen.fetch(`${demo.url}/todos`)).headers.get('location'), '/login');
});

serial('authenticate refuses a page whose login session ended, even with the old cookie and token', async (t) => {
  const demo = await setup(t);
  const jar = await login(demo, 'alice');
  const stolen = new CookieJar();
  for (const [name, value] of jar.cookies) stolen.cookies.set(name, value);
  // A page rendered before logout that had not connected yet: its token and the old cookie.
  const token = /data-token="([^"]+)"/.exec(await (await jar.fetch(`${demo.url}/todos`)).text())![1]!;
  await jar.fetch(`${demo.url}/logout`, { method: 'POST' });
  const response = await stolen.fetch(`${demo.url}/serverpush/long-poll?token=${token}`);
  t.is(response.status, 401);
  t.deepEqual(await response.json(), {
    error: { code: 'SERVERPUSH_ERR_BAD_TOKEN', message: 'the login session of this page has ended' },
  });
});

serial("updates(todos): alice's new and edited item reach alice's other page, never bob's or carol's", async (t) => {
  const demo = await setup(t);
  const [alice, bob, carol] = await Promise.all([login(demo, 'alice'), login(demo, 'bob'), login(demo, 'carol')]);
  const [aliceOther, bobPage, carolPage] = await Promise.all([
    PageClient.open(demo, alice),
    PageClient.open(demo, bob),
    PageClient.open(demo, carol),
  ]);

  const id = await addTodo(demo, alice, 'Buy oat milk');
  const entered = (await aliceOther.until(about(id))).filter(about(id));
  t.deepEqual(
    entered.map(({ name, effect, op }) => ({ name, effect, op })),
    [{ name: 'my-todo', effect: 'enter', op: 'insert' }],
  );
  t.regex(
    String(entered[0]!.data),
    /^<li class="todo" data-serverpush-id="\d+" data-done="0" data-shared="0">.*Buy oat milk.*alice \(yours\).*data-action="rename"/,
  );

  t.is((await change(demo, alice, id, { title: 'Buy oat milk & bread', done: true })).status, 204);
  const updated = (await aliceOther.until(about(id))).filter(about(id));
  t.deepEqual(
    updated.map(({ name, effect }) => ({ name, effect })),
    [{ name: 'my-todo', effect: 'update' }],
  );
  t.regex(String(updated[0]!.data), /data-done="1".*Buy oat milk &#38; bread/);

  t.deepEqual((await marker(demo, bob, 2, bobPage)).filter(about(id)), []);
  t.deepEqual((await marker(demo, carol, 3, carolPage)).filter(about(id)), []);
});

serial('updates(todos): a shared item reaches bob, rendered for bob, and never carol', async (t) => {
  const demo = await setup(t);
  const [alice, bob, carol] = await Promise.all([login(demo, 'alice'), login(demo, 'bob'), login(demo, 'carol')]);
  const id = await addTodo(demo, alice, 'Order the cake');
  const [alicePage, bobPage, carolPage] = await Promise.all([
    PageClient.open(demo, alice),
    PageClient.open(demo, bob),
    PageClient.open(demo, carol),
  ]);

  t.is((await change(demo, alice, id, { shared: true })).status, 204);
  const toBob = (await bobPage.until(about(id))).filter(about(id));
  t.deepEqual(
    toBob.map(({ name, effect }) => ({ name, effect })),
    [{ name: 'team-todo', effect: 'enter' }],
  );
  const html = String(toBob[0]!.data);
  t.regex(html, /Order the cake.*<span class="owner">alice<\/span>.*shared/);
  t.notRegex(html, /yours|data-action/, "bob sees alice's item without her controls");
  const toAlice = (await alicePage.until((message) => about(id)(message) && message.name === 'team-todo')).filter(
    about(id),
  );
  t.deepEqual(
    toAlice.map(({ name, effect }) => ({ name, effect })).sort((a, b) => a.name.localeCompare(b.name)),
    [
      { name: 'my-todo', effect: 'update' },
      { name: 'team-todo', effect: 'enter' },
    ],
  );
  t.deepEqual((await marker(demo, carol, 3, carolPage)).filter(about(id)), []);

  // Bob's own edits of it are refused: only its owner changes it, and his fragment shows no controls.
  t.is((await change(demo, bob, id, { done: true })).status, 403);
  t.regex(await (await bob.fetch(`${demo.url}/todos/${id}/fragment`)).text(), /Order the cake/);
  t.is((await carol.fetch(`${demo.url}/todos/${id}/fragment`)).status, 404);
});

serial('updates(todos): reassigning from alice to bob gives alice a leave and bob an enter', async (t) => {
  const demo = await setup(t);
  const [alice, bob, carol] = await Promise.all([login(demo, 'alice'), login(demo, 'bob'), login(demo, 'carol')]);
  const id = await addTodo(demo, alice, 'Fix the bike');
  const [alicePage, bobPage, carolPage] = await Promise.all([
    PageClient.open(demo, alice),
    PageClient.open(demo, bob),
    PageClient.open(demo, carol),
  ]);

  t.is((await change(demo, alice, id, { ownerId: 3 })).status, 400, 'carol is not on the team');
  t.is((await change(demo, alice, id, { ownerId: 2 })).status, 204);
  const left = (await alicePage.until(about(id))).filter(about(id));
  // An item alice can no longer see leaves with no content: its id is all her page needs.
  t.deepEqual(
    left.map(({ name, effect, data }) => ({ name, effect, data })),
    [{ name: 'my-todo', effect: 'leave', data: null }],
  );
  const entered = (await bobPage.until(about(id))).filter(about(id));
  t.deepEqual(
    entered.map(({ name, effect }) => ({ name, effect })),
    [{ name: 'my-todo', effect: 'enter' }],
  );
  t.regex(String(entered[0]!.data), /Fix the bike.*bob \(yours\)/);
  t.deepEqual((await marker(demo, carol, 3, carolPage)).filter(about(id)), []);
  t.is((await change(demo, alice, id, { title: 'mine again?' })).status, 404, 'alice cannot see it any more');
});

serial("POST /logout ends every page of alice's with a refresh, and bob's not", async (t) => {
  const demo = await setup(t);
  const [laptop, phone, bob] = await Promise.all([login(demo, 'alice'), login(demo, 'alice'), login(demo, 'bob')]);
  const [first, second, onPhone, bobPage] = await Promise.all([
    PageClient.open(demo, laptop),
    PageClient.open(demo, laptop),
    PageClient.open(demo, phone),
    PageClient.open(demo, bob),
  ]);
  const held = first.poll();
  t.is((await laptop.fetch(`${demo.url}/logout`, { method: 'POST' })).status, 303);
  t.deepEqual(await held, [{ name: 'refresh', reason: 'disconnect' }]);
  t.deepEqual(await onPhone.poll(), [{ name: 'refresh', reason: 'disconnect' }]);
  // The laptop's cookie is gone, so its tokens are refused, whatever becomes of their sessions.
  const refused = await second.pollResponse();
  t.is(refused.status, 401);
  t.deepEqual(await refused.json(), {
    error: { code: 'SERVERPUSH_ERR_BAD_TOKEN', message: 'the page token belongs to another session' },
  });
  t.false((await marker(demo, bob, 2, bobPage)).some((message) => message.name === 'refresh'));
});

serial(
  "long-poll refuses a token rendered for alice presented with bob's session cookie, 401 with a message",
  async (t) => {
    const demo = await setup(t);
    const [alice, bob] = await Promise.all([login(demo, 'alice'), login(demo, 'bob')]);
    const page = await PageClient.open(demo, alice);
    for (const jar of [bob, new CookieJar()]) {
      const response = await page.pollResponse(jar);
      t.is(response.status, 401);
      t.deepEqual(await response.json(), {
        error: { code: 'SERVERPUSH_ERR_BAD_TOKEN', message: 'the page token belongs to another session' },
      });
    }
  },
);

serial('updates(todos): a page without a logged-in viewer, or whose user was deleted, gets no updates', async (t) => {
  const demo = await setup(t);
  const [alice, bob] = await Promise.all([login(demo, 'alice'), login(demo, 'bob')]);
  t.is(
    (await new CookieJar().fetch(`${demo.url}/todos`)).headers.get('location'),
    '/login',
    'logged out, /todos renders no token',
  );
  // What a logged-out viewer's token for /todos would say, and alice's page, rendered before she is deleted.
  const anonymous = new PageClient(
    demo,
    new CookieJar(),
    demo.push.token({
      path: '/todos',
      query: '',
      identity: null,
      languages: ['en'],
      cursor: await demo.push.log.head(),
    }),
  );
  const aliceToken = /data-token="([^"]+)"/.exec(await (await alice.fetch(`${demo.url}/todos`)).text())![1]!;
  await demo.knex('users').where({ username: 'alice' }).delete();
  const orphan = new PageClient(demo, alice, aliceToken);
  t.deepEqual(await anonymous.poll(), []);
  t.deepEqual(await orphan.poll(), []);
  t.is(demo.push.stats().subscriptions, 0, 'neither page subscribed to anything');

  const bobPage = await PageClient.open(demo, bob);
  await marker(demo, bob, 2, bobPage); // bob's shared item: alice's team list would have shown it
  t.deepEqual(await anonymous.poll(), []);
  t.deepEqual(await orphan.poll(), []);
  t.is((await alice.fetch(`${demo.url}/todos`)).headers.get('location'), '/login', 'a deleted user is logged out');
});

serial('the to-do endpoints answer a client mistake with a 4xx and a message, and change nothing', async (t) => {
  const demo = await setup(t);
  const [alice, bob] = await Promise.all([login(demo, 'alice'), login(demo, 'bob')]);
  const id = await addTodo(demo, alice, 'Private');
  const json = (response: Response) => response.json() as Promise<unknown>;
  const error = (message: string) => ({ error: { message } });
  t.deepEqual(
    await json(
      await new CookieJar().fetch(`${demo.url}/todos`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"title":"x"}',
      }),
    ),
    error('log in first'),
  );
  t.deepEqual(
    await json(
      await alice.fetch(`${demo.url}/todos`, { method: 'POST', body: new URLSearchParams({ title: 'form' }) }),
    ),
    error('send the fields as application/json'),
  );
  t.deepEqual(
    await json(await change(demo, alice, id, { title: '' })),
    error('title must be a string of 1 to 200 characters'),
  );
  t.deepEqual(await json(await change(demo, alice, id, { done: 'yes' })), error('done must be true or false'));
  t.deepEqual(
    await json(await change(demo, alice, id, { owner: 2 })),
    error('unknown field "owner"; send title, done, shared or ownerId'),
  );
  t.deepEqual(
    await json(await change(demo, alice, id, {})),
    error('send at least one of title, done, shared, ownerId'),
  );
  t.deepEqual(
    await json(await change(demo, alice, id, { ownerId: 99 })),
    error('ownerId must be the id of a user of your team'),
  );
  const broken = await alice.fetch(`${demo.url}/todos/${id}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{',
  });
  t.is(broken.status, 400);
  t.is(await broken.text(), 'the body is not valid JSON');
  const huge = await alice.fetch(`${demo.url}/todos`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ title: 'x'.repeat(20_000) }),
  });
  t.is(huge.status, 413);
  // Bob learns nothing of alice's private item: the same 404 as for one that does not exist.
  for (const target of [id, 9_999]) {
    t.deepEqual(await json(await change(demo, bob, target, { title: 'mine' })), error('no such to-do'));
    t.is((await bob.fetch(`${demo.url}/todos/${target}/fragment`)).status, 404);
    t.is(
      (
        await bob.fetch(`${demo.url}/todos/${target}/delete`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: '{}',
        })
      ).status,
      404,
    );
  }
  t.deepEqual(await demo.knex('todos').where({ id }).first(), {
    id,
    ownerId: 1,
    teamId: 1,
    title: 'Private',
    done: 0,
    shared: 0,
  });
});

test('registerAuth() throws a TypeError naming the option that is wrong', (t) => {
  t.throws(() => registerAuth({ router: {} as never, push: {} as never }), {
    instanceOf: TypeError,
    message: 'registerAuth(): the `router` option must be a @koa/router instance',
  });
  t.throws(() => registerAuth({ router: new Router(), push: {} as never }), {
    instanceOf: TypeError,
    message: 'registerAuth(): the `push` option must be a push instance',
  });
});
