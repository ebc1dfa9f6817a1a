// No sticky sessions: three push processes (the real CLI) on one Redis change log behind a
// round-robin proxy; long-poll clients bounce between them with every request, and one process is
// restarted mid-run. Every client gets exactly the changes of its group, once each, in order.

import { once } from 'node:events';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import type { ChangeInput, ChangeMessage } from '../../core/types.ts';
import { startPushProcess, type PushProcess } from '../../demo/push-process.ts';
import { groupPush } from '../fixtures/group-app.ts';
import { secret } from '../helpers/push.ts';
import { redisSkip, testRedis } from '../helpers/redis.ts';

const groups = 10;
const clientsPerGroup = 3;
const changes = 3_000;

async function pushProcess(t: ExecutionContext, env: Record<string, string>): Promise<PushProcess> {
  const child = await startPushProcess({ app: 'test/fixtures/group-app.ts', env });
  t.teardown(() => void child.kill('SIGKILL'));
  return child;
}

/** A proxy that sends each request to the next live backend, skipping any that refuses. */
async function roundRobin(t: ExecutionContext, backends: string[]): Promise<string> {
  let next = 0;
  const server = createServer((incoming, outgoing) => {
    const forward = (tries: number) => {
      const target = new URL(incoming.url ?? '/', backends[next++ % backends.length]);
      const proxied = request(target, { method: incoming.method, headers: incoming.headers }, (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      });
      proxied.on('error', () => (tries < backends.length ? forward(tries + 1) : outgoing.writeHead(502).end()));
      proxied.end();
    };
    forward(1);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const redisTest = redisSkip() === undefined ? test : test.skip;

redisTest(
  'three push processes behind round robin: every client gets its changes once, in order, across a restart',
  async (t) => {
    t.timeout(120_000);
    const redis = await testRedis(t);
    const env = { GROUP_REDIS_URL: redis.url, GROUP_REDIS_KEY: 'no-sticky', GROUP_SECRET: secret };
    const processes = await Promise.all([1, 2, 3].map(() => pushProcess(t, env)));
    const backends = processes.map((process) => process.origin);
    const proxy = await roundRobin(t, backends);
    // This process renders the pages and publishes, on the same log, as the app would.
    const app = await groupPush(redis.url, 'no-sticky', secret);
    t.teardown(() => app.close());

    const clients = await Promise.all(
      Array.from({ length: groups * clientsPerGroup }, async (_, index) => {
        const group = index % groups;
        const token = app.token({
          path: `/groups/${group}`,
          query: '',
          identity: null,
          languages: [],
          cursor: await app.log.head(),
        });
        return {
          group,
          token,
          cursor: undefined as string | undefined,
          seqs: [] as number[],
          cursors: new Set<string>(),
        };
      }),
    );
    let stop = false;
    const polling = clients.map(async (client) => {
      while (!stop) {
        const query = new URLSearchParams(
          client.cursor === undefined ? { token: client.token } : { token: client.token, cursor: client.cursor },
        );
        const response = await fetch(`${proxy}/serverpush/long-poll?${query}`).catch(() => undefined);
        if (response?.status !== 200) continue;
        const { messages } = (await response.json()) as { messages: ChangeMessage[] };
        for (const message of messages) {
          t.is(message.name, 'item', JSON.stringify(message));
          client.seqs.push((message.data as { seq: number }).seq);
          client.cursor = message.cursor;
        }
      }
    });

    for (let start = 0; start < changes; start += 100) {
      const batch = Array.from({ length: 100 }, (_, offset): ChangeInput => {
        const seq = start + offset;
        return { model: 'items', op: 'insert', id: seq, after: { id: seq, group: seq % groups, seq }, before: null };
      });
      await app.publish(batch);
      if (start === changes / 2) {
        // Restart one push process with changes in flight: its clients land elsewhere meanwhile.
        const [victim] = processes.splice(1, 1);
        victim!.kill('SIGTERM');
        await once(victim!, 'exit');
        const replacement = await pushProcess(t, env);
        processes.push(replacement);
        backends.splice(backends.indexOf(victim!.origin), 1, replacement.origin);
      }
    }

    const expected = (group: number) => Array.from({ length: changes / groups }, (_, i) => i * groups + group);
    const deadline = Date.now() + 60_000;
    while (clients.some((client) => client.seqs.length < changes / groups) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    stop = true;
    await Promise.race([Promise.all(polling), new Promise((resolve) => setTimeout(resolve, 5_000))]);
    for (const client of clients) t.deepEqual(client.seqs, expected(client.group), `group ${client.group}`);
  },
);
