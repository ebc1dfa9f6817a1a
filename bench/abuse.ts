// What a hostile or careless client costs the server, measured on a push server of its own:
// 1,000 pages opened (each page's first poll) and never read again while changes keep coming (the
// server's RSS, and how long a normal client's update then takes); and one page token opening
// 2,000 SSE streams (the connections and file descriptors the server holds).
//
//   npm run bench:abuse [-- --root ../other-checkout]    (--root: the checkout whose library to load)

import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request, Agent } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    pages: { type: 'string', default: '1000' },
    streams: { type: 'string', default: '2000' },
  },
});
const pageCount = Math.min(Number(values.pages), 5_000);
const streamCount = Math.min(Number(values.streams), 5_000);

interface Memory {
  readonly rss: number;
  readonly heapUsed: number;
  readonly fds: number;
  // Older versions name these `sessions` and `waiting`.
  readonly stats: {
    readonly pages?: number;
    readonly sessions?: number;
    readonly connections?: number;
    readonly waiting: number;
  };
}

async function start(): Promise<{ child: ChildProcess; url: string; ask<T>(message: object): Promise<T> }> {
  const env = { ...process.env, ...(values.root === undefined ? {} : { SERVERPUSH_ROOT: values.root }) };
  const child = fork(new URL('./abuse-server.ts', import.meta.url), [], {
    execArgv: ['--expose-gc', '--import=tsx'],
    env,
  });
  const [{ url }] = (await once(child, 'message')) as [{ url: string }];
  const ask = async <T>(message: object): Promise<T> => {
    child.send(message);
    return ((await once(child, 'message')) as [T])[0];
  };
  return { child, url, ask };
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

async function abandoned() {
  const server = await start();
  try {
    const before = await server.ask<Memory>({ cmd: 'memory' });
    for (let opened = 0; opened < pageCount; opened += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, pageCount - opened) }, async () => {
          const token = (await get(`${server.url}/rooms/bench`)).body;
          await get(`${server.url}/serverpush/long-poll?token=${encodeURIComponent(token)}`);
        }),
      );
    }
    // A normal client follows the room meanwhile.
    const token = (await get(`${server.url}/rooms/bench`)).body;
    let cursor: string | undefined;
    const waits: number[] = [];
    let following = true;
    const follow = (async () => {
      while (following) {
        const asked = Date.now();
        const answer = await get(
          `${server.url}/serverpush/long-poll?token=${encodeURIComponent(token)}${cursor === undefined ? '' : `&cursor=${cursor}`}`,
        );
        if (answer.status !== 200) continue;
        const { messages } = JSON.parse(answer.body) as { messages: Array<{ cursor: string }> };
        cursor = messages.at(-1)?.cursor ?? cursor;
        waits.push(Date.now() - asked);
      }
    })();
    await server.ask({ cmd: 'publish', n: 100 });
    const after = await server.ask<Memory>({ cmd: 'memory' });
    following = false;
    await Promise.race([follow, new Promise((resolve) => setTimeout(resolve, 1_000))]);
    waits.sort((a, b) => a - b);
    console.log(
      `${pageCount} pages opened and abandoned, 100 changes to each: RSS +${((after.rss - before.rss) / 1_048_576).toFixed(1)} MiB, ` +
        `heap +${((after.heapUsed - before.heapUsed) / 1_048_576).toFixed(1)} MiB, pages kept ${after.stats.pages ?? after.stats.sessions}; ` +
        `a normal client's poll answered in p50 ${waits[Math.floor(waits.length / 2)] ?? '?'} ms, max ${waits.at(-1) ?? '?'} ms`,
    );
  } finally {
    server.child.kill();
  }
}

async function oneTokenManyStreams() {
  const server = await start();
  const sockets: Array<ReturnType<typeof request>> = [];
  try {
    const before = await server.ask<Memory>({ cmd: 'memory' });
    const token = (await get(`${server.url}/rooms/bench`)).body;
    for (let i = 0; i < streamCount; i += 1) {
      const outgoing = request(`${server.url}/serverpush/sse?token=${encodeURIComponent(token)}`, { agent: false });
      outgoing.on('error', () => {});
      outgoing.on('response', (response) => response.resume());
      outgoing.end();
      sockets.push(outgoing);
      if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const after = await server.ask<Memory>({ cmd: 'memory' });
    console.log(
      `one token, ${streamCount} SSE streams opened: the server holds ${after.stats.connections ?? after.stats.waiting} connection(s) and ${after.fds - before.fds} more file descriptors`,
    );
  } finally {
    for (const socket of sockets) socket.destroy();
    server.child.kill();
  }
}

await abandoned();
await oneTokenManyStreams();
agent.destroy();
