// Churn: clients that reconnect at random moments with their last cursor, to either of two push
// processes sharing a change log and over any transport, some leaving the old connection open and
// unread: every client gets every change once, in order, and no page that was never behind is
// told to refresh. (Bounded: 24 clients, 1,200 changes in about 6 s. bench/churn.ts runs more.)

import test, { type ExecutionContext } from 'ava';
import { knexLog } from '../../adapters/knex-log/index.ts';
import { knexLogMigrations } from '../../adapters/knex-log/migration.ts';
import { redisLog } from '../../adapters/redis/index.ts';
import type { ChangeLog } from '../../core/change-log.ts';
import { memoryLog } from '../../core/memory-log.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { sse } from '../../transports/sse.ts';
import { websocket } from '../../transports/websocket.ts';
import { churnClient, type ChurnRecord, type ChurnTransport } from '../helpers/churn-client.ts';
import { testDatabases } from '../helpers/databases.ts';
import { redisSkip, testRedis } from '../helpers/redis.ts';
import { pushServer } from '../transports/conformance.ts';

// Read before any test is declared: ava takes only tests declared at once.
const postgres = (await testDatabases()).find((db) => db.dialect === 'postgresql')!;

const clients = 24;
const changes = 1_200;
const perTick = 10;
const tickMs = 50;

/** Two push processes' change logs on one store: each process opens its own, as separate processes would. */
type Logs = (t: ExecutionContext) => Promise<[ChangeLog, ChangeLog]>;

async function churn(t: ExecutionContext, logs: Logs) {
  t.timeout(60_000);
  const [first, second] = await logs(t);
  const transports = () => [
    longPoll({ timeoutMs: 1_000 }),
    sse({ heartbeatMs: 5_000 }),
    websocket({ heartbeatMs: 5_000 }),
  ];
  const processes = [
    await pushServer(t, transports(), { log: first }),
    await pushServer(t, transports(), { log: second }),
  ];
  const kinds: ChurnTransport[] = ['long-poll', 'sse', 'websocket'];
  const records: ChurnRecord[] = [];
  const followers = [];
  for (let i = 0; i < clients; i += 1) {
    const record: ChurnRecord = { ids: [], refreshes: [], errors: [] };
    records.push(record);
    const client = churnClient(await processes[i % 2]!.page(), record, (data) =>
      Number((data as { title: string }).title),
    );
    t.teardown(() => client.close());
    client.connect(processes[i % 2]!.base, kinds[i % 3]!);
    followers.push(client);
  }
  // Publishes at a steady pace while clients hop.
  let published = 0;
  let hops = 0;
  let halfOpen = 0;
  const random = seeded(7);
  while (published < changes) {
    await processes[0]!.push.publish(
      Array.from({ length: perTick }, (_, i) => ({
        model: 'items',
        op: 'insert',
        id: published + i + 1,
        after: { id: published + i + 1, title: String(published + i + 1) },
        before: null,
      })),
    );
    published += perTick;
    for (const client of followers) {
      if (random() > 0.04) continue;
      const leave = random() < 0.1;
      client.connect(processes[Math.floor(random() * 2)]!.base, kinds[Math.floor(random() * 3)]!, leave);
      hops += 1;
      if (leave) halfOpen += 1;
    }
    await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
  const deadline = Date.now() + 15_000;
  while (records.some((record) => record.ids.length < changes) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
  t.log(`${hops} reconnects, ${halfOpen} of them leaving the old connection half-open`);
  const expected = Array.from({ length: changes }, (_, i) => i + 1);
  for (const [index, record] of records.entries()) {
    const lost = expected.filter((id) => !record.ids.includes(id)).length;
    const repeated = record.ids.length - new Set(record.ids).size;
    const disordered = record.ids.some((id, at) => at > 0 && id <= record.ids[at - 1]!);
    t.deepEqual(
      { client: index, lost, repeated, disordered, refreshes: record.refreshes, errors: record.errors.slice(0, 3) },
      { client: index, lost: 0, repeated: 0, disordered: false, refreshes: [], errors: [] },
    );
  }
  t.true(hops > 20, `clients hopped ${hops} times`);
}

const title =
  'pages that reconnect at random, across processes and transports, some leaving half-open connections, get every change once, in order';

test(`${title} (memory log)`, (t) =>
  churn(t, async () => {
    const log = memoryLog({ maxCount: 20_000 });
    return [log, log];
  }));

(redisSkip() === undefined ? test : test.skip)(`${title} (Redis log)`, (t) =>
  churn(t, async () => {
    const redis = await testRedis(t);
    return [await redisLog({ url: redis.url, key: 'churn' }), await redisLog({ url: redis.url, key: 'churn' })];
  }),
);

(postgres.skip === undefined ? test : test.skip)(`${title} (knex log on PostgreSQL)`, (t) =>
  churn(t, async () => {
    const knex = await postgres.connect(t);
    await knex.migrate.latest({ migrationSource: knexLogMigrations(), tableName: 'churn_migrations' });
    return [await knexLog({ knex, pollIntervalMs: 20 }), await knexLog({ knex, pollIntervalMs: 20 })];
  }),
);

/** A small deterministic random source, so a failing run can be repeated. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}
