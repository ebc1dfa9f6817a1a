// The Koa adapter: the only file that imports koa. It takes each page request's cursor and signs its
// token, mounts the transports and the client bundle under the push prefix, matches page paths
// against the app's @koa/router routes, and re-renders a named route for a viewer.

import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import { pipeline, Readable, type Duplex } from 'node:stream';
import type Router from '@koa/router';
import createDebug from 'debug';
import Koa from 'koa';
import { createPush as createCorePush, type Push, type PushOptions, type RouteTable } from '../../core/push.ts';
import { serveClient } from './client-bundle.ts';
import { matchRoute, renderer } from './routes.ts';
import type { PushEndpoint, Transport } from '../../core/transport.ts';
import type { Change, PushContext, Row } from '../../core/types.ts';
import { jsonp } from '../../transports/jsonp.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { sse } from '../../transports/sse.ts';
import { proxy as proxyMiddleware, type ProxyOptions } from '../proxy/index.ts';

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
  /**
   * Origins other than the push server's own whose pages may use the push endpoints, exactly as
   * browsers send them (`'http://localhost:3000'`): CORS with credentials for long-poll and SSE,
   * the Origin check for WebSocket upgrades. JSONP needs no entry. Default: none.
   */
  readonly origins?: readonly string[] | undefined;
  /**
   * Where browsers reach the push endpoints, when a push server on another port or host serves them
   * (`'http://127.0.0.1:8013/serverpush'`), or a function of the page request that returns it.
   * Pages load the client and connect there; when the app also mounts `push.proxy()`, the page
   * tag names the proxy too, for transports that cannot go cross-origin. Default: the prefix on
   * the page's own origin.
   */
  readonly endpoint?: string | ((ctx: Koa.Context) => string) | undefined;
  /**
   * Binds each page token to this cookie (the app's session cookie, e.g. `'koa.sess'`): a push
   * request must present the same value as the page request did, so a token shown to user A is
   * refused with user B's session. Its value must stay the same for a login session (koa-session
   * keeps it while the session's data does not change). Pages rendered without the cookie are not
   * bound. Default: no binding.
   */
  readonly bindCookie?: string | undefined;
}

/** Options of `tag()`. */
export interface TagOptions {
  /** The transports this page may use, in order; each must be offered. Default: all offered. */
  readonly transports?: readonly string[] | undefined;
}

/** What a page handler finds in `ctx.state.serverpush`. */
export interface PageHelper {
  /** The change-log cursor taken when the request started. */
  readonly cursor: string;
  /** The signed page token; signed on first read. */
  readonly token: string;
  /** The `<script>` tag that loads the client with this page's token. */
  tag(options?: TagOptions): string;
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
  /**
   * Lets the transports that take over connections (WebSocket) answer upgrade requests under the
   * prefix on `server`. Returns a function that detaches them.
   */
  attach(server: Server): () => void;
  /**
   * Middleware for the app's own origin that forwards the prefix to a push server elsewhere, for
   * browsers that cannot reach it cross-origin. Pages then name the proxy in their tag. See
   * `adapters/proxy/index.ts`.
   */
  proxy(options: Omit<ProxyOptions, 'prefix'>): Koa.Middleware;
}

/**
 * Creates a push instance for a Koa app. Mount `push.routes()` before the router and
 * `push.middleware()` before the page handlers. Default transports: `[sse(), longPoll(), jsonp()]`;
 * WebSocket (`serverpush/transports/websocket`) is opt-in, with `push.attach(server)`.
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
  const origins = new Set(options.origins ?? []);
  for (const origin of origins) {
    if (typeof origin !== 'string' || origin !== safeOrigin(origin)) {
      throw new TypeError(`The \`origins\` option must list origins like "http://localhost:3000", got ${JSON.stringify(origin)}`);
    }
  }

  let app: Koa | undefined;
  const routes: RouteTable = { match: (path) => matchRoute(router, path), render: renderer(router, () => (app ??= new Koa())) };
  const push = createCorePush<Viewer>({ ...options, transports: options.transports ?? [sse(), longPoll(), jsonp()], routes });
  const offered = push.transports.map((transport) => transport.name);
  const endpoint = options.endpoint ?? prefix;
  if (typeof endpoint === 'string' && !/^(https?:\/\/[^/?#]+)?(\/[\w.~-]+)+$/.test(endpoint)) {
    throw new TypeError('The `endpoint` option must be a path or an http(s) URL without a trailing slash, query or fragment');
  }
  if (typeof endpoint !== 'string' && typeof endpoint !== 'function') throw new TypeError('The `endpoint` option must be a string or a function');
  let proxied = false;
  const { bindCookie } = options;
  if (bindCookie !== undefined && (typeof bindCookie !== 'string' || !/^[!#$%&'*+.^`|~\w-]+$/.test(bindCookie))) {
    throw new TypeError('The `bindCookie` option must be a cookie name');
  }
  const bindingOf = (cookieHeader: string | undefined) => (bindCookie === undefined ? undefined : cookieValue(cookieHeader, bindCookie));
  /** The push endpoint as one request sees it: with the binding its cookies present. */
  const endpointFor = (cookieHeader: string | undefined): PushEndpoint => {
    const binding = bindingOf(cookieHeader);
    return {
      poll: (token, cursor, pollOptions) => push.poll(token, cursor, { ...pollOptions, binding }),
      check: (token, cursor) => push.check(token, cursor, binding),
    };
  };
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
            binding: bindingOf(ctx.get('Cookie')),
          });
          return token;
        },
        tag(tagOptions = {}) {
          const names = tagOptions.transports ?? offered;
          for (const name of names) {
            if (!offered.includes(name)) throw new TypeError(`tag(): transport "${name}" is not offered; offered: ${offered.join(', ')}`);
          }
          const base = typeof endpoint === 'string' ? endpoint : endpoint(ctx);
          const crossOrigin = /^https?:/.test(base) && new URL(base).origin !== ctx.origin;
          const proxy = crossOrigin && proxied ? ` data-proxy="${attribute(prefix)}"` : '';
          return `<script src="${attribute(`${base}/client.js`)}" data-serverpush data-token="${attribute(this.token)}" data-base="${attribute(base)}"${proxy} data-transports="${attribute(names.join(','))}" defer></script>`;
        },
      };
      ctx.state['serverpush'] = helper;
      await next();
    };
  }

  /** Whether a browser request from `origin` may be answered: same host, no Origin, or allowed. */
  function originAllowed(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined || origins.has(origin)) return true;
    try {
      return new URL(origin).host === host;
    } catch {
      return false;
    }
  }

  function routesMiddleware(): Koa.Middleware {
    return async (ctx, next) => {
      if (!ctx.path.startsWith(`${prefix}/`)) return next();
      app ??= ctx.app;
      if (ctx.path === `${prefix}/client.js`) return serveClient(ctx);
      const transport = byPath.get(ctx.path);
      if (transport === undefined) return next();
      const origin = ctx.get('Origin') || undefined;
      if (!originAllowed(origin, ctx.host)) {
        ctx.status = 403;
        ctx.body = { error: { code: 'SERVERPUSH_ERR_ORIGIN', message: `origin ${origin} is not allowed; list it in the \`origins\` option` } };
        debug('refused origin %s', origin);
        return;
      }
      if (origin !== undefined && origins.has(origin)) {
        ctx.set('Access-Control-Allow-Origin', origin);
        ctx.set('Access-Control-Allow-Credentials', 'true');
        ctx.vary('Origin');
      }
      if (ctx.method === 'OPTIONS') {
        ctx.set('Access-Control-Allow-Methods', 'GET');
        ctx.set('Access-Control-Allow-Headers', 'Last-Event-ID');
        ctx.set('Access-Control-Max-Age', '600');
        ctx.status = 204;
        return;
      }
      const controller = new AbortController();
      // The response's close, not the request's: a request emits 'close' once its body is read.
      // Only a response cut short aborts: aborting builds a DOMException, costly on every poll.
      ctx.res.once('close', () => ctx.res.writableFinished || controller.abort());
      const response = await transport.handle(
        { method: ctx.method, query: new URLSearchParams(ctx.querystring), headers: ctx.headers, signal: controller.signal },
        endpointFor(ctx.get('Cookie')),
      );
      ctx.status = response.status;
      ctx.set(response.headers);
      const { body } = response;
      if (body === null || typeof body === 'string') {
        ctx.body = body;
        return;
      }
      // A stream (SSE) ends when its client leaves, which Koa would log as an error; piping it here
      // also keeps compression middleware from buffering it.
      ctx.respond = false;
      ctx.res.flushHeaders();
      pipeline(Readable.from(body), ctx.res, (error) => {
        if (error !== undefined && error !== null && (error as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') debug('stream failed: %O', error);
      });
    };
  }

  function attach(server: Server): () => void {
    const upgrades = new Map<string, Transport>(push.transports.filter((t) => t.upgrade !== undefined).map((t) => [`${prefix}/${t.name}`, t]));
    const serverOnUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (request.url ?? '').split('?', 1)[0] ?? '';
      const transport = upgrades.get(path);
      if (transport?.upgrade === undefined) {
        // Another listener may own this path; refuse only when there is none.
        if (server.listenerCount('upgrade') === 1) refuseUpgrade(socket, 404, `no upgrade at ${path.slice(0, 100)}`);
        return;
      }
      const origin = request.headers.origin;
      if (!originAllowed(origin, request.headers.host)) {
        debug('refused upgrade from origin %s', origin);
        return refuseUpgrade(socket, 403, `origin ${origin} is not allowed; list it in the \`origins\` option`);
      }
      transport.upgrade(request, socket, head, endpointFor(request.headers.cookie));
    };
    server.on('upgrade', serverOnUpgrade);
    return () => server.off('upgrade', serverOnUpgrade);
  }

  function proxy(proxyOptions: Omit<ProxyOptions, 'prefix'>): Koa.Middleware {
    const middleware = proxyMiddleware({ ...proxyOptions, prefix });
    proxied = true;
    return middleware;
  }

  return Object.assign(push, { prefix, middleware, routes: routesMiddleware, attach, proxy });
}

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
function refuseUpgrade(socket: Duplex, status: number, message: string) {
  // Node takes its own error listener off a socket before emitting 'upgrade': without one, a client
  // resetting the connection now would be an uncaught exception.
  socket.on('error', (error) => debug('refused upgrade: %s', error.message));
  const body = JSON.stringify({ error: { code: status === 403 ? 'SERVERPUSH_ERR_ORIGIN' : 'SERVERPUSH_ERR_BAD_REQUEST', message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** The raw value of cookie `name` in a Cookie header, as the page request's `ctx.cookies` would read it. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const pair of (header ?? '').split(';')) {
    const equals = pair.indexOf('=');
    if (equals > 0 && pair.slice(0, equals).trim() === name) return pair.slice(equals + 1).trim();
  }
  return undefined;
}

/** The origin of a URL-like string in the form browsers send, or `undefined`. */
function safeOrigin(value: string): string | undefined {
  try {
    const url = new URL(value);
    return url.origin === 'null' ? undefined : url.origin;
  } catch {
    return undefined;
  }
}

function attribute(value: string): string {
  return value.replace(/[&"<>]/g, (char) => `&#${char.charCodeAt(0)};`);
}
