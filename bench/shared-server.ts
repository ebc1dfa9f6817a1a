// The push server of bench/shared.ts, in a process of its own so that its memory is its own: a Koa
// app whose `/page` renders a page token, every page listening to every change of `ticks`. It
// answers the bench over IPC: `gc`, `memory` (RSS and heap after a GC, and push.stats()),
// `publish` (n changes).

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { createPush } from '../adapters/koa/index.ts';
import { websocket } from '../transports/websocket.ts';

const router = new Router();
const push = createPush({
  secret: 'bench-secret-bench-secret-bench-secret',
  router,
  transports: [websocket({ heartbeatMs: 60_000 })],
  maxPagesPerConnection: 64,
});
router.get('page', '/page', (ctx) => void (ctx.body = ctx.state.serverpush.token));
push.updates('page', () => [{ name: 'tick', model: 'ticks', data: { seq: 'seq' } }]);
const server = createServer(new Koa().use(push.routes()).use(push.middleware()).use(router.routes()).callback());
push.attach(server);
server.listen(0, '127.0.0.1', () =>
  process.send?.({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
);

let seq = 0;
process.on('message', async (message: { cmd: string; n?: number }) => {
  if (message.cmd === 'memory') {
    for (let i = 0; i < 3; i += 1) (globalThis as { gc?: () => void }).gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    process.send?.({ rss, heapUsed, stats: push.stats() });
  } else if (message.cmd === 'publish') {
    for (let i = 0; i < (message.n ?? 1); i += 1) {
      seq += 1;
      await push.publish({ model: 'ticks', op: 'insert', id: seq, after: { id: seq, seq }, before: null });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    process.send?.({ published: seq });
  }
});
