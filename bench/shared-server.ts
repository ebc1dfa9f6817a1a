// The push server of bench/shared.ts, in a process of its own so that its memory is its own: a Koa
// app whose `/page` renders a page token, every page listening to every change of `ticks`. It
// answers the bench over IPC through ./child-server.ts: `memory` (RSS and heap after a GC, stats),
// `publish` (n changes).

import { createServer } from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';
import { createPush } from '../adapters/koa/index.ts';
import { websocket } from '../transports/websocket.ts';
import { serveBench } from './child-server.ts';

const router = new Router();
const push = createPush({
  secret: 'bench-secret-bench-secret-bench-secret',
  router,
  transports: [websocket({ heartbeatMs: 60_000 })],
  maxPagesPerConnection: 64,
  // Every bench client connects from 127.0.0.1.
  maxConnectionsPerAddress: 1_000_000,
});
router.get('page', '/page', (ctx) => void (ctx.body = ctx.state.serverpush.token));
push.updates('page', () => [{ name: 'tick', model: 'ticks', data: { seq: 'seq' } }]);
const server = createServer(new Koa().use(push.routes()).use(push.middleware()).use(router.routes()).callback());
push.attach(server);
serveBench(
  server,
  push,
  (seq) => ({ model: 'ticks', op: 'insert', id: seq, after: { id: seq, seq }, before: null }),
  20,
);
