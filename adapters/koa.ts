// The Koa adapter: the only file that imports koa. It takes each page request's cursor and signs its
// token, mounts the transports and the client bundle under the push prefix, matches page paths
// against the app's @koa/router routes, and re-renders a named route for a viewer.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type Router from '@koa/router';
import createDebug from 'debug';
import Koa from 'koa';
import compose from 'koa-compose';
import { createPush as createCorePush, type Push, type PushOptions, type RouteTable } from '../core/push.ts';
import type { RouteRenderer } from '../core/serialize.ts';
import type { Change, PushContext, Row } from '../core/types.ts';
import { longPoll } from '../transports/long-poll.ts';

const debug = createDebug('serverpush:koa');

/** Options of the Koa `createPush()`: the core options, plus how to reach the app. */
export interface KoaPushOptions<Viewer = unknown> extends Omit<PushOptions<Viewer>, 'routes'> {
  /** The app's router. Page paths are matched against its named routes to find update functions. */
  readonly router: Router;
  /** Where the push endpoints and the client bundle are mounted. Default: `'/serverpush'`. */
  readonly prefix?: string | undefined;
  /**
   * The viewer's identity for the page token, a JSON value (e.g. `ctx.session.userId`); it is
   * signed, not encrypted, so it must hold nothing secret. Called synchronously when the page
   * first reads its token. Default: `null`, an anonymous viewer.
   */
  readonly identify?: ((ctx: Koa.Context) => unknown) | undefined;
}

/** What a page handler finds in `ctx.state.serverpush`. */
export interface PageHelper {
  /** The change-log cursor taken when the request started. */
  readonly cursor: string;
  /** The signed page token; signed on first read. */
  readonly token: string;
  /** The `<script>` tag that loads the client with this page's token. */
  tag(): string;
}

/** What a route handler finds in `ctx.state.serverpush` when the push side re-renders it. */
export interface RenderState {
  readonly update: {
    readonly row: Row;
    readonly data: unknown;
    readonly change: Change;
    /** The viewer's context: `viewer`, `identity`, the page's `path`, `params`… */
    readonly context: PushContext<unknown>;
  };
}

/** A push instance bound to a Koa app. */
export interface KoaPush<Viewer = unknown> extends Push<Viewer> {
  readonly prefix: string;
  /** Page middleware: takes the cursor at the start of each GET and sets `ctx.state.serverpush`. */
  middleware(): Koa.Middleware;
  /** Mounts the push endpoints and `client.js` under the prefix. */
  routes(): Koa.Middleware;
}

/**
 * Creates a push instance for a Koa app. Mount `push.routes()` before the router and
 * `push.middleware()` before the page handlers. Default transports: `[longPoll()]`.
 *
 * @example
 * const router = new Router();
 * const push = createPush({ secret: process.env.PUSH_SECRET!, router, orm: objection() });
 * router.get('home', '/', (ctx) => { ctx.body = `<span id="hits">…</span>${ctx.state.serverpush.tag()}`; });
 * push.updates('home', () => [{ name: 'hits', model: Counter, params: { id: 1 }, serializer: 'counter' }]);
 * app.use(push.routes()).use(push.middleware()).use(router.routes());
 */
export function createPush<Viewer = unknown>(options: KoaPushOptions<Viewer>): KoaPush<Viewer> {
  const { router } = options;
  if (typeof router?.match !== 'function' || typeof router.route !== 'function') {
    throw new TypeError('The `router` option must be a @koa/router instance');
  }
  const prefix = options.prefix ?? '/serverpush';
  if (typeof prefix !== 'string' || !/^(\/[\w.~-]+)+$/.test(prefix)) {
    throw new TypeError('The `prefix` option must be a path like "/serverpush", without a trailing slash');
  }
  const identify = options.identify ?? (() => null);
  if (typeof identify !== 'function') throw new TypeError('The `identify` option must be a function');

  let app: Koa | undefined;
  const routes: RouteTable = { match: (path) => matchRoute(router, path), render: renderer(router, () => (app ??= new Koa())) };
  const push = createCorePush<Viewer>({ ...options, transports: options.transports ?? [longPoll()], routes });
  const transportNames = push.transports.map((transport) => transport.name).join(',');
  const byPath = new Map(push.transports.map((transport) => [`${prefix}/${transport.name}`, transport]));

  function middleware(): Koa.Middleware {
    return async (ctx, next) => {
      if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || ctx.path.startsWith(`${prefix}/`)) return next();
      app ??= ctx.app;
      const cursor = await push.log.head();
      let token: string | undefined;
      const helper: PageHelper = {
        cursor,
        get token() {
          token ??= push.token({
            path: ctx.path,
            query: ctx.querystring,
            identity: identify(ctx) ?? null,
            languages: ctx.acceptsLanguages().slice(0, 8),
            cursor,
          });
          return token;
        },
        tag() {
          return `<script src="${attribute(`${prefix}/client.js`)}" data-serverpush data-token="${attribute(this.token)}" data-base="${attribute(prefix)}" data-transports="${attribute(transportNames)}" defer></script>`;
        },
      };
      ctx.state['serverpush'] = helper;
      await next();
    };
  }

  function routesMiddleware(): Koa.Middleware {
    return async (ctx, next) => {
      if (!ctx.path.startsWith(`${prefix}/`)) return next();
      app ??= ctx.app;
      if (ctx.path === `${prefix}/client.js`) return serveClient(ctx);
      const transport = byPath.get(ctx.path);
      if (transport === undefined) return next();
      const controller = new AbortController();
      // The response's close, not the request's: a request emits 'close' once its body is read.
      ctx.res.once('close', () => controller.abort());
      const response = await transport.handle(
        { method: ctx.method, query: new URLSearchParams(ctx.querystring), headers: ctx.headers, signal: controller.signal },
        push,
      );
      ctx.status = response.status;
      ctx.set(response.headers);
      const { body } = response;
      ctx.body = body === null ? null : typeof body === 'string' ? body : Readable.from(body);
    };
  }

  return Object.assign(push, { prefix, middleware, routes: routesMiddleware });
}

function matchRoute(router: Router, path: string): ReturnType<RouteTable['match']> {
  const layer = router.match(path, 'GET').pathAndMethod.find((candidate) => candidate.name !== undefined && candidate.methods.length > 0);
  if (layer?.name === undefined) return undefined;
  return { name: layer.name, params: layer.params(path, layer.captures(path)) };
}

// Re-rendering runs the named route's own middleware (not the app's) on a synthetic GET. The page's
// own route is re-rendered with the page's params (the seed's "serialize with the view itself");
// any other route takes its params from the changed row first, then from the page, so a fragment
// route `/todos/:id` renders the changed todo. The handler finds the update in
// `ctx.state.serverpush.update`.
function renderer(router: Router, appOf: () => Koa): RouteRenderer {
  return async (name, context, update) => {
    const layer = router.route(name);
    if (layer === false) throw new Error(`serializer names route "${name}", which the router does not have`);
    const params: Record<string, string> = {};
    for (const key of layer.paramNames) {
      const fromPage = context.params[String(key.name)];
      const value = name === context.route ? fromPage : (update.row[String(key.name)] ?? fromPage);
      if (value === undefined || value === null) throw new Error(`route "${name}" needs param "${String(key.name)}", found neither in the page nor the row`);
      params[String(key.name)] = String(value);
    }
    const request = new IncomingMessage(new Socket());
    request.method = 'GET';
    request.url = layer.url(params);
    request.headers = { host: 'serverpush.invalid', 'accept-language': context.languages.join(',') };
    const ctx = appOf().createContext(request, new ServerResponse(request));
    Object.assign(ctx, { params, router, routerPath: layer.path, routerName: name });
    const state: RenderState = { update: { ...update, context } };
    ctx.state['serverpush'] = state;
    await compose(layer.stack as Koa.Middleware[])(ctx);
    if (ctx.status >= 400) throw new Error(`route "${name}" answered ${ctx.status} when re-rendered`);
    const body: unknown = ctx.body;
    if (Buffer.isBuffer(body)) return body.toString('utf8');
    if (body instanceof Readable) throw new Error(`route "${name}" answered a stream; a re-render must answer a string or JSON`);
    return body ?? null;
  };
}

let clientBundle: Promise<{ body: string; etag: string } | undefined> | undefined;

async function serveClient(ctx: Koa.Context) {
  clientBundle ??= loadClientBundle();
  const bundle = await clientBundle;
  if (bundle === undefined) {
    clientBundle = undefined;
    ctx.status = 500;
    ctx.type = 'text/plain';
    ctx.body = 'serverpush: the client bundle is not built; run `npm run build:client`';
    return;
  }
  ctx.set('Cache-Control', 'no-cache');
  ctx.etag = bundle.etag;
  if (ctx.fresh) {
    ctx.status = 304;
    return;
  }
  ctx.type = 'application/javascript; charset=utf-8';
  ctx.body = bundle.body;
}

async function loadClientBundle() {
  // From source the bundle is in <root>/dist/client; from a build, beside dist/adapters.
  for (const candidate of ['../client/serverpush.js', '../dist/client/serverpush.js']) {
    try {
      const body = await readFile(new URL(candidate, import.meta.url), 'utf8');
      return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
    } catch (error) {
      debug('no client bundle at %s: %s', candidate, (error as Error).message);
    }
  }
  return undefined;
}

function attribute(value: string): string {
  return value.replace(/[&"<>]/g, (char) => `&#${char.charCodeAt(0)};`);
}
