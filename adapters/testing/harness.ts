// createHarness(): an app's push behaviour under test without a browser or a port. Pages are
// rendered through the app's own Koa middleware and router, in-process; their tokens go to the push
// instance's own endpoints (`push.routes()`), in-process, over long-poll; changes the test makes
// reach them through the real change log, update functions, `authenticate`, `authorize` and
// serializers.

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type Router from '@koa/router';
import Koa from 'koa';
import type { ChangeLog } from '../../core/change-log.ts';
import type { KoaPush } from '../koa/push.ts';
import { matchRoute } from '../koa/routes.ts';
import { CookieJar } from './cookies.ts';
import { injector, type Inject } from './inject.ts';
import { HarnessError, type HarnessPage, type PageContext, PollingPage } from './page.ts';
import { type HarnessResponse, pageToken, type RequestOptions, requestOf } from './request.ts';

/** What the harness uses of the app: any Koa app, whatever its state and context types. */
export interface HarnessApp {
  /** The app's request handler, as `http.createServer()` takes it. */
  callback(): (request: IncomingMessage, response: ServerResponse) => unknown;
  readonly middleware: readonly unknown[];
}

/** Options of `createHarness()`. */
export interface HarnessOptions {
  /**
   * The router whose named routes the push instance matches page paths against, to tell a page of
   * a route without update functions. Default: the `@koa/router` mounted in the app, if any.
   */
  readonly router?: Router | undefined;
  /** How long `page.next()` and `page.refresh()` wait, in ms. Default: `5_000`. */
  readonly timeoutMs?: number | undefined;
  /** How long `page.nothing()` listens once the push side has routed every change, in ms. Default: `200`. */
  readonly quietMs?: number | undefined;
}

/** Options of `harness.open()`. */
export interface OpenOptions {
  /**
   * The identity to sign the page token with, instead of the one the app's `identify` gives the
   * page request; the page still renders as the request's cookies and headers make it. Without an
   * app, the token's identity. Default: the app's, or `null` without an app.
   */
  readonly identity?: unknown;
  /** Headers of the page request (and of its polls). Default: none. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** The page's accepted languages (`Accept-Language`), most preferred first. Default: `['en']`. */
  readonly languages?: readonly string[] | undefined;
}

/** A browser of the harness: requests and pages with cookies of its own (`harness.agent()`). */
export interface HarnessAgent {
  /** The cookies this agent sends, by name; set by the app's `Set-Cookie` answers. */
  readonly cookies: Map<string, string>;
  /** Sends a request through the app, in-process, with this agent's cookies; redirects are not followed. */
  request(path: string, options?: RequestOptions): Promise<HarnessResponse>;
  /**
   * Renders the page at `path` through the app and connects it to the push side; see
   * `HarnessPage`. `Events` maps the page's event names to their payload types. Rejects with a
   * `HarnessError` when the page cannot listen to anything (its route has no update functions), the
   * app does not answer it with a page carrying the push tag, or the push side refuses it.
   */
  open<Events extends object = Record<string, unknown>>(
    path: string,
    options?: OpenOptions,
  ): Promise<HarnessPage<Events>>;
}

/** A test harness; its own requests and pages carry no cookies. */
export interface Harness extends HarnessAgent {
  /** A new browser, with cookies of its own (log in with `agent.request()`, then `agent.open()`). */
  agent(): HarnessAgent;
  /** Closes every page the harness and its agents opened. The push instance and the app stay the test's. */
  close(): Promise<void>;
}

/**
 * Creates a harness for the push instance `push` and the Koa `app` that serves its pages (mounted
 * as in production: `push.middleware()` before the router). Without an app, `open()` signs page
 * tokens itself and no page handler runs. It imports no test runner: use it with ava, node:test or
 * any other.
 *
 * @example
 * const harness = createHarness(push, app);
 * const page = await harness.open<{ message: string }>('/room/1', { identity: 1 });
 * await Message.query().insert({ roomId: 1, text: 'hi' });
 * assert.equal((await page.next()).data, '<li>hi</li>');
 * await page.nothing();
 * await harness.close();
 */
export function createHarness<Viewer>(
  push: KoaPush<Viewer>,
  app?: HarnessApp | HarnessOptions,
  options: HarnessOptions = {},
): Harness {
  if (typeof push?.routes !== 'function' || typeof push.token !== 'function') {
    throw new TypeError('createHarness(): `push` must be a push instance of serverpush/koa');
  }
  const koa = isKoa(app) ? app : undefined;
  if (app !== undefined && koa === undefined && (typeof app !== 'object' || app === null)) {
    throw new TypeError('createHarness(): the second argument must be the Koa app or the options');
  }
  const settings = koa === undefined && app !== undefined ? (app as HarnessOptions) : options;
  const timeoutMs = duration(settings.timeoutMs ?? 5_000, 'timeoutMs');
  const quietMs = duration(settings.quietMs ?? 200, 'quietMs');
  if (settings.router !== undefined && !isRouter(settings.router))
    throw new TypeError('createHarness(): the `router` option must be a @koa/router instance');
  if (!push.transports.some((transport) => transport.name === 'long-poll')) {
    throw new TypeError(
      `createHarness(): the push instance does not offer long-poll, which the harness follows pages with (offered: ${push.transports.map(({ name }) => name).join(', ') || 'none'}); add longPoll() to its \`transports\``,
    );
  }

  const router = settings.router ?? routerOf(koa);
  const pushApp = new Koa().use(push.routes());
  const toPush = injector(() => pushApp.callback());
  const toApp: Inject | undefined =
    koa === undefined ? undefined : injector((): RequestListener => koa.callback() as RequestListener);
  const progress = routedProgress(push.log);
  const pages = new Set<PollingPage<Record<string, unknown>>>();
  let closed = false;

  /** Throws when no update function applies to a page of `path`: it would listen to nothing. */
  function checkListens(path: string): void {
    if (router === undefined) return;
    const route = matchRoute(router, new URL(path, 'http://harness.invalid').pathname);
    if (push.concerns(route?.name)) return;
    throw new HarnessError(
      route === undefined
        ? `harness.open('${path}'): the path matches no named GET route of the router, and no push.global() update function exists, so the page listens to nothing`
        : `harness.open('${path}'): the route "${route.name}" has no update functions (push.updates('${route.name}', …)), and no push.global() one exists, so the page listens to nothing`,
    );
  }

  function makeAgent(jar: CookieJar | undefined): HarnessAgent {
    const cookie = () => jar?.header();
    const send = (path: string, requestOptions: RequestOptions = {}) => {
      if (toApp === undefined)
        throw new TypeError('harness.request(): the harness has no app; pass it: createHarness(push, app)');
      return requestOf(toApp, jar, path, requestOptions);
    };
    /** GETs the page through the app; throws unless it is a page with the push tag. */
    async function render(path: string, headers: Record<string, string>) {
      const response = await send(path, { headers });
      if (response.status < 200 || response.status >= 300) {
        const location = response.headers['location'];
        const hint =
          jar === undefined && location !== undefined
            ? '; to open it logged in, log in with an agent: harness.agent()'
            : '';
        throw new HarnessError(
          `harness.open('${path}'): the app answered ${response.status}${location === undefined ? '' : ` (Location: ${location})`}, not a page${hint}`,
        );
      }
      const token = pageToken(response.text);
      if (token === undefined) {
        throw new HarnessError(
          `harness.open('${path}'): the page has no push tag (ctx.state.serverpush.tag()), so a browser would not connect it`,
        );
      }
      return { status: response.status, html: response.text, token };
    }

    return {
      cookies: jar?.cookies ?? new Map<string, string>(),
      request: async (path, requestOptions) => send(path, requestOptions),
      async open<Events extends object>(path: string, openOptions: OpenOptions = {}) {
        if (closed) throw new HarnessError(`harness.open('${path}'): the harness is closed`);
        if (typeof path !== 'string' || !path.startsWith('/'))
          throw new TypeError(`harness.open(): the path must start with "/", got ${JSON.stringify(path)}`);
        checkListens(path);
        await progress.start();
        const languages = openOptions.languages ?? ['en'];
        const headers = { ...openOptions.headers, 'accept-language': languages.join(',') };
        const signed = 'identity' in openOptions || toApp === undefined;
        // Taken before the page renders, as the page middleware takes its own: nothing made
        // while it renders is missed.
        const cursor = signed ? await push.log.head() : undefined;
        const rendered =
          toApp === undefined ? { status: undefined, html: '', token: undefined } : await render(path, headers);
        const url = new URL(path, 'http://harness.invalid');
        const token = signed
          ? push.token({
              path: url.pathname,
              query: url.search.slice(1),
              identity: openOptions.identity ?? null,
              languages,
              cursor: cursor!,
            })
          : rendered.token!;
        const context: PageContext = {
          inject: (injected) => toPush({ ...injected, headers: { ...openOptions.headers, ...injected.headers } }),
          pollPath: `${push.prefix}/long-poll`,
          cookie,
          routed: progress.routed,
          timeoutMs,
          quietMs,
        };
        const page = new PollingPage<Events>({ path, status: rendered.status, html: rendered.html, token }, context);
        pages.add(page as unknown as PollingPage<Record<string, unknown>>);
        await page.start();
        return page;
      },
    };
  }

  return {
    ...makeAgent(undefined),
    agent: () => makeAgent(new CookieJar()),
    async close() {
      closed = true;
      await Promise.all([...pages].map((page) => page.close()));
      pages.clear();
      progress.stop();
    },
  };
}

/**
 * How far the push instance has routed the change log: a tail listener added after the instance's
 * own sees each change once the instance has handed it to its pages.
 */
function routedProgress(log: ChangeLog) {
  let seen: string | undefined;
  let stopTail: (() => void) | undefined;
  let starting: Promise<void> | undefined;
  const reached = (head: string) => seen !== undefined && log.compare(seen, head) >= 0;
  return {
    start(): Promise<void> {
      starting ??= (async () => {
        stopTail = log.tail((change) => {
          if (seen === undefined || log.compare(change.cursor, seen) > 0) seen = change.cursor;
        });
        const head = await log.head();
        if (!reached(head)) seen = head;
      })();
      return starting;
    },
    async routed(timeoutMs: number): Promise<void> {
      const head = await log.head();
      const deadline = Date.now() + timeoutMs;
      while (!reached(head)) {
        if (Date.now() > deadline)
          throw new HarnessError(`the push instance did not read its change log up to ${head} within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    stop(): void {
      stopTail?.();
    },
  };
}

function isKoa(value: unknown): value is HarnessApp {
  return (
    typeof (value as HarnessApp | undefined)?.callback === 'function' && Array.isArray((value as HarnessApp).middleware)
  );
}

function isRouter(value: unknown): value is Router {
  return typeof (value as Router | undefined)?.match === 'function' && typeof (value as Router).route === 'function';
}

/** The router an app mounts with `router.routes()` (@koa/router marks that middleware with it). */
function routerOf(app: HarnessApp | undefined): Router | undefined {
  for (const middleware of app?.middleware ?? []) {
    const router: unknown = (middleware as { router?: unknown }).router;
    if (isRouter(router)) return router;
  }
  return undefined;
}

function duration(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new TypeError(`createHarness(): the \`${option}\` option must be a number of ms, got ${String(value)}`);
  return value;
}
