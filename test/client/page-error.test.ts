// A page whose update specs cannot be built, in the browser client against the real Koa server: one
// request, one 422 SERVERPUSH_ERR_PAGE, one `serverpush:error`, one line in the server log, and no
// retries, over every transport.

import test, { type ExecutionContext } from 'ava';
import Router from '@koa/router';
import { JSDOM, VirtualConsole } from 'jsdom';
import Koa from 'koa';
import { connect, type ConnectionDetail, type PushClientError } from '../../client/index.ts';
import { createPush } from '../../adapters/koa/index.ts';
import type { TransportName } from '../../core/types.ts';
import { jsonp } from '../../transports/jsonp.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { sse } from '../../transports/sse.ts';
import { websocket } from '../../transports/websocket.ts';
import { countedGlobals } from '../helpers/counted-globals.ts';
import type { DomWindow } from '../helpers/jsdom.ts';
import { secret } from '../helpers/push.ts';
import { listen } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';
import { captureConsole } from '../helpers/console.ts';

/** The client's retry timing: short, so that a retry would show within the test. */
const backoff = { initialMs: 20, maxMs: 50 } as const;

/** A Koa app whose `/broken` page's update function throws; counts the push requests it gets. */
async function brokenApp(t: ExecutionContext) {
  const router = new Router();
  const push = createPush({
    secret,
    router,
    transports: [websocket({ heartbeatMs: 60_000 }), sse(), longPoll({ timeoutMs: 500 }), jsonp({ timeoutMs: 500 })],
  });
  t.teardown(() => push.close());
  router.get('broken', '/broken', (ctx) => void (ctx.body = ctx.state.serverpush.tag()));
  push.updates('broken', () => {
    throw new Error('the update function of /broken fails on purpose');
  });
  let requests = 0;
  const app = new Koa()
    .use((ctx, next) => {
      if (ctx.path.startsWith('/serverpush/') && ctx.path !== '/serverpush/client.js') requests += 1;
      return next();
    })
    .use(push.routes())
    .use(push.middleware())
    .use(router.routes());
  const { url, server } = await listen(t, app.callback());
  t.teardown(push.attach(server));
  server.on('upgrade', () => void (requests += 1));
  const html = await (await fetch(`${url}/broken`)).text();
  const token = /data-token="([^"]+)"/.exec(html)![1]!;
  return { url, token, requests: () => requests };
}

/**
 * The states each transport goes through: a stream opens (connected) before the page is added to
 * it, a poll is answered the error itself. Never `reconnecting`.
 */
const states: Readonly<Record<TransportName, readonly string[]>> = {
  'long-poll': ['closed'],
  jsonp: ['closed'],
  sse: ['connected', 'closed'],
  websocket: ['connected', 'closed'],
};

for (const name of ['long-poll', 'sse', 'websocket', 'jsonp'] as const) {
  test.serial(
    `connect() over ${name} stops at SERVERPUSH_ERR_PAGE from a page whose update specs cannot be built, without retrying`,
    async (t) => {
      const logged = captureConsole(t, 'error');
      const { url, token, requests } = await brokenApp(t);
      const window = new JSDOM('<!doctype html><html><head></head><body></body></html>', {
        url: `${url}/broken`,
        runScripts: 'dangerously',
        resources: 'usable',
        virtualConsole: new VirtualConsole(),
      }).window as unknown as DomWindow;
      t.teardown(() => window.close());
      const counted = countedGlobals(window);
      const client = connect({
        token,
        base: `${url}/serverpush`,
        transports: [name],
        backoff,
        globals: counted.globals,
      });
      t.teardown(() => client.close());
      const errors: PushClientError[] = [];
      client.on('error', (error) => errors.push(error));
      const seen: ConnectionDetail[] = [];
      client.on('connection', (detail) => seen.push(detail));

      await until(() => client.state === 'closed');
      // Long enough for the backoff's retries, had there been any.
      await new Promise((resolve) => setTimeout(resolve, 10 * backoff.maxMs));

      t.is(errors.length, 1);
      t.like(errors[0], {
        name: 'PushClientError',
        code: 'SERVERPUSH_ERR_PAGE',
        status: 422,
        message: 'the update specs of route "broken" cannot be built; see the server log',
      });
      t.deepEqual(
        seen.map(({ state }) => state),
        states[name],
      );
      t.is(requests(), 1, 'one request, no retry');
      t.deepEqual(counted.activity(), [], 'the client has nothing left going on');
      t.deepEqual(
        logged.map(([line, error]) => [line, (error as Error).message]),
        [
          [
            'serverpush: internal error while building the update specs of route "broken":',
            'the update function of /broken fails on purpose',
          ],
        ],
      );
    },
  );
}
