// serverpush as a server of the peer benchmark (../shared/bench-peers): a Koa app with one named
// page route, its update function, push.middleware() and push.routes(), the in-memory change log
// and one transport (options.transport). broadcast(text) publishes one row change of `messages`
// that every page of the room listens to.
//
// The harness's own serverpush adapter takes the library's defaults; this one differs in one
// bound: every harness client connects from 127.0.0.1, so `maxConnectionsPerAddress` (256 by
// default) would refuse the idle phase's 1,000 and 5,000 connections. It is raised here, and
// nothing else is changed. The library is loaded from a build (env SERVERPUSH_DIR, default: this
// checkout, after `npm run build`).
//
// The harness calls start({ host, port, options }) and expects
// { broadcast(text), connections(): number, close(): Promise<void> }.
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(
  process.env.SERVERPUSH_DIR ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '../..'),
);
const require = createRequire(path.join(root, 'package.json'));
const load = (specifier) => import(pathToFileURL(require.resolve(specifier)).href);

export async function start({ host, port, options = {} }) {
  const Koa = require('koa');
  const Router = require('@koa/router');
  const { createPush } = await load('serverpush/koa');
  const { memoryLog } = await load('serverpush');
  const transports = await load('serverpush/transports');
  const transport =
    options.transport === 'websocket'
      ? (await load('serverpush/transports/websocket')).websocket()
      : transports.transports[options.transport]?.();
  if (transport === undefined) throw new Error(`bench/peers/server.mjs: unknown transport ${options.transport}`);

  const router = new Router();
  const push = createPush({
    secret: 'peer-benchmark-secret-peer-benchmark-secret',
    router,
    log: memoryLog(),
    transports: [transport],
    maxPending: 5000,
    maxConnectionsPerAddress: 1_000_000,
  });
  router.get('room', '/rooms/:room', (ctx) => {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>room</title>\n${ctx.state.serverpush.tag()}\n`;
  });
  push.updates('room', (ctx) => [
    { name: 'message', model: 'messages', params: { room: ctx.params.room }, data: { text: 'text' } },
  ]);

  const app = new Koa();
  app.use(push.routes()).use(push.middleware()).use(router.routes());
  const server = http.createServer(app.callback());
  if (options.transport === 'websocket') push.attach(server);
  await new Promise((resolve) => server.listen(port, host, 4096, resolve));

  let id = 0;
  return {
    broadcast(text) {
      id += 1;
      push
        .publish({ model: 'messages', op: 'insert', id, after: { id, room: 'bench', text }, before: null })
        .catch((error) => console.error('[serverpush bench server] publish failed', error));
    },
    connections: () => push.stats().waiting,
    async close() {
      await push.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
