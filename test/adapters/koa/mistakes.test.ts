// Loud once: the Koa createPush() says once what is wrong with a setup that would otherwise fail
// silently, and refuses what can be refused at once. Each test captures console.warn and
// console.error, so they run serially.

import test, { type ExecutionContext } from 'ava';
import Router from '@koa/router';
import Koa from 'koa';
import { createPush, type KoaPush, type KoaPushOptions } from '../../../adapters/koa/index.ts';
import { longPoll } from '../../../transports/long-poll.ts';
import { secret } from '../../helpers/push.ts';
import { listen } from '../../helpers/server.ts';
import { captureConsole } from '../../helpers/console.ts';

interface Setup {
  readonly url: string;
  readonly push: KoaPush;
  readonly router: Router;
  /** What the app's 'error' event received: errors thrown by page handlers. */
  readonly appErrors: Error[];
  get(path: string, headers?: Record<string, string>): Promise<Response>;
}

/**
 * A Koa app with the push instance and a router whose routes `configure` adds; `mount` says how
 * the push middleware is mounted (default: routes(), middleware(), then the router).
 */
async function setup(
  t: ExecutionContext,
  configure: (router: Router, push: KoaPush) => void,
  options: Partial<KoaPushOptions> = {},
  mount: (app: Koa, push: KoaPush, router: Router) => void = (app, push, router) =>
    void app.use(push.routes()).use(push.middleware()).use(router.routes()),
): Promise<Setup> {
  const router = new Router();
  const push = createPush({ secret, router, transports: [longPoll({ timeoutMs: 200 })], ...options });
  t.teardown(() => push.close());
  configure(router, push);
  const app = new Koa();
  const appErrors: Error[] = [];
  app.on('error', (error: Error) => appErrors.push(error));
  mount(app, push, router);
  const { url } = await listen(t, app.callback());
  return { url, push, router, appErrors, get: (path, headers = {}) => fetch(url + path, { headers }) };
}

const page = (ctx: Koa.Context) => {
  ctx.body = `<h1>page</h1>${ctx.state.serverpush.tag()}`;
};

test.serial(
  'push.updates() naming no GET route of the router warns once, at the first page request, with the closest name',
  async (t) => {
    const warnings = captureConsole(t, 'warn');
    const { get } = await setup(t, (router, push) => {
      push.updates('nmae', () => []);
      push.updates('reports', () => []);
      router.get('name', '/name', page);
      router.post('reports', '/reports', (ctx) => void (ctx.status = 204));
    });
    t.deepEqual(warnings, [], 'routes may be added after push.updates(): nothing is said before a page is served');
    await get('/name');
    await get('/name');
    t.deepEqual(warnings, [
      [
        'serverpush: push.updates("nmae", …): the router has no GET route named "nmae", so this update function never runs; did you mean "name"?',
      ],
      [
        'serverpush: push.updates("reports", …): the router has no GET route named "reports", so this update function never runs; its named GET routes: name',
      ],
    ]);
  },
);

test.serial('push.updates() after the first page request is checked as it is registered', async (t) => {
  const warnings = captureConsole(t, 'warn');
  const { get, push } = await setup(t, (router) => {
    router.get('home', '/', page);
  });
  await get('/');
  push.updates('home', () => []);
  t.deepEqual(warnings, []);
  push.updates('settings', () => []);
  t.deepEqual(warnings, [
    [
      'serverpush: push.updates("settings", …): the router has no GET route named "settings", so this update function never runs; its named GET routes: home',
    ],
  ]);
});

test.serial(
  'middleware() warns once per path pattern about pages of an unnamed route while route update functions exist',
  async (t) => {
    const warnings = captureConsole(t, 'warn');
    const { get } = await setup(t, (router, push) => {
      router.get('home', '/', page);
      router.get('/items/:id', page);
      router.get('/api/items', (ctx) => void (ctx.body = { items: [] }));
      push.updates('home', () => []);
    });
    await get('/items/1');
    await get('/items/2');
    await get('/api/items');
    await get('/');
    t.deepEqual(warnings, [
      [
        "serverpush: GET /items/:id renders pages with the push tag, but its route has no name, so no push.updates() function applies to them; name it: router.get('name', '/items/:id', handler)",
      ],
    ]);
  },
);

test.serial('middleware() says nothing of unnamed routes when only global update functions exist', async (t) => {
  const warnings = captureConsole(t, 'warn');
  const { get } = await setup(t, (router, push) => {
    router.get('/items/:id', page);
    push.global(() => []);
  });
  t.is((await get('/items/1')).status, 200);
  t.deepEqual(warnings, []);
});

const noRoutes =
  'serverpush: GET /serverpush/client.js reached push.middleware(), but no push.routes() answered it: mount app.use(push.routes()) before push.middleware() and the router (or, when another process serves the push endpoints, set `endpoint`)';

test.serial('middleware() warns once when a push request reaches it and push.routes() is not mounted', async (t) => {
  const warnings = captureConsole(t, 'warn');
  const { get } = await setup(
    t,
    (router) => void router.get('home', '/', page),
    {},
    (app, push, router) => void app.use(push.middleware()).use(router.routes()),
  );
  await get('/');
  t.deepEqual(warnings, []);
  t.is((await get('/serverpush/client.js')).status, 404);
  await get('/serverpush/client.js');
  await get('/serverpush/long-poll?token=x');
  t.deepEqual(warnings, [[noRoutes]]);
});

test.serial('middleware() says nothing when push.routes() answers push requests, before it or after it', async (t) => {
  const warnings = captureConsole(t, 'warn');
  const before = await setup(t, (router) => void router.get('home', '/', page));
  const after = await setup(
    t,
    (router) => void router.get('home', '/', page),
    {},
    (app, push, router) => void app.use(push.middleware()).use(router.routes()).use(push.routes()),
  );
  for (const { get } of [before, after]) {
    const html = await (await get('/')).text();
    const token = /data-token="([^"]+)"/.exec(html)![1]!;
    t.is((await get(`/serverpush/long-poll?token=${token}`)).status, 204);
  }
  t.deepEqual(warnings, []);
});

test.serial(
  'createPush() identify that returns a Promise throws a TypeError naming the option where the page reads its token',
  async (t) => {
    const { get, appErrors } = await setup(t, (router) => void router.get('home', '/', page), {
      identify: async () => 7,
    });
    t.is((await get('/')).status, 500);
    t.is(appErrors.length, 1);
    t.true(appErrors[0] instanceof TypeError);
    t.is(
      appErrors[0]?.message,
      'The `identify` option returned a Promise: it must return the identity itself, as the page token is signed synchronously; load what it needs in a middleware mounted before push.middleware()',
    );
  },
);

const unbound =
  'serverpush: bindCookie "koa.sess": none of the first 20 pages rendered with cookies carried it, so their tokens are bound to no session (their cookies: koa:sess, theme); is it the name of the session cookie?';

test.serial(
  'createPush() bindCookie warns once when none of the first 20 pages rendered with cookies carried it',
  async (t) => {
    const warnings = captureConsole(t, 'warn');
    const { get } = await setup(t, (router) => void router.get('home', '/', page), { bindCookie: 'koa.sess' });
    for (let render = 0; render < 10; render += 1) await get('/');
    for (let render = 0; render < 19; render += 1) await get('/', { cookie: 'koa:sess=abc; theme=dark' });
    t.deepEqual(warnings, [], 'pages rendered without cookies do not count');
    for (let render = 0; render < 5; render += 1) await get('/', { cookie: 'koa:sess=abc' });
    t.deepEqual(warnings, [[unbound]]);
  },
);

test.serial('createPush() bindCookie says nothing once a page rendered with the cookie', async (t) => {
  const warnings = captureConsole(t, 'warn');
  const { get } = await setup(t, (router) => void router.get('home', '/', page), { bindCookie: 'koa.sess' });
  await get('/', { cookie: 'koa.sess=abc' });
  for (let render = 0; render < 25; render += 1) await get('/', { cookie: 'theme=dark' });
  t.deepEqual(warnings, []);
});

test('createPush() refuses the README example secret with a TypeError', (t) => {
  const message =
    'The `secret` option is the example from the README, which anyone can read: pass a random secret of at least 32 bytes from your configuration (`openssl rand -base64 32`)';
  const example = 'at least 32 bytes, the same in every process';
  t.throws(() => createPush({ secret: example, router: new Router() }), { instanceOf: TypeError, message });
  t.throws(() => createPush({ secret: Buffer.from(example), router: new Router() }), {
    instanceOf: TypeError,
    message,
  });
});

test.serial(
  'routes() answers a page whose update specs cannot be built 422 SERVERPUSH_ERR_PAGE, and logs it once',
  async (t) => {
    const logged = captureConsole(t, 'error');
    const { get } = await setup(t, (router, push) => {
      router.get('home', '/', page);
      push.updates('home', () => [{ name: 'connection', model: 'counters' }]);
    });
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const html = await (await get('/')).text();
      const token = /data-token="([^"]+)"/.exec(html)![1]!;
      const response = await get(`/serverpush/long-poll?token=${token}`);
      t.is(response.status, 422);
      t.deepEqual(await response.json(), {
        error: {
          code: 'SERVERPUSH_ERR_PAGE',
          message: 'the update specs of route "home" cannot be built; see the server log',
        },
      });
    }
    t.deepEqual(
      logged.map(([line, error]) => [line, (error as Error).message]),
      [
        [
          'serverpush: internal error while building the update specs of route "home":',
          'update spec "connection" of route "home": `name` must match /^[A-Za-z_][\\w.:-]{0,63}$/ and not be refresh, connection or error',
        ],
      ],
    );
  },
);

test.serial(
  'routes() answers 422 SERVERPUSH_ERR_PAGE for a route-name serializer naming a route the router does not have',
  async (t) => {
    const logged = captureConsole(t, 'error');
    const { get } = await setup(t, (router, push) => {
      router.get('todos', '/todos', page);
      router.get('todo-item', '/todos/:id', (ctx) => void (ctx.body = 'item'));
      push.updates('todos', () => [
        { name: 'item', model: 'todos', serializer: 'todo-item' },
        { name: 'items', model: 'todos', serializer: 'todo-itme' },
      ]);
    });
    const token = /data-token="([^"]+)"/.exec(await (await get('/todos')).text())![1]!;
    t.is((await get(`/serverpush/long-poll?token=${token}`)).status, 422);
    t.deepEqual(
      logged.map(([, error]) => (error as Error).message),
      ['update spec "items" of route "todos": `serializer` names route "todo-itme", which the router does not have'],
    );
  },
);

test.serial(
  'routes() refuses only the page whose update specs cannot be built on a connection of many pages',
  async (t) => {
    captureConsole(t, 'error');
    const { get } = await setup(t, (router, push) => {
      router.get('home', '/', page);
      router.get('broken', '/broken', page);
      push.updates('home', () => []);
      push.updates('broken', () => [{ name: 'x', model: 'counters', data: 'hits' }]);
    });
    const tokenOf = async (path: string) => /data-token="([^"]+)"/.exec(await (await get(path)).text())![1]!;
    const pages = new URLSearchParams([
      ['p', `a~~${await tokenOf('/')}`],
      ['p', `b~~${await tokenOf('/broken')}`],
    ]);
    const response = await get(`/serverpush/long-poll?${pages}`);
    t.is(response.status, 200);
    t.deepEqual(await response.json(), {
      errors: {
        b: {
          status: 422,
          code: 'SERVERPUSH_ERR_PAGE',
          message: 'the update specs of route "broken" cannot be built; see the server log',
        },
      },
    });
  },
);

test.serial(
  "createPush()'s default onError logs a repeated internal error once; the app's own onError gets each",
  async (t) => {
    const logged = captureConsole(t, 'error');
    const failure = (ctx: unknown) => {
      throw new Error(`the user store is down (${String(ctx)})`);
    };
    const received: string[] = [];
    for (const onError of [undefined, (_error: unknown, where: string) => void received.push(where)]) {
      const { get } = await setup(t, (router) => void router.get('home', '/', page), {
        authenticate: failure,
        ...(onError === undefined ? {} : { onError }),
      });
      for (let attempt = 0; attempt < 4; attempt += 1) {
        const html = await (await get('/')).text();
        const token = /data-token="([^"]+)"/.exec(html)![1]!;
        t.is((await get(`/serverpush/long-poll?token=${token}`)).status, 500);
      }
    }
    t.deepEqual(
      logged.map(([line]) => line),
      ['serverpush: internal error while answering a push request:'],
    );
    t.deepEqual(
      received,
      Array.from({ length: 4 }, () => 'answering a push request'),
    );
  },
);
