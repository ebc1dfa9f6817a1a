// How the cost of routing one change grows with the number of connected pages: 100,000 subscribed
// pages of which 10 match, beside 10 pages in total, in the same run. The ratio should stay under 3.
//
//   npm run bench:match [-- --pages 100000 --changes 2000]

import { parseArgs } from 'node:util';
import { createPush, type Push } from '../core/push.ts';
import type { ChangeInput } from '../core/types.ts';

const { values } = parseArgs({
  options: { pages: { type: 'string', default: '100000' }, changes: { type: 'string', default: '2000' } },
});
const totalPages = Number(values.pages);
const changes = Math.min(Number(values.changes), 9_000);
const matching = 10;
const secret = 'bench-secret-bench-secret-bench-secret';

async function connected(pages: number): Promise<Push> {
  const push = createPush({
    secret,
    maxPending: 10_000,
    routes: { match: (path) => ({ name: 'owner', params: { id: path.slice(1) } }) },
  });
  push.updates('owner', (ctx) => [
    { name: 'todo', model: 'todos', params: { ownerId: ctx.params['id']! }, data: { title: 'title' } },
  ]);
  const cursor = await push.log.head();
  for (let page = 0; page < pages; page += 1) {
    // The first `matching` pages watch owner 0, the rest each watch an owner of their own.
    const owner = page < matching ? 0 : page;
    const token = push.token({ path: `/${owner}`, query: '', identity: null, languages: [], cursor });
    await push.poll(token, undefined, { waitMs: 0 });
  }
  return push;
}

async function timePerChange(push: Push): Promise<number> {
  const change = (id: number): ChangeInput => ({
    model: 'todos',
    op: 'update',
    id,
    after: { id, ownerId: 0, title: `t${id}` },
    before: { id, ownerId: 0, title: '' },
  });
  for (let i = 0; i < 200; i += 1) await push.publish(change(i));
  const started = process.hrtime.bigint();
  for (let i = 0; i < changes; i += 1) await push.publish(change(i));
  return Number(process.hrtime.bigint() - started) / changes / 1_000;
}

const small = await connected(matching);
const large = await connected(totalPages);
const rows: Array<[string, number]> = [];
// Alternate the two so drift of the machine's speed falls on both.
const smallRuns: number[] = [];
const largeRuns: number[] = [];
for (let round = 0; round < 3; round += 1) {
  smallRuns.push(await timePerChange(small));
  largeRuns.push(await timePerChange(large));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
rows.push(
  [`${matching} pages, ${matching} match`, median(smallRuns)],
  [`${totalPages.toLocaleString('en')} pages, ${matching} match`, median(largeRuns)],
);
console.log(`route one change (publish → hub → ${matching} mailboxes), median of 3 rounds of ${changes} changes`);
for (const [label, us] of rows) console.log(`  ${label.padEnd(28)} ${us.toFixed(2).padStart(8)} µs/change`);
const ratio = median(largeRuns) / median(smallRuns);
console.log(
  `  ratio ${ratio.toFixed(2)} (target < 3)  pages: ${large.stats().pages}, subscriptions: ${large.stats().subscriptions}`,
);
await small.close();
await large.close();
process.exitCode = ratio < 3 ? 0 : 1;
