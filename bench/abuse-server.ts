// The push server of bench/abuse.ts, in a process of its own: pages of `/rooms/:room` listen to
// their room's messages, serialized per viewer by a function (about 1 KiB each), as a fragment
// would be. SERVERPUSH_ROOT names the checkout to load (default: this one), so that two versions
// can be measured side by side. It answers over IPC: `memory` (RSS and heap after a GC, stats, open
// file descriptors) and `publish` (n changes at 20/s), through ./child-server.ts.

import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import Router from '@koa/router';
import Koa from 'koa';
import { serveBench } from './child-server.ts';

const root = pathToFileURL(`${process.env['SERVERPUSH_ROOT'] ?? new URL('..', import.meta.url).pathname}/`);
const { createPush } = (await import(
  new URL('adapters/koa/index.ts', root).href
)) as typeof import('../adapters/koa/index.ts');
const { longPoll } = (await import(
  new URL('transports/long-poll.ts', root).href
)) as typeof import('../transports/long-poll.ts');
const { sse } = (await import(new URL('transports/sse.ts', root).href)) as typeof import('../transports/sse.ts');

const router = new Router();
const push = createPush({ secret: 'bench-secret-bench-secret-bench-secret', router, transports: [sse(), longPoll()] });
router.get('room', '/rooms/:room', (ctx) => void (ctx.body = ctx.state.serverpush.token));
push.updates('room', (ctx) => [
  {
    name: 'message',
    model: 'messages',
    params: { room: ctx.params['room']! },
    serializer: (viewer, row) =>
      `<li data-for="${String(viewer.identity)}">${String(row['text'])}${' '.repeat(1_000)}</li>`,
  },
]);
const server = createServer(new Koa().use(push.routes()).use(push.middleware()).use(router.routes()).callback());
serveBench(
  server,
  push,
  (seq) => ({
    model: 'messages',
    op: 'insert',
    id: seq,
    after: { id: seq, room: 'bench', text: `message ${seq}` },
    before: null,
  }),
  50,
);
