// The `serverpush` command, run as a child process on port 0: what it serves, its usage errors, the
// app modules it refuses, and its graceful and forced shutdowns. Option parsing runs in-process.

import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { main, usage } from '../../cli/index.ts';
import { parseOptions } from '../../cli/options.ts';
import { createPush } from '../../core/push.ts';
import { secret } from '../helpers/push.ts';
import { listen } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';
import { sseBlocks } from '../transports/drivers/sse.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin/serverpush.mjs');
const repo = (path: string) => JSON.stringify(new URL(`../../${path}`, import.meta.url).href);

// App modules written per run to a directory of their own, so that messages name them as given.
const fixtures = mkdtempSync(join(tmpdir(), 'serverpush-cli-'));
test.after.always(() => rmSync(fixtures, { recursive: true, force: true }));
writeFileSync(join(fixtures, 'package.json'), '{ "type": "module" }\n');
// The counter demo's push instance on a log whose epoch is known, holding one change: cursor `cli.1`.
const counterApp = `
import { memoryLog } from ${repo('core/memory-log.ts')};
import { createPushServer } from ${repo('demo/push-server.ts')};
export const push = createPushServer({ secret: ${JSON.stringify(secret)}, log: memoryLog({ epoch: 'cli' }) });
await push.publish({ model: 'counters', op: 'update', id: 1, after: { id: 1, hits: 5 }, before: { id: 1, hits: 4 } });
`;
writeFileSync(join(fixtures, 'counter.ts'), counterApp);
writeFileSync(join(fixtures, 'no-push.ts'), 'export const a = 1;\nexport function b() {}\n');
writeFileSync(join(fixtures, 'throws.ts'), "throw new Error('the app failed on purpose');\n");
writeFileSync(
  join(fixtures, 'factory.ts'),
  `
import { createPushServer } from ${repo('demo/push-server.ts')};
export default async () => createPushServer({ secret: ${JSON.stringify(secret)} });
`,
);
writeFileSync(join(fixtures, 'returns-number.ts'), 'export default () => 42;\n');
writeFileSync(
  join(fixtures, 'core-push.ts'),
  `import { createPush } from ${repo('core/push.ts')};\nexport const push = createPush({ secret: ${JSON.stringify(secret)} });\n`,
);
writeFileSync(join(fixtures, 'object.ts'), 'export const push = { routes: true };\n');
writeFileSync(
  join(fixtures, 'hangs.ts'),
  `
import { memoryLog } from ${repo('core/memory-log.ts')};
import { createPushServer } from ${repo('demo/push-server.ts')};
// An async factory whose log never finishes closing.
export default async () => createPushServer({ secret: ${JSON.stringify(secret)}, log: { ...memoryLog(), close: () => new Promise<void>(() => {}) } });
`,
);

interface Exit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** `performance.now()` when the process exited. */
  readonly at: number;
}

/** Runs the command from source under tsx in `cwd`; killed at teardown if still running. */
function cli(
  t: ExecutionContext,
  args: readonly string[],
  { cwd = fixtures, env = {} }: { cwd?: string; env?: Record<string, string> } = {},
) {
  const child = spawn(process.execPath, [`--import=${import.meta.resolve('tsx')}`, bin, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr, at: performance.now() })),
  );
  t.teardown(() => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
  /** The base URL of the push endpoints, from the line the command prints once it listens. */
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const url = /push endpoints on (http:\S+)/.exec(stdout)?.[1];
      if (url !== undefined) resolve(url);
    });
    void exited.then(({ code }) => reject(new Error(`exited with ${code} before listening: ${stderr}`)));
  });
  listening.catch(() => {}); // Awaited by the tests that expect the command to listen.
  return { child, exited, listening };
}

/** A page token for the counter app's home page, its cursor at the start of the log. */
function homeToken(t: ExecutionContext): string {
  const signer = createPush({ secret });
  t.teardown(() => signer.close());
  return signer.token({ path: '/', query: '', identity: null, languages: ['en'], cursor: 'cli.0' });
}

const hits = {
  cursor: 'cli.1',
  name: 'hits',
  op: 'update',
  model: 'counters',
  id: 1,
  data: '<span id="hits">5</span>',
};

/** Resolves with `promise`'s value, or with `'pending'` when it takes longer than `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(resolve, ms, 'pending'))]);
}

test('serverpush --help prints the usage and exits 0', async (t) => {
  const { code, stdout, stderr } = await cli(t, ['--help']).exited;
  t.deepEqual({ code, stdout, stderr }, { code: 0, stdout: usage, stderr: '' });
});

test('serverpush runs from source without a preloaded tsx, and as `tsx cli/index.ts`', async (t) => {
  const plain = spawn(process.execPath, [bin, '--help'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const viaTsx = spawn(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), 'cli/index.ts', '--help'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  for (const child of [plain, viaTsx]) {
    t.teardown(() => void child.kill('SIGKILL'));
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const [code] = (await once(child, 'exit')) as [number];
    t.deepEqual({ code, stdout }, { code: 0, stdout: usage });
  }
});

test('serverpush exits 2 with a message on an unknown flag', async (t) => {
  const { code, stdout, stderr } = await cli(t, ['--app', 'counter.ts', '--bogus', '1']).exited;
  t.deepEqual(
    { code, stdout, stderr },
    { code: 2, stdout: '', stderr: 'serverpush: unknown option --bogus\nRun `serverpush --help` for usage.\n' },
  );
});

test('main() exits 2 naming the flag or variable of a bad or missing value', async (t) => {
  const cases: [string[], Record<string, string>, string][] = [
    [['--port', 'x', '--app', 'a.ts'], {}, '--port must be an integer from 0 to 65535, got "x"'],
    [
      ['--app', 'a.ts'],
      { SERVERPUSH_PORT: '70000' },
      'SERVERPUSH_PORT must be an integer from 0 to 65535, got "70000"',
    ],
    [
      ['--app', 'a.ts', '--shutdown-timeout-ms=0'],
      {},
      '--shutdown-timeout-ms must be an integer from 1 to 2147483647, got "0"',
    ],
    [
      ['--app', 'a.ts', '--max-connections', '0'],
      {},
      '--max-connections must be an integer from 1 to 2147483647, got "0"',
    ],
    [
      ['--app', 'a.ts'],
      { SERVERPUSH_MAX_CONNECTIONS: 'many' },
      'SERVERPUSH_MAX_CONNECTIONS must be an integer from 1 to 2147483647, got "many"',
    ],
    [
      ['--app', 'a.ts', '--prefix', 'serverpush/'],
      {},
      '--prefix must be a path like /serverpush, without a trailing slash, got "serverpush/"',
    ],
    [['--app', '--port', '1'], {}, '--app needs a value'],
    [['--port', '1'], {}, '--app is required (or SERVERPUSH_APP): the module that exports the push instance'],
    [['a.ts'], {}, 'unexpected argument "a.ts"'],
    [['--app', 'missing.ts'], {}, `cannot find the app module missing.ts (looked for ${join(fixtures, 'missing.ts')})`],
  ];
  for (const [argv, env, message] of cases) {
    let stderr = '';
    const code = await main(argv, {
      env,
      cwd: fixtures,
      stdout: t.fail,
      stderr: (text) => (stderr += text),
      signal: new AbortController().signal,
    });
    t.deepEqual(
      { code, stderr },
      { code: 2, stderr: `serverpush: ${message}\nRun \`serverpush --help\` for usage.\n` },
      argv.join(' '),
    );
  }
});

test('main() takes its options from SERVERPUSH_* variables, flags winning, and checks --prefix against the instance', async (t) => {
  let stderr = '';
  const env = { SERVERPUSH_APP: 'factory.ts', SERVERPUSH_PREFIX: '/serverpush', SERVERPUSH_PORT: 'not read' };
  const code = await main(['--port', '0', '--prefix', '/push'], {
    env,
    cwd: fixtures,
    stdout: t.fail,
    stderr: (text) => (stderr += text),
    signal: new AbortController().signal,
  });
  t.deepEqual(
    { code, stderr },
    {
      code: 1,
      stderr: 'serverpush: factory.ts: its push instance is mounted at /serverpush, but --prefix says /push\n',
    },
  );
});

test('main() closes the push instance without listening when stopped while the module loads', async (t) => {
  let stdout = '';
  const code = await main(['--app', 'factory.ts'], {
    cwd: fixtures,
    stdout: (text) => (stdout += text),
    stderr: t.fail,
    signal: AbortSignal.abort(),
  });
  t.deepEqual({ code, stdout }, { code: 0, stdout: 'serverpush: stopped: shutting down\n' });
});

test('main() exits 1 when the port is taken', async (t) => {
  const { url } = await listen(t, () => {});
  const { port } = new URL(url);
  let stderr = '';
  const code = await main(['--app', 'factory.ts', '--port', port], {
    cwd: fixtures,
    stdout: t.fail,
    stderr: (text) => (stderr += text),
    signal: new AbortController().signal,
  });
  t.deepEqual(
    { code, stderr },
    {
      code: 1,
      stderr: `serverpush: cannot listen on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`,
    },
  );
});

test('serverpush exits 1 naming the exports of a module without a push instance', async (t) => {
  const { code, stderr } = await cli(t, ['--app', 'no-push.ts', '--port', '0']).exited;
  const message =
    'serverpush: no-push.ts exports no push instance: expected `export const push = createPush(...)` or a default export; found exports: a, b\n';
  t.deepEqual({ code, stderr }, { code: 1, stderr: message });
});

test('main() exits 1 saying what the push export is when it is not a push instance', async (t) => {
  const cases: [string, string][] = [
    ['returns-number.ts', 'returns-number.ts: its default export returned the number 42, not a push instance'],
    [
      'core-push.ts',
      'core-push.ts: its `push` export is a push instance without routes(): make it with createPush() from serverpush/koa',
    ],
    [
      'object.ts',
      'object.ts: its `push` export is an object with keys routes, not a push instance or a function returning one',
    ],
  ];
  for (const [app, message] of cases) {
    let stderr = '';
    const code = await main(['--app', app], {
      cwd: fixtures,
      stdout: t.fail,
      stderr: (text) => (stderr += text),
      signal: new AbortController().signal,
    });
    t.deepEqual({ code, stderr }, { code: 1, stderr: `serverpush: ${message}\n` });
  }
});

test('serverpush exits 1 printing the error of a module that throws while loading', async (t) => {
  const { code, stdout, stderr } = await cli(t, ['--app', 'throws.ts', '--port', '0']).exited;
  t.is(code, 1);
  t.is(stdout, '');
  t.regex(stderr, /^serverpush: throws\.ts failed to load: Error: the app failed on purpose\n {4}at /);
});

test('serverpush serves long-poll, SSE, WebSocket and client.js of the app module, and nothing else', async (t) => {
  const base = await cli(t, ['--app', 'counter.ts', '--port', '0']).listening;
  t.regex(base, /^http:\/\/127\.0\.0\.1:\d+\/serverpush$/);
  const token = homeToken(t);

  const poll = await fetch(`${base}/long-poll?token=${token}`);
  t.like(await poll.json(), { messages: [hits] });

  const leave = new AbortController();
  t.teardown(() => leave.abort());
  const stream = await fetch(`${base}/sse?token=${token}&cursor=cli.0`, { signal: leave.signal });
  const blocks = sseBlocks(stream.body!)[Symbol.asyncIterator]();
  t.deepEqual((await blocks.next()).value?.comments, ['connected']);
  t.like(JSON.parse((await blocks.next()).value?.data ?? ''), { messages: [hits] });

  const socket = new WebSocket(`${base.replace(/^http/, 'ws')}/websocket?token=${token}&cursor=cli.0`);
  t.teardown(() => socket.terminate());
  const [frame] = (await once(socket, 'message')) as [Buffer];
  t.like(JSON.parse(String(frame)), { messages: [hits] });

  const client = await fetch(`${base}/client.js`);
  t.is(client.status, 200);
  t.is(client.headers.get('content-type'), 'application/javascript; charset=utf-8');
  t.is((await fetch(new URL('/', base))).status, 404);
});

test('serverpush serves demo/push-server.ts, which needs PUSH_SECRET', async (t) => {
  const base = await cli(t, ['--app', 'demo/push-server.ts', '--port', '0'], {
    cwd: root,
    env: { PUSH_SECRET: secret },
  }).listening;
  t.regex(base, /^http:\/\/127\.0\.0\.1:\d+\/serverpush$/);
  // A token of another log's epoch: answered, with the refresh the app's pages would get today.
  const answer = await fetch(`${base}/long-poll?token=${homeToken(t)}`);
  t.deepEqual(await answer.json(), { messages: [{ name: 'refresh', reason: 'epoch' }] });

  const { code, stderr } = await cli(t, ['--app', 'demo/push-server.ts', '--port', '0'], {
    cwd: root,
    env: { PUSH_SECRET: '' },
  }).exited;
  t.is(code, 1);
  t.regex(
    stderr,
    /^serverpush: demo\/push-server\.ts: its default export threw: Error: demo\/push-server\.ts needs PUSH_SECRET: the app's token secret, at least 32 bytes\n/,
  );
});

test('serverpush prints the URL of the push endpoints with their transports', async (t) => {
  const run = cli(t, ['--app', 'counter.ts', '--port', '0', '--host', '127.0.0.1', '--prefix', '/serverpush']);
  const base = await run.listening;
  run.child.kill('SIGTERM');
  const { code, stdout } = await run.exited;
  t.is(code, 0);
  t.is(
    stdout,
    `serverpush: push endpoints on ${base} (transports: websocket, sse, long-poll, jsonp)\nserverpush: SIGTERM: shutting down\n`,
  );
});

test('serverpush answers a held long-poll at once on SIGTERM and exits 0', async (t) => {
  const { child, listening, exited } = cli(t, ['--app', 'counter.ts', '--port', '0', '--shutdown-timeout-ms', '5000']);
  const base = await listening;
  const poll = `${base}/long-poll?token=${homeToken(t)}&cursor=cli.1`;
  t.is((await fetch(poll)).status, 204, "a page's first poll is answered at once");
  const held = fetch(poll);
  t.is(await within(held, 300), 'pending', 'the poll is held');
  const signalled = performance.now();
  child.kill('SIGTERM');
  const answer = await within(held, 2_000);
  t.is(answer === 'pending' ? answer : answer.status, 204, 'answered at once, with nothing');
  const { code, at } = await exited;
  t.is(code, 0, 'within --shutdown-timeout-ms');
  t.true(at - signalled < 5_000, `exited ${Math.round(at - signalled)} ms after SIGTERM`);
});

test('serverpush ends an open SSE stream and WebSocket with a reconnect hint on SIGINT, and exits 0', async (t) => {
  const { child, listening, exited } = cli(t, ['--app', 'counter.ts', '--port', '0', '--shutdown-timeout-ms', '5000']);
  const base = await listening;
  // Two pages: a newer connection of one page would take it over from the stream.
  const stream = await fetch(`${base}/sse?token=${homeToken(t)}&cursor=cli.1`);
  const blocks = sseBlocks(stream.body!);
  const socket = new WebSocket(`${base.replace(/^http/, 'ws')}/websocket?token=${homeToken(t)}&cursor=cli.1`);
  t.teardown(() => socket.terminate());
  const closed = new Promise<[number, string]>((resolve) =>
    socket.once('close', (code, reason) => resolve([code, String(reason)])),
  );
  await new Promise((resolve) => socket.once('open', resolve));
  const signalled = performance.now();
  child.kill('SIGINT');
  const read = [];
  for await (const block of blocks) read.push(block);
  t.deepEqual(
    read.map(({ comments }) => comments),
    [['connected'], ['closing']],
  );
  t.regex(read[1]?.retry ?? '', /^\d+$/, 'the last block tells the browser when to reconnect');
  t.deepEqual(await closed, [1001, 'SERVERPUSH_ERR_CLOSED: the push server is shutting down; reconnect']);
  const { code, stdout, at } = await exited;
  t.is(code, 0, 'within --shutdown-timeout-ms');
  t.regex(stdout, /serverpush: SIGINT: shutting down\n$/);
  t.true(at - signalled < 5_000, `exited ${Math.round(at - signalled)} ms after SIGINT`);
});

test('serverpush exits 1 when shutdown hangs past --shutdown-timeout-ms', async (t) => {
  const { child, listening, exited } = cli(t, ['--app', 'hangs.ts', '--port', '0', '--shutdown-timeout-ms', '500']);
  await listening;
  const signalled = performance.now();
  child.kill('SIGTERM');
  const { code, stderr, at } = await exited;
  t.is(code, 1);
  t.is(stderr, 'serverpush: shutdown did not finish within 500 ms (still waiting for push.close()); exiting\n');
  t.true(at - signalled >= 450 && at - signalled < 5_000, `exited ${Math.round(at - signalled)} ms after SIGTERM`);
});

test('parseOptions() takes --max-connections or SERVERPUSH_MAX_CONNECTIONS, 10000 by default', (t) => {
  const maxConnections = (argv: string[], env: Record<string, string> = {}) => {
    const options = parseOptions(['--app', 'a.ts', ...argv], env);
    return options === 'help' ? options : options.maxConnections;
  };
  t.is(maxConnections([]), 10_000);
  t.is(maxConnections([], { SERVERPUSH_MAX_CONNECTIONS: '500' }), 500);
  t.is(maxConnections(['--max-connections', '20'], { SERVERPUSH_MAX_CONNECTIONS: '500' }), 20, 'the flag wins');
});

/** A raw keep-alive connection to `port`: sends GETs and reads each whole answer (Content-Length framed). */
function connection(t: ExecutionContext, port: number) {
  const socket = connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  let received = '';
  let closed = false;
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => {}); // A refused connection may be reset.
  socket.on('close', () => (closed = true));
  const complete = (text: string) => {
    const end = text.indexOf('\r\n\r\n');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text)?.[1] ?? 0);
    return end >= 0 && Buffer.byteLength(text.slice(end + 4)) >= length;
  };
  return {
    socket,
    /** The status line of the answer to `GET path`, or `'closed'` when the connection closed unanswered. */
    async get(path: string): Promise<string> {
      const from = received.length;
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      await until(() => closed || complete(received.slice(from)));
      const answer = received.slice(from);
      return answer === '' && closed ? 'closed' : (answer.split('\r\n', 1)[0] ?? '');
    },
  };
}

test('serverpush --max-connections closes a connection past the limit unanswered while it serves the others', async (t) => {
  const base = await cli(t, ['--app', 'counter.ts', '--port', '0', '--max-connections', '2']).listening;
  const port = Number(new URL(base).port);
  const first = connection(t, port);
  const second = connection(t, port);
  t.is(await first.get('/serverpush/none'), 'HTTP/1.1 404 Not Found');
  t.is(await second.get('/serverpush/none'), 'HTTP/1.1 404 Not Found');
  t.is(await connection(t, port).get('/serverpush/none'), 'closed', 'the third connection at once');
  t.is(await first.get('/serverpush/none'), 'HTTP/1.1 404 Not Found', 'the first is still served');
  t.is(await second.get('/serverpush/none'), 'HTTP/1.1 404 Not Found', 'and the second');
  first.socket.destroy();
  // The server counts the first connection out once it sees it close: a new one is served soon after.
  let answer = 'closed';
  for (let attempt = 0; attempt < 20 && answer === 'closed'; attempt += 1) {
    answer = await connection(t, port).get('/serverpush/none');
    if (answer === 'closed') await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.is(answer, 'HTTP/1.1 404 Not Found');
});
