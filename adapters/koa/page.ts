// The page middleware: takes the change-log cursor at the start of each page request (on routes
// with update functions) and gives the handler `ctx.state.serverpush`: the page token and tag.

import type Koa from 'koa';
import { type Push, unknownCursor } from '../../core/push.ts';
import type { TransportName } from '../../core/types.ts';
import type { RouteTable } from '../../core/viewer.ts';
import type { PageHelper } from './state.ts';

/** What the page middleware needs of the Koa push instance. */
export interface PageConfig {
  readonly push: Pick<Push<never, unknown>, 'token' | 'transports' | 'log' | 'concerns'>;
  readonly routes: RouteTable;
  readonly prefix: string;
  readonly identify: (ctx: Koa.Context) => unknown;
  readonly binding: (cookieHeader: string | undefined) => string | undefined;
  /** Where browsers reach the push endpoints: a path, an absolute URL, or one per request. */
  readonly endpoint: string | ((ctx: Koa.Context) => string);
  /** Whether the app's origin forwards the prefix (`push.proxy()`), for transports that cannot go cross-origin. */
  readonly proxied: boolean;
  /** Whether pages share one connection between a browser's tabs, unless a tag says otherwise. */
  readonly share: boolean;
  /** Called with the app of each request, for re-rendering routes with it. */
  readonly seen: (app: Koa) => void;
}

/** How long a cursor read for a route without update functions is reused, in ms. */
const reuseCursorMs = 1_000;

/** How long a page request waits for the change log's cursor before it renders without one, in ms. */
// Long enough that a loaded but healthy database answers; short enough that a page still renders.
const headTimeoutMs = 2_000;

/** How long a page request waits for the change log during a known outage, in ms. */
const outageTimeoutMs = 100;

/** Creates the page middleware. */
export function pageMiddleware({
  push,
  routes,
  prefix,
  identify,
  binding,
  endpoint,
  proxied,
  share,
  seen,
}: PageConfig): Koa.Middleware {
  const offered = push.transports.map((transport) => transport.name as TransportName);
  // Pages of routes without update functions listen to nothing: any cursor of the log's current
  // epoch serves them, so a recent one is reused rather than read for each request.
  let recent: { cursor: string; at: number } | undefined;

  // Whether the log failed to answer the last time; its outage is reported once, and its end once.
  let outage: { since: number; failures: number } | undefined;
  // During an outage, the one read in flight that every page request waits on briefly, so that
  // pages render at once and the log is asked once at a time. (Read before the request started,
  // such a cursor is older than the page: the page may get a change it already shows, never miss one.)
  let probe: { read: Promise<string>; at: number } | undefined;

  /** The read in flight during an outage; one that hung past `headTimeoutMs` is given up for a new one. */
  function probing(): Promise<string> {
    if (probe === undefined || Date.now() - probe.at > headTimeoutMs) {
      const current = { read: push.log.head(), at: Date.now() };
      const settled = () => void (probe === current && (probe = undefined));
      current.read.then(settled, settled);
      probe = current;
    }
    return probe.read;
  }

  async function cursorFor(path: string): Promise<string> {
    if (!push.concerns(routes.match(path)?.name) && recent !== undefined && Date.now() - recent.at < reuseCursorMs)
      return recent.cursor;
    let timer: NodeJS.Timeout | undefined;
    try {
      // Time-boxed: a page renders even when the log is down, with a token that has its page reload
      // once the log is back (`unknownCursor`).
      const waitMs = outage === undefined ? headTimeoutMs : outageTimeoutMs;
      const read = outage === undefined ? push.log.head() : probing();
      const cursor = await Promise.race([
        read,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${waitMs} ms`)), waitMs);
        }),
      ]);
      if (outage !== undefined) {
        console.warn(
          `serverpush: the change log answers again after ${Date.now() - outage.since} ms; ${outage.failures} page(s) rendered meanwhile reload once it is back`,
        );
        outage = undefined;
      }
      recent = { cursor, at: Date.now() };
      return cursor;
    } catch (error) {
      if (outage === undefined) {
        outage = { since: Date.now(), failures: 0 };
        console.warn(
          'serverpush: the change log did not answer when a page rendered; pages render meanwhile and reload once it is back:',
          error,
        );
      }
      outage.failures += 1;
      return unknownCursor;
    } finally {
      clearTimeout(timer);
    }
  }

  return async (ctx, next) => {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || ctx.path.startsWith(`${prefix}/`)) return next();
    seen(ctx.app);
    const cursor = await cursorFor(ctx.path);
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
          binding: binding(ctx.get('Cookie')),
        });
        return token;
      },
      tag(tagOptions = {}) {
        const names = tagOptions.transports ?? offered;
        for (const name of names) {
          if (!offered.includes(name))
            throw new TypeError(`tag(): transport "${name}" is not offered; offered: ${offered.join(', ')}`);
        }
        const base = typeof endpoint === 'string' ? endpoint : endpoint(ctx);
        const crossOrigin = /^https?:/.test(base) && new URL(base).origin !== ctx.origin;
        const proxy = crossOrigin && proxied ? ` data-proxy="${attribute(prefix)}"` : '';
        const alone = (tagOptions.share ?? share) ? '' : ' data-share="false"';
        return `<script src="${attribute(`${base}/client.js`)}" data-serverpush data-token="${attribute(this.token)}" data-base="${attribute(base)}"${proxy} data-transports="${attribute(names.join(','))}"${alone} defer></script>`;
      },
    };
    ctx.state.serverpush = helper;
    await next();
  };
}

function attribute(value: string): string {
  return value.replace(/[&"<>]/g, (char) => `&#${char.charCodeAt(0)};`);
}
