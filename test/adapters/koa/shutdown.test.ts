// gracefulShutdown() on a real server on a loopback port: what each kind of connection gets when the
// app process shuts down, and the bound on it. Across real processes: restart.test.ts.

import { once } from 'node:events';
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import Router from '@koa/router';
import test, { type ExecutionContext } from 'ava';
import knexFactory from 'knex';
import Koa from 'koa';
import { Model } from 'objection';
import { createPush, gracefulShutdown, type KoaPush } from '../../../adapters/koa/index.ts';
import { objection } from '../../../adapters/objection/index.ts';
import { longPoll } from '../../../transports/long-poll.ts';
import { sse } from '../../../transports/sse.ts';
import { migrate, Note } from '../../fixtures/publisher-models.ts';
import { secret } from '../../helpers/push.ts';
import { until } from '../../helpers/until.ts';

// Serial: Objection's model binding is global.
const serial = test.serial;

interface Setup {
  readonly push: KoaPush;
  readonly server: Server;
  readonly origin: string;
  readonly router: Router;
  /** A token of the board page. */
  token(): Promise<string>;
}

async function setup(t: ExecutionContext): Promise<Setup> {
  const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
  await migrate(knex);
  Model.knex(knex);
  const router = new Router();
  const push = createPush({ secret, router, orm: objection(), transports: [sse(), longPoll()] });
  router.get('board', '/boards/:id', (ctx) => void (ctx.body = ctx.state.serverpush.token));
  push.updates('board', (ctx) => [
    { name: 'note', model: Note, params: { boardId: ctx.params['id']! }, data: { text: 'text' } },
  ]);
  const app = new Koa().use(push.routes()).use(push.middleware()).use(router.routes());
  const server = createServer(app.callback());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    server.closeAllConnections();
    if (server.listening) server.close();
    await push.close();
    await knex.destroy();
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    push,
    server,
    origin,
    router,
    token: async () => (await fetch(`${origin}/boards/1`)).text(),
  };
}

/** Asserts that `push` is closed: it refuses every request with SERVERPUSH_ERR_CLOSED. */
function closedPush(t: ExecutionContext, push: KoaPush): void {
  t.throws(() => push.check('any token', undefined), { message: 'the push server is shutting down' });
}

/** A GET over a keep-alive connection of `agent`: the response, its body, and the socket it came on. */
function get(agent: Agent, url: string): Promise<{ response: IncomingMessage; body: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (response) => {
      const socket = response.socket as Socket;
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ response, body, socket }));
    })
      .on('error', reject)
      .end();
  });
}

serial(
  'gracefulShutdown() answers a held poll at once with Connection: close, ends a stream with a retry hint, closes idle connections, and resolves "closed"',
  async (t) => {
    const { push, server, origin, token } = await setup(t);
    const shutdown = gracefulShutdown(server, push, { timeoutMs: 5_000 });
    const agent = new Agent({ keepAlive: true });
    t.teardown(() => agent.destroy());
    const pollUrl = `${origin}/serverpush/long-poll?token=${await token()}`;
    t.is((await get(agent, pollUrl)).response.statusCode, 204, 'the first poll opens the page');
    const idle = await get(agent, `${origin}/boards/2`);
    const idleClosed = once(idle.socket, 'close');
    const held = get(agent, pollUrl);
    const stream = get(agent, `${origin}/serverpush/sse?token=${await token()}`);
    await until(() => push.stats().connections === 2);

    const started = performance.now();
    t.is(await shutdown(), 'closed');
    const tookMs = performance.now() - started;
    t.true(tookMs < 1_000, `took ${Math.round(tookMs)} ms`);
    const answered = await held;
    t.is(answered.response.statusCode, 204, 'the held poll is answered empty: its client resumes elsewhere');
    t.is(answered.response.headers.connection, 'close');
    t.regex((await stream).body, /retry: \d+\n: closing\n\n$/);
    await idleClosed;
    t.false(server.listening);
    t.is(shutdown(), shutdown(), 'calling it again gives the same promise');
    closedPush(t, push);
  },
);

serial(
  'gracefulShutdown() lets an app request under way finish first, so its write is published before the ORM adapter is detached',
  async (t) => {
    const { push, server, origin, router, token } = await setup(t);
    let entered = () => {};
    const inside = new Promise<void>((resolve) => (entered = resolve));
    router.post('/boards/:id/slow-note', async (ctx) => {
      entered();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await Note.query().insert({ boardId: Number(ctx.params['id']), text: 'written while shutting down' });
      ctx.status = 204;
    });
    const shutdown = gracefulShutdown(server, push, { timeoutMs: 5_000 });
    const pollUrl = `${origin}/serverpush/long-poll?token=${await token()}`;
    const first = await fetch(pollUrl);
    t.is(first.status, 204);
    const held = fetch(pollUrl);
    const write = fetch(`${origin}/boards/1/slow-note`, { method: 'POST' });
    await inside;
    const outcome = shutdown();
    const written = await write;
    t.is(written.status, 204);
    t.is(written.headers.get('connection'), 'close');
    const answer = await held;
    t.is(answer.status, 200);
    t.like(await answer.json(), { messages: [{ name: 'note', data: { text: 'written while shutting down' } }] });
    t.is(await outcome, 'closed');
  },
);

serial(
  'gracefulShutdown() cuts what is left at timeoutMs and resolves "forced"; the push instance is closed anyway',
  async (t) => {
    const { push, server, origin, router } = await setup(t);
    router.get('/hangs', () => new Promise(() => {}));
    const shutdown = gracefulShutdown(server, push, { timeoutMs: 400 });
    const hanging = fetch(`${origin}/hangs`).catch((error: unknown) => error);
    await until(() => push.stats().connections === 0 && server.listening);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    t.is(await shutdown(), 'forced');
    const tookMs = performance.now() - started;
    t.true(tookMs >= 380 && tookMs < 1_500, `took ${Math.round(tookMs)} ms`);
    t.true((await hanging) instanceof Error, 'the hanging request was cut');
    closedPush(t, push);
  },
);

test('gracefulShutdown() refuses what is not a server or a Koa push instance, and a bad timeoutMs', (t) => {
  const router = new Router();
  const push = createPush({ secret, router });
  t.teardown(() => push.close());
  const server = createServer();
  t.throws(() => gracefulShutdown({} as never, push), {
    instanceOf: TypeError,
    message: 'gracefulShutdown(): `server` must be a Node http(s) server',
  });
  t.throws(() => gracefulShutdown(server, {} as never), {
    instanceOf: TypeError,
    message: 'gracefulShutdown(): `push` must be a push instance of serverpush/koa',
  });
  t.throws(() => gracefulShutdown(server, push, { timeoutMs: 0 }), { instanceOf: TypeError, message: /timeoutMs/ });
});
