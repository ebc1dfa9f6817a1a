// Sharing, measured: 1,000 simulated browsers with 5 pages each, every browser's pages on one
// WebSocket of the many-page protocol (as tabs sharing a connection do), beside the same 5,000
// pages on one WebSocket each (as tabs that cannot share), against a fresh push server each. It
// prints the connections the server holds, its memory per page and per connection, and checks that
// each change reached every page once.
//
//   npm run bench:shared [-- --browsers 1000 --tabs 5 --changes 20]

import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';

const { values } = parseArgs({
  options: {
    browsers: { type: 'string', default: '1000' },
    tabs: { type: 'string', default: '5' },
    changes: { type: 'string', default: '20' },
  },
});
const browsers = Math.min(Number(values.browsers), 2_000);
const tabs = Math.min(Number(values.tabs), 10);
const changes = Math.min(Number(values.changes), 200);

interface Memory {
  readonly rss: number;
  readonly heapUsed: number;
  readonly stats: { readonly pages: number; readonly connections: number };
}

async function startServer(): Promise<{ child: ChildProcess; url: string; ask<T>(message: object): Promise<T> }> {
  const child = fork(new URL('./shared-server.ts', import.meta.url), [], { execArgv: ['--expose-gc', '--import=tsx'] });
  const [{ url }] = (await once(child, 'message')) as [{ url: string }];
  const ask = async <T>(message: object): Promise<T> => {
    child.send(message);
    return ((await once(child, 'message')) as [T])[0];
  };
  return { child, url, ask };
}

/** Renders `count` pages, a few requests at a time. */
async function tokens(url: string, count: number): Promise<string[]> {
  const all: string[] = [];
  while (all.length < count) {
    const batch = Math.min(50, count - all.length);
    all.push(...(await Promise.all(Array.from({ length: batch }, async () => (await fetch(`${url}/page`)).text()))));
  }
  return all;
}

/** Opens the sockets, `perSocket` pages each; counts what each page (by token index) receives. */
async function openSockets(url: string, pages: string[], perSocket: number, received: Map<number, number[]>) {
  const sockets: WebSocket[] = [];
  const ws = url.replace(/^http/, 'ws');
  for (let start = 0; start < pages.length; start += perSocket * 50) {
    const opening: Array<Promise<unknown>> = [];
    for (let first = start; first < Math.min(pages.length, start + perSocket * 50); first += perSocket) {
      const mine = pages.slice(first, first + perSocket);
      const shared = perSocket > 1;
      const socket = new WebSocket(
        shared ? `${ws}/serverpush/websocket?mux=1` : `${ws}/serverpush/websocket?token=${mine[0]}`,
      );
      socket.on('message', (data) => {
        const frame = JSON.parse(String(data)) as {
          messages?: Array<{ data?: { seq: number } }>;
          pages?: Record<string, Array<{ data?: { seq: number } }>>;
        };
        const batches = shared ? Object.entries(frame.pages ?? {}) : [['0', frame.messages ?? []] as const];
        for (const [key, messages] of batches) {
          const page = first + Number(key);
          for (const message of messages) if (message.data !== undefined) received.get(page)!.push(message.data.seq);
        }
      });
      opening.push(
        once(socket, 'open').then(() => {
          if (shared)
            socket.send(JSON.stringify({ add: mine.map((token, key) => ({ key: String(key), token, cursor: null })) }));
        }),
      );
      sockets.push(socket);
    }
    await Promise.all(opening);
  }
  return sockets;
}

async function phase(label: string, perSocket: number) {
  const server = await startServer();
  try {
    const before = await server.ask<Memory>({ cmd: 'memory' });
    const pages = await tokens(server.url, browsers * tabs);
    const received = new Map(pages.map((_, index) => [index, [] as number[]]));
    const started = performance.now();
    const sockets = await openSockets(server.url, pages, perSocket, received);
    const deadline = Date.now() + 30_000;
    let after = await server.ask<Memory>({ cmd: 'memory' });
    while (after.stats.pages < pages.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      after = await server.ask<Memory>({ cmd: 'memory' });
    }
    const connectedMs = performance.now() - started;
    await server.ask({ cmd: 'publish', n: changes });
    const settle = Date.now() + 10_000;
    while ([...received.values()].some((seqs) => seqs.length < changes) && Date.now() < settle)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const once = [...received.values()].filter(
      (seqs) => seqs.length === changes && new Set(seqs).size === changes,
    ).length;
    const rss = (after.rss - before.rss) / 1024;
    const heap = (after.heapUsed - before.heapUsed) / 1024;
    console.log(
      `${label.padEnd(28)} ${String(after.stats.connections).padStart(6)} ${String(after.stats.pages).padStart(6)}` +
        ` ${(rss / after.stats.connections).toFixed(1).padStart(9)} ${(heap / after.stats.connections).toFixed(1).padStart(10)}` +
        ` ${(rss / after.stats.pages).toFixed(1).padStart(9)} ${(heap / after.stats.pages).toFixed(1).padStart(10)}` +
        ` ${(connectedMs / 1000).toFixed(1).padStart(8)} ${`${once}/${pages.length}`.padStart(12)}`,
    );
    for (const socket of sockets) socket.terminate();
  } finally {
    server.child.kill();
  }
}

console.log(
  `${browsers} browsers × ${tabs} pages, ${changes} changes to every page; memory = server growth after a GC, in KiB`,
);
console.log(
  `${'setup'.padEnd(28)} ${'conns'.padStart(6)} ${'pages'.padStart(6)} ${'RSS/conn'.padStart(9)} ${'heap/conn'.padStart(10)} ${'RSS/page'.padStart(9)} ${'heap/page'.padStart(10)} ${'connect s'.padStart(8)} ${'every change once'.padStart(12)}`,
);
await phase(`shared (${tabs} pages a socket)`, tabs);
await phase('one socket per page', 1);
