// Scale-out: deliveries per second and latency with 1, 2 and 3 push processes (the `serverpush`
// command) sharing a Redis change log, beside the in-memory log on one process, on the same machine
// in the same run. Clients (a child process) are spread over the push processes as a load balancer
// would; this process publishes. It starts a redis-server of its own on a spare loopback port.
//
//   npm run bench:scale [-- --clients 1000 --spaced 20 --burst 100 --kind websocket]

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import Koa from 'koa';
import type { KoaPush } from '../adapters/koa/index.ts';
import { redisLog } from '../adapters/redis/index.ts';
import { startPushProcess } from '../demo/push-process.ts';
import { scalePush } from './scale-app.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    spaced: { type: 'string', default: '20' },
    burst: { type: 'string', default: '100' },
    kind: { type: 'string', default: 'websocket' },
  },
});
const clients = Math.min(Number(values.clients), 2_000);
const spaced = Math.min(Number(values.spaced), 200);
const burst = Math.min(Number(values.burst), 1_000);
const kind = values.kind ?? 'websocket';
const secret = 'scale-secret-scale-secret-scale-secret';
const dir = mkdtempSync(join(tmpdir(), 'serverpush-scale-'));
const children: ChildProcess[] = [];
const now = () => performance.timeOrigin + performance.now();

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  return port;
}

async function startRedis(): Promise<string> {
  const port = await freePort();
  const redis = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  children.push(redis);
  for (let i = 0; i < 50; i += 1) {
    const ready = await new Promise<boolean>((resolve) => {
      const ping = spawn('redis-cli', ['-p', String(port), 'ping'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      ping.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      ping.on('exit', () => resolve(out.includes('PONG')));
    });
    if (ready) return `redis://127.0.0.1:${port}`;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('redis-server did not start');
}

async function pushProcess(env: Record<string, string>): Promise<string> {
  const child = await startPushProcess({ app: 'bench/scale-app.ts', env });
  children.push(child);
  return child.origin;
}

interface Summary {
  received: number;
  lastAt: number;
  p50: number;
  p99: number;
}

/** One phase: clients connect, `changes` changes are published `gapMs` apart, the clients report. */
async function phase(
  urls: string[],
  publisher: KoaPush,
  changes: number,
  gapMs: number,
): Promise<Summary & { startedAt: number }> {
  const cursor = await publisher.log.head();
  const tokens = Array.from({ length: clients }, () =>
    publisher.token({ path: '/page', query: '', identity: null, languages: [], cursor }),
  );
  const file = join(dir, 'tokens.txt');
  writeFileSync(file, tokens.join('\n'));
  const child = spawn(
    process.execPath,
    ['--import=tsx', 'bench/fanout-clients.ts', kind, urls.join(','), String(clients), String(changes), file],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  if ((await lines.next()).value !== 'ready') throw new Error('clients did not connect');
  await new Promise((resolve) => setTimeout(resolve, 300));
  const startedAt = now();
  for (let seq = 1; seq <= changes; seq += 1) {
    await publisher.publish({
      model: 'ticks',
      op: 'insert',
      id: seq,
      after: { id: seq, seq, sentAt: now() },
      before: null,
    });
    if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  const summary = JSON.parse(String((await lines.next()).value)) as Summary;
  child.kill();
  return { ...summary, startedAt };
}

async function measure(label: string, urls: string[], publisher: KoaPush) {
  const latency = await phase(urls, publisher, spaced, 50);
  const throughput = await phase(urls, publisher, burst, 0);
  const perSecond = throughput.received / ((throughput.lastAt - throughput.startedAt) / 1_000);
  console.log(
    `${label.padEnd(30)}${latency.p50.toFixed(1).padStart(9)}${latency.p99.toFixed(1).padStart(9)}${Math.round(perSecond).toLocaleString('en').padStart(15)}${`${throughput.received}/${clients * burst}`.padStart(16)}`,
  );
}

try {
  console.log(`scale-out: ${clients} ${kind} clients spread over the push processes, one machine (2 cores)`);
  console.log(`latency: ${spaced} changes 50 ms apart; throughput: a burst of ${burst} changes\n`);
  console.log(
    `${'setup'.padEnd(30)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'deliveries/s'.padStart(15)}${'delivered'.padStart(16)}`,
  );

  // The reference: one process, the in-memory log, publishing in-process.
  const memory = scalePush(secret);
  const server = createServer(new Koa().use(memory.routes()).callback());
  memory.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  await measure('1 process, memory log', [`http://127.0.0.1:${(server.address() as AddressInfo).port}`], memory);
  await memory.close();
  server.closeAllConnections();
  server.close();

  const url = await startRedis();
  for (const processes of [1, 2, 3]) {
    const key = `scale-${processes}`;
    const urls = await Promise.all(
      Array.from({ length: processes }, () =>
        pushProcess({ SCALE_SECRET: secret, SCALE_REDIS_URL: url, SCALE_REDIS_KEY: key }),
      ),
    );
    const publisher = scalePush(secret, await redisLog({ url, key, blockMs: 1_000 }));
    await measure(`${processes} process${processes > 1 ? 'es' : ''}, Redis log`, urls, publisher);
    await publisher.close();
    for (const child of children.splice(1)) child.kill('SIGTERM');
  }
} finally {
  for (const child of children) child.kill('SIGKILL');
}
process.exit(0);
