// Fan-out: one process publishes changes that concern 1,000 connected clients, per transport,
// beside socket.io 4 broadcasting the same payloads, on the same machine in the same run. The clients
// run in a child process. Two phases per transport: latency (changes spaced out) and throughput (a
// burst, timed until the last client has the last change).
//
//   npm run bench:fanout [-- --clients 1000 --spaced 20 --burst 100 --only long-poll,socket.io-polling]
//
// `--metrics` runs each serverpush transport twice, the second time with `serverpush/metrics`
// observing the push instance (scraped once at the end), to show what the metrics cost.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import Router from '@koa/router';
import Koa from 'koa';
import { Server as SocketIoServer } from 'socket.io';
import { createPush } from '../adapters/koa/index.ts';
import { metrics } from '../adapters/metrics/index.ts';
import { longPoll } from '../transports/long-poll.ts';
import { sse } from '../transports/sse.ts';
import { websocket } from '../transports/websocket.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    spaced: { type: 'string', default: '20' },
    burst: { type: 'string', default: '100' },
    only: { type: 'string' },
    metrics: { type: 'boolean', default: false },
  },
});
const clients = Math.min(Number(values.clients), 2_000);
const spaced = Math.min(Number(values.spaced), 200);
const burst = Math.min(Number(values.burst), 1_000);
const now = () => performance.timeOrigin + performance.now();

interface Target {
  readonly url: string;
  publish(seq: number): Promise<void>;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function serverpushTarget(withMetrics = false): Promise<Target> {
  const router = new Router();
  const push = createPush({
    secret: 'bench-secret-bench-secret-bench-secret',
    router,
    transports: [longPoll(), sse(), websocket()],
    maxPending: 5_000,
    // Every client of the bench comes from 127.0.0.1: the per-address bound (256) would refuse most.
    maxConnectionsPerAddress: 5_000,
  });
  router.get('page', '/page', (ctx) => void (ctx.body = ctx.state.serverpush.token));
  push.updates('page', () => [{ name: 'tick', model: 'ticks', data: { seq: 'seq', sentAt: 'sentAt' } }]);
  const scrape = withMetrics ? metrics(push) : undefined;
  const server = createServer(new Koa().use(push.routes()).use(push.middleware()).use(router.routes()).callback());
  push.attach(server);
  return {
    url: await listen(server),
    async publish(seq) {
      await push.publish({
        model: 'ticks',
        op: 'insert',
        id: seq,
        after: { id: seq, seq, sentAt: now() },
        before: null,
      });
    },
    async close() {
      // One scrape, so that the metrics are read as Prometheus would, not only counted.
      if (scrape !== undefined && !(await scrape.text()).includes('serverpush_deliveries_total'))
        throw new Error('the scrape has no serverpush_deliveries_total');
      await push.close();
      server.closeAllConnections();
      server.close();
    },
  };
}

async function socketIoTarget(): Promise<Target> {
  const server = createServer();
  const io = new SocketIoServer(server, { cors: { origin: '*' } });
  return {
    url: await listen(server),
    async publish(seq) {
      io.emit('change', { seq, sentAt: now() });
    },
    async close() {
      io.close();
      server.closeAllConnections();
    },
  };
}

interface Summary {
  received: number;
  lastAt: number;
  p50: number;
  p99: number;
}

async function phase(
  kind: string,
  target: Target,
  changes: number,
  gapMs: number,
): Promise<Summary & { startedAt: number; cpuMs: number }> {
  const child = spawn(
    process.execPath,
    ['--import=tsx', 'bench/fanout-clients.ts', kind, target.url, String(clients), String(changes)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  if ((await lines.next()).value !== 'ready') throw new Error(`${kind}: clients did not connect`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const startedAt = now();
  // The server's CPU time (this process: the push instance and the publishing loop), less sensitive
  // than wall time to the other processes on a shared machine.
  const cpu = process.cpuUsage();
  for (let seq = 1; seq <= changes; seq += 1) {
    await target.publish(seq);
    if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  const summary = JSON.parse(String((await lines.next()).value)) as Summary;
  const { user, system } = process.cpuUsage(cpu);
  child.kill();
  return { ...summary, startedAt, cpuMs: (user + system) / 1_000 };
}

const kinds: Array<[string, () => Promise<Target>]> = [
  ['long-poll', () => serverpushTarget()],
  ['sse', () => serverpushTarget()],
  ['websocket', () => serverpushTarget()],
  ['socket.io-polling', socketIoTarget],
  ['socket.io-websocket', socketIoTarget],
];
if (values.metrics) {
  for (const name of ['websocket', 'sse', 'long-poll']) {
    const at = kinds.findIndex(([kind]) => kind === name);
    kinds.splice(at + 1, 0, [`${name}+metrics`, () => serverpushTarget(true)]);
  }
}
console.log(`fan-out to ${clients} clients on one machine (2 cores shared by server and clients)`);
console.log(`latency: ${spaced} changes 50 ms apart; throughput: a burst of ${burst} changes\n`);
console.log(
  `${'transport'.padEnd(30)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'deliveries/s'.padStart(15)}${'delivered'.padStart(16)}${'server CPU µs/delivery'.padStart(24)}`,
);
for (const [kind, make] of kinds.filter(
  ([kind]) => values.only === undefined || values.only.split(',').includes(kind.replace('+metrics', '')),
)) {
  const target = await make();
  try {
    const latency = await phase(kind.replace('+metrics', ''), target, spaced, 50);
    const throughput = await phase(kind.replace('+metrics', ''), target, burst, 0);
    const perSecond = throughput.received / ((throughput.lastAt - throughput.startedAt) / 1_000);
    const label = kind.startsWith('socket.io') ? kind : `serverpush ${kind}`;
    console.log(
      `${label.padEnd(30)}${latency.p50.toFixed(1).padStart(9)}${latency.p99.toFixed(1).padStart(9)}${Math.round(perSecond).toLocaleString('en').padStart(15)}${`${throughput.received}/${clients * burst}`.padStart(16)}${((throughput.cpuMs * 1_000) / Math.max(1, throughput.received)).toFixed(2).padStart(24)}`,
    );
  } finally {
    await target.close();
  }
}
process.exit(0);
