import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import test from 'ava';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test('README starts with the two quick-start commands', (t) => {
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  t.regex(firstBlock, /^npm install && npm run demo/m);
  t.regex(firstBlock, /^npm test/m);
});

test('README examples are the files they claim to be, verbatim', (t) => {
  const examples = [...readme.matchAll(/<!-- example: (\S+) -->\n```ts\n([\s\S]*?)```/g)];
  t.true(examples.length > 0);
  for (const [, path, code] of examples) {
    t.is(code, readFileSync(new URL(`../${path}`, import.meta.url), 'utf8'), `${path} differs from its README copy`);
  }
});

test('README hello example runs: a rename reaches the page through the built package', async (t) => {
  const child = spawn(process.execPath, ['--import=tsx', 'demo/hello.ts'], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill());
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const match = /open (http:\S+)/.exec(chunk.toString());
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`hello.ts exited with ${code}`)));
  });
  const html = await (await fetch(url)).text();
  t.regex(html, /Hey, <span data-serverpush-text="username_change" data-serverpush-field="username">alice<\/span>!/);
  const token = /data-token="([^"]+)"/.exec(html)![1]!;
  const origin = new URL(url).origin;
  t.is((await fetch(`${origin}/users/1/rename?to=bob`, { method: 'POST' })).status, 204);
  const { messages } = (await (await fetch(`${origin}/serverpush/long-poll?token=${token}`)).json()) as {
    messages: unknown[];
  };
  t.like(messages, [{ name: 'username_change', op: 'update', data: { username: 'bob' } }]);
});
