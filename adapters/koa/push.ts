// createPush() for Koa: the core push instance with the page middleware, the push endpoints, the
// WebSocket upgrades and the proxy, configured from the app's router; and the warnings, once each,
// about a setup that would otherwise fail silently.

import type { Server } from 'node:http';
import type Router from '@koa/router';
import Koa from 'koa';
import { checkPrefix } from '../../core/options.ts';
import { createPush as createCorePush, type Push, type PushOptions } from '../../core/push.ts';
import { createReport } from '../../core/report.ts';
import { isThenable } from '../../core/serialize.ts';
import type { Fragment, FragmentRender, Row, RowOf, UpdateFunction } from '../../core/types.ts';
import type { Authenticate, RouteTable } from '../../core/viewer.ts';
import { jsonp } from '../../transports/jsonp.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { sse } from '../../transports/sse.ts';
import { proxy as proxyMiddleware, type ProxyOptions } from '../proxy/index.ts';
import { createEndpoints } from './endpoints.ts';
import { pageMiddleware } from './page.ts';
import { cookieValue, createChecks } from './checks.ts';
import { matchRoute, renderer } from './routes.ts';
import type { RenderState } from './state.ts';

/** Options of the Koa `createPush()`: the core options, plus how to reach the app. */
export interface KoaPushOptions<Viewer = unknown, Identity = unknown>
  extends Omit<PushOptions<Viewer, Identity>, 'routes'> {
  /** The app's router. Page paths are matched against its named routes to find update functions. */
  readonly router: Router;
  /** Where the push endpoints and the client bundle are mounted. Default: `'/serverpush'`. */
  readonly prefix?: string | undefined;
  /**
   * The viewer's identity for the page token, a JSON value (e.g. `ctx.session.userId`); it is
   * signed, not encrypted, so it must hold nothing secret. Its return type is the push instance's
   * `Identity`: `authenticate` receives it (as JSON carried it). Called synchronously when the page
   * first reads its token: returning a Promise is a type error, and throws a `TypeError` there.
   * Default: `null`, an anonymous viewer.
   */
  readonly identify?: ((ctx: Koa.Context) => Identity) | undefined;
  /**
   * Origins other than the push server's own whose pages may use the push endpoints, exactly as
   * browsers send them (`'http://localhost:3000'`): CORS with credentials for long-poll and SSE,
   * the Origin check for WebSocket upgrades. JSONP needs no entry. Default: none.
   */
  readonly origins?: readonly string[] | undefined;
  /**
   * Where browsers reach the push endpoints, when a push server on another port or host serves them
   * (`'http://127.0.0.1:8013/serverpush'`), or a function of the page request that returns it.
   * Pages load the client and connect there. Default: the prefix on the page's own origin.
   */
  readonly endpoint?: string | ((ctx: Koa.Context) => string) | undefined;
  /**
   * Whether the app's own origin forwards the prefix to the push server with `push.proxy()`. Page
   * tags then name the proxy, for the transports that cannot reach a push server on another
   * origin (no CORS entry). Default: `false`.
   */
  readonly proxied?: boolean | undefined;
  /**
   * Whether the tabs of one browser share one push connection (per push origin): one tab holds it
   * and carries the others' pages. `false` makes every tab connect on its own (`tag({ share })`
   * decides per page). Default: `true`.
   */
  readonly share?: boolean | undefined;
  /**
   * Binds each page token to this cookie (the app's session cookie, e.g. `'koa.sess'`): a push
   * request must present the same value as the page request did, so a token shown to user A is
   * refused with user B's session. Its value must stay the same for a login session (koa-session
   * keeps it while the session's data does not change). Pages rendered without the cookie are not
   * bound; when none of the first 20 pages rendered with cookies carried this one, a warning names
   * it. Default: no binding.
   */
  readonly bindCookie?: string | undefined;
}

/**
 * Refuses, in the type of `createPush()`'s options, an `identify` that returns a Promise: the page
 * token is signed synchronously (at run time such an `identify` throws a `TypeError`).
 */
export type IdentifyCheck<Identity> = 0 extends 1 & Identity
  ? unknown // an `any` identity (koa-session's `ctx.session.userId`) may be anything, a Promise or not
  : true extends (Identity extends PromiseLike<unknown> ? true : false)
    ? {
        readonly identify: 'identify must return the identity itself, not a Promise: load what it needs in a middleware mounted before push.middleware()';
      }
    : unknown;

/**
 * A push instance bound to a Koa app. `Viewer` is what `authenticate` returns (`ctx.viewer` in
 * update functions, serializers and fragments), `Identity` what `identify` returns.
 */
export interface KoaPush<Viewer = unknown, Identity = unknown> extends Push<Viewer, Identity> {
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
   * browsers that cannot reach it cross-origin (`serverpush/proxy`). Needs `proxied: true`, so
   * that page tags name it.
   */
  proxy(options: Omit<ProxyOptions, 'prefix'>): Koa.Middleware;
  /**
   * In a route handler: the update being rendered when the push side re-renders this route for a
   * viewer (a route-name serializer), typed by this instance's `Viewer`; `undefined` when a browser
   * requested the route. Given a model, `update.row` is typed by it, and an update of another
   * model throws a `TypeError`.
   */
  renderState(ctx: Koa.Context): RenderState<Viewer> | undefined;
  /** The update being rendered, its `row` typed by `model`; a `TypeError` for a change of another model. */
  renderState<M>(ctx: Koa.Context, model: M): RenderState<Viewer, RowOf<M>> | undefined;
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
 *
 * // Types: `Identity` from identify's return, `Viewer` from authenticate's (ctx.viewer).
 * const typed = createPush({
 *   secret, router,
 *   identify: (ctx) => ctx.session?.userId ?? null,                      // Identity: number | null
 *   authenticate: async (id) => (id === null ? null : User.query().findById(id)), // Viewer
 * });
 */
export function createPush<Viewer, Identity = unknown>(
  options: KoaPushOptions<Viewer, Identity> & {
    readonly authenticate: Authenticate<Viewer, Identity>;
  } & IdentifyCheck<Identity>,
): KoaPush<Viewer, Identity>;
/** Without `authenticate`, the viewer is the identity itself: `Viewer` is `Identity`. */
export function createPush<Identity = null>(
  options: KoaPushOptions<Identity, Identity> & { readonly authenticate?: undefined } & IdentifyCheck<Identity>,
): KoaPush<Identity, Identity>;
/** Options whose `authenticate` may be absent (a `Partial<KoaPushOptions>` spread in): `Viewer` as given. */
export function createPush<Viewer = unknown, Identity = unknown>(
  options: KoaPushOptions<Viewer, Identity> & IdentifyCheck<Identity>,
): KoaPush<Viewer, Identity>;
export function createPush<Viewer, Identity>(options: KoaPushOptions<Viewer, Identity>): KoaPush<Viewer, Identity> {
  const { router } = options;
  if (typeof router?.match !== 'function' || typeof router.route !== 'function') {
    throw new TypeError('The `router` option must be a @koa/router instance');
  }
  const prefix = checkPrefix(options.prefix ?? '/serverpush');
  const identify = options.identify ?? (() => null);
  if (typeof identify !== 'function') throw new TypeError('The `identify` option must be a function');
  const origins = new Set(options.origins ?? []);
  for (const origin of origins) {
    if (typeof origin !== 'string' || origin !== safeOrigin(origin)) {
      throw new TypeError(
        `The \`origins\` option must list origins like "http://localhost:3000", got ${JSON.stringify(origin)}`,
      );
    }
  }
  const endpoint = options.endpoint ?? prefix;
  if (typeof endpoint === 'string' && !/^(https?:\/\/[^/?#]+)?(\/[\w.~-]+)+$/.test(endpoint)) {
    throw new TypeError(
      'The `endpoint` option must be a path or an http(s) URL without a trailing slash, query or fragment',
    );
  }
  if (typeof endpoint !== 'string' && typeof endpoint !== 'function')
    throw new TypeError('The `endpoint` option must be a string or a function');
  const proxied = options.proxied ?? false;
  if (typeof proxied !== 'boolean') throw new TypeError('The `proxied` option must be a boolean');
  const share = options.share ?? true;
  if (typeof share !== 'boolean') throw new TypeError('The `share` option must be a boolean');
  const { bindCookie } = options;
  if (bindCookie !== undefined && (typeof bindCookie !== 'string' || !/^[!#$%&'*+.^`|~\w-]+$/.test(bindCookie))) {
    throw new TypeError('The `bindCookie` option must be a cookie name');
  }
  const binding = (cookieHeader: string | undefined) =>
    bindCookie === undefined ? undefined : cookieValue(cookieHeader, bindCookie);
  const report = createReport();

  // Route re-renders run in the app of the requests seen, for its context extensions.
  let app: Koa | undefined;
  const seen = (requestApp: Koa) => void (app ??= requestApp);
  const routes: RouteTable = {
    match: (path) => matchRoute(router, path),
    render: renderer(router, () => (app ??= new Koa())),
    has: (name) => router.route(name) !== false,
  };
  const push = createCorePush<Viewer, Identity>({
    ...options,
    transports: options.transports ?? [sse(), longPoll(), jsonp()],
    routes,
    // The default logs a kind of error once a minute; the app's own `onError` gets every one.
    onError: options.onError === undefined ? report.error : options.onError,
  });
  const endpoints = createEndpoints({ push, prefix, origins, binding, seen });
  const checks = createChecks({ router, orm: options.orm, bindCookie, report });
  const checkedIdentify = (ctx: Koa.Context): unknown => {
    checks.rendered(ctx);
    const identity = identify(ctx);
    if (isThenable(identity)) {
      // Its outcome is dropped: a rejection must not surface as an unhandled one besides.
      Promise.resolve(identity).catch(() => {});
      throw new TypeError(
        'The `identify` option returned a Promise: it must return the identity itself, as the page token is signed synchronously; load what it needs in a middleware mounted before push.middleware()',
      );
    }
    return identity;
  };
  const pageSeen = (requestApp: Koa) => {
    seen(requestApp);
    checks.pageRequest();
  };
  // Requests that push.routes() (or push.proxy()) answers: one that reaches push.middleware() and
  // the rest of the app unanswered means push.routes() is not mounted in front of them.
  const pushPaths = new Set([`${prefix}/client.js`, ...push.transports.map(({ name }) => `${prefix}/${name}`)]);
  const answered = new WeakSet<Koa.Context>();
  const answering =
    (middleware: Koa.Middleware): Koa.Middleware =>
    (ctx, next) => {
      if (pushPaths.has(ctx.path)) answered.add(ctx);
      return middleware(ctx, next);
    };
  const { updates, global } = push;
  const modelName = (model: unknown): string => {
    if (options.orm !== undefined) return options.orm.modelName(model);
    if (typeof model === 'string' && model !== '') return model;
    throw new TypeError('a model must be a model name when no ORM adapter is configured');
  };

  return Object.assign(push, {
    prefix,
    middleware(): Koa.Middleware {
      const page = pageMiddleware({
        push,
        routes,
        prefix,
        identify: checkedIdentify,
        binding,
        endpoint,
        proxied,
        share,
        seen: pageSeen,
      });
      return async (ctx, next) => {
        if (!pushPaths.has(ctx.path)) return page(ctx, next);
        await page(ctx, next);
        if (!answered.has(ctx)) {
          report.warnOnce(
            'routes',
            `${ctx.method} ${ctx.path} reached push.middleware(), but no push.routes() answered it: mount app.use(push.routes()) before push.middleware() and the router (or, when another process serves the push endpoints, set \`endpoint\`)`,
          );
        }
      };
    },
    routes: () => answering(endpoints.routes()),
    attach: endpoints.attach,
    proxy(proxyOptions: Omit<ProxyOptions, 'prefix'>) {
      if (!proxied)
        throw new TypeError('push.proxy(): set `proxied: true` in createPush(), so that page tags name the proxy');
      return answering(proxyMiddleware({ ...proxyOptions, prefix }));
    },
    updates(route: string, fn: UpdateFunction<Viewer, readonly unknown[], Identity>) {
      updates.call(push, route, checks.specs(fn as UpdateFunction<Viewer>));
      checks.registered(route);
      return push;
    },
    global(fn: UpdateFunction<Viewer, readonly unknown[], Identity>) {
      global.call(push, checks.specs(fn as UpdateFunction<Viewer>));
      return push;
    },
    renderState(ctx: Koa.Context, ...model: unknown[]): RenderState<Viewer, never> | undefined {
      const update = ctx.state.serverpush?.update;
      if (update === undefined) return undefined;
      if (model.length > 0) {
        const name = modelName(model[0]);
        if (update.change.model !== name)
          throw new TypeError(
            `renderState(): the route is re-rendered for a change of model ${update.change.model}, not ${name}`,
          );
      }
      return { update } as RenderState<Viewer, never>;
    },
  }) as KoaPush<Viewer, Identity>;
}

export type { Fragment, FragmentRender, Row };

/** The origin of a URL-like string in the form browsers send, or `undefined`. */
function safeOrigin(value: string): string | undefined {
  try {
    const url = new URL(value);
    return url.origin === 'null' ? undefined : url.origin;
  } catch {
    return undefined;
  }
}
