// docs/tutorial.md's chat, started as the tutorial starts it (test/docs/tutorial/server.ts, the
// change log in its sqlite file) on a spare loopback port, driven over plain HTTP as browsers do;
// and its files type-checked with the tsconfig the tutorial gives, against the built package.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { codeBlocks } from './blocks.ts';

const root = new URL('../../', import.meta.url);

/** A loopback port that was free a moment ago. */
async function sparePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  probe.close();
  await once(probe, 'close');
  if (address === null || typeof address === 'string') throw new Error('no loopback port');
  return address.port;
}

/** Resolves with the first match of `pattern` in the child's stdout; rejects if it exits first. */
function printed(child: ChildProcess, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`not printed within ${timeoutMs} ms: ${pattern}`)), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = pattern.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match);
      }
    });
    child.once('exit', (code) => reject(new Error(`the chat exited with ${code} before printing ${pattern}`)));
  });
}

interface Page {
  readonly name: string;
  readonly cookie: string;
  readonly token: string;
  cursor: string | undefined;
  readonly received: { data: unknown; effect: unknown }[];
}

test('the tutorial chat sends a private message to its recipient and not to a third user, over HTTP, and resumes after a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'serverpush-tutorial-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Fixed secrets, as the tutorial says, so that pages and logins outlive a restart.
  const env = {
    PUSH_SECRET: randomBytes(32).toString('hex'),
    COOKIE_KEY: 'tutorial-test',
    CHAT_DB: join(dir, 'chat.sqlite'),
  };
  const start = async () => {
    const port = await sparePort();
    const child = spawn(process.execPath, ['--import=tsx', 'test/docs/tutorial/server.ts'], {
      cwd: root,
      env: { ...process.env, ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.teardown(() => child.kill('SIGKILL'));
    const [, url] = await printed(child, /chat on (http:\S+)/);
    t.is(url, `http://127.0.0.1:${port}/login`);
    return { child, origin: `http://127.0.0.1:${port}` };
  };
  const stop = async (child: ChildProcess) => {
    // The tutorial's shutdown: SIGTERM closes the server and the database, and exits 0.
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    t.deepEqual(await exited, [0, null]);
  };
  let { child, origin } = await start();

  const enter = async (name: string): Promise<Page> => {
    const login = await fetch(`${origin}/login`, {
      method: 'POST',
      body: new URLSearchParams({ name }),
      redirect: 'manual',
    });
    t.is(login.status, 303);
    const cookie = login.headers
      .getSetCookie()
      .map((line) => line.split(';')[0])
      .join('; ');
    const html = await (await fetch(`${origin}/rooms/1`, { headers: { cookie } })).text();
    t.regex(html, new RegExp(`signed in as ${name}`));
    const token = /data-token="([^"]+)"/.exec(html)?.[1];
    if (token === undefined) throw new Error(`no push tag in the room page of ${name}`);
    return { name, cookie, token, cursor: undefined, received: [] };
  };
  const send = async (page: Page, form: Record<string, string>) => {
    const answer = await fetch(`${origin}/rooms/1/messages`, {
      method: 'POST',
      headers: { cookie: page.cookie },
      body: new URLSearchParams(form),
      redirect: 'manual',
    });
    t.is(answer.status, 303, await answer.text());
  };
  // Long-polls as the browser client does, resuming from the last cursor, until `done`.
  const pollUntil = async (page: Page, done: () => boolean) => {
    for (let poll = 0; poll < 10 && !done(); poll += 1) {
      const query = new URLSearchParams({
        token: page.token,
        ...(page.cursor === undefined ? {} : { cursor: page.cursor }),
      });
      const answer = await fetch(`${origin}/serverpush/long-poll?${query}`, { headers: { cookie: page.cookie } });
      if (answer.status === 204) continue;
      t.is(answer.status, 200);
      const { messages } = (await answer.json()) as { messages: { data: unknown; effect: unknown; cursor: string }[] };
      for (const message of messages) {
        page.received.push({ data: message.data, effect: message.effect });
        page.cursor = message.cursor;
      }
    }
  };

  const alice = await enter('alice');
  const bob = await enter('bob');
  const carol = await enter('carol');
  await send(alice, { text: 'psst, bob', to: 'bob' });
  await send(carol, { text: 'hello all' });
  t.is(
    (
      await fetch(`${origin}/rooms/1/messages`, {
        method: 'POST',
        headers: { cookie: carol.cookie },
        body: new URLSearchParams({ text: 'hi', to: 'nobody' }),
      })
    ).status,
    400,
  );

  const heardAll = (page: Page) => () => page.received.some(({ data }) => String(data).includes('hello all'));
  await Promise.all([alice, bob, carol].map((page) => pollUntil(page, heardAll(page))));
  t.deepEqual(
    bob.received.map(({ data }) => String(data).replace(/<[^>]+>/g, '')),
    ['alice to you (private): psst, bob', 'carol: hello all'],
  );
  t.deepEqual(
    alice.received.map(({ data }) => String(data).replace(/<[^>]+>/g, '')),
    ['you to bob (private): psst, bob', 'carol: hello all'],
  );
  // Carol hears the public message only: not the private one, not even that it exists.
  t.is(carol.received.length, 1);
  t.like(carol.received[0], { effect: 'enter' });
  t.regex(String(carol.received[0]?.data), /<b>you<\/b>: hello all/);

  await stop(child);

  // Restarted on the same database and secrets: bob's open page resumes from its cursor.
  ({ child, origin } = await start());
  await send(carol, { text: 'back again' });
  const heardAgain = () => bob.received.some(({ data }) => String(data).includes('back again'));
  await pollUntil(bob, heardAgain);
  t.regex(String(bob.received.at(-1)?.data), /<b>carol<\/b>: back again/);
  t.is(bob.received.length, 3);
  await stop(child);
});

test('docs/tutorial.md shows every file of the tutorial, each as the file it names (checked verbatim by code-blocks.test.ts)', (t) => {
  const shown = codeBlocks('docs/tutorial.md').flatMap((block) => (block.example === undefined ? [] : [block.example]));
  const files = readdirSync(new URL('tutorial/', import.meta.url)).map((name) => `test/docs/tutorial/${name}`);
  t.deepEqual([...shown].sort(), files.sort());
});

test('the tutorial files type-check with the tsconfig.json the tutorial gives, against the built package', async (t) => {
  const tsc = spawn(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'test/docs/tutorial/tsconfig.json'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  tsc.stdout.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  tsc.stderr.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  const [code] = await once(tsc, 'exit');
  t.is(code, 0, output);
});
