// The route table from the app's @koa/router: which named route a page path is, re-rendering a
// named route for a viewer (route-name serializers), and the warnings when update functions and the
// router do not meet (a route name the router lacks, a page of an unnamed route).

import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type Router from '@koa/router';
import type Koa from 'koa';
import compose from 'koa-compose';
import type { RouteTable } from '../../core/viewer.ts';
import type { RouteRenderer } from '../../core/serialize.ts';
import { renderState } from './state.ts';

/** The named GET route a page path matches, with its params. */
export function matchRoute(router: Router, path: string): ReturnType<RouteTable['match']> {
  const layer = router
    .match(path, 'GET')
    .pathAndMethod.find((candidate) => candidate.name !== undefined && candidate.methods.length > 0);
  if (layer?.name === undefined) return undefined;
  return { name: layer.name, params: layer.params(path, layer.captures(path)) };
}

/**
 * A renderer for route-name serializers. It runs the named route's own middleware (not the app's)
 * on a synthetic GET. The page's own route is re-rendered with the page's params (the seed's
 * "serialize with the view itself"); any other route takes its params from the changed row first,
 * then from the page, so a fragment route `/todos/:id` renders the changed todo. The handler finds
 * the update in `ctx.state.serverpush.update`.
 */
export function renderer(router: Router, appOf: () => Koa): RouteRenderer {
  return async (name, context, update) => {
    const layer = router.route(name);
    if (layer === false) throw new Error(`serializer names route "${name}", which the router does not have`);
    const params: Record<string, string> = {};
    for (const key of layer.paramNames) {
      const fromPage = context.params[String(key.name)];
      const value = name === context.route ? fromPage : (update.row[String(key.name)] ?? fromPage);
      if (value === undefined || value === null)
        throw new Error(`route "${name}" needs param "${String(key.name)}", found neither in the page nor the row`);
      params[String(key.name)] = String(value);
    }
    const request = new IncomingMessage(new Socket());
    request.method = 'GET';
    request.url = layer.url(params);
    request.headers = { host: 'serverpush.invalid', 'accept-language': context.languages.join(',') };
    const ctx = appOf().createContext(request, new ServerResponse(request));
    Object.assign(ctx, { params, router, routerPath: layer.path, routerName: name });
    ctx.state.serverpush = renderState({ ...update, context });
    await compose(layer.stack as Koa.Middleware[])(ctx);
    if (ctx.status >= 400) throw new Error(`route "${name}" answered ${ctx.status} when re-rendered`);
    const body: unknown = ctx.body;
    if (Buffer.isBuffer(body)) return body.toString('utf8');
    if (body instanceof Readable)
      throw new Error(`route "${name}" answered a stream; a re-render must answer a string or JSON`);
    return body ?? null;
  };
}

/** The names of the router's named GET routes: those `push.updates()` can name. */
export function pageRouteNames(router: Router): string[] {
  const names: string[] = [];
  for (const layer of router.stack) {
    if (layer.name !== undefined && layer.methods.includes('GET')) names.push(layer.name);
  }
  return names;
}

/** The path pattern of the GET route a page path matches when that route has no name, else `undefined`. */
export function unnamedRoute(router: Router, path: string): string | undefined {
  const routes = router.match(path, 'GET').pathAndMethod.filter((candidate) => candidate.methods.length > 0);
  if (routes.length === 0 || routes.some((candidate) => candidate.name !== undefined)) return undefined;
  return String(routes[0]!.path);
}

/** Warnings about how update functions meet the router; see `routeChecks()`. */
export interface RouteChecks {
  /** `push.updates(name, …)` registered a function: checked now if pages are already served. */
  registered(name: string): void;
  /** A page request arrived: the first checks every name registered so far. */
  pageRequest(): void;
  /** A page of `path` signed its token (rendered its tag). */
  rendered(path: string): void;
}

/**
 * Checks, once each, that `push.updates()` names GET routes the router has (from the first page
 * request on, when the router has its routes), and that pages rendered while route update
 * functions exist come from named routes; `warn(key, message)` says what is wrong.
 */
export function routeChecks(router: Router, warn: (key: string, message: string) => void): RouteChecks {
  const names = new Set<string>();
  let serving = false;

  function check(name: string) {
    const known = pageRouteNames(router);
    if (known.includes(name)) return;
    const guess = closest(name, known);
    const hint =
      guess !== undefined
        ? `did you mean "${guess}"?`
        : known.length === 0
          ? 'it has no named GET route'
          : `its named GET routes: ${known.slice(0, 10).join(', ')}${known.length > 10 ? ', …' : ''}`;
    warn(
      `updates ${name}`,
      `push.updates("${name}", …): the router has no GET route named "${name}", so this update function never runs; ${hint}`,
    );
  }

  return {
    registered(name) {
      names.add(name);
      if (serving) check(name);
    },
    pageRequest() {
      if (serving) return;
      serving = true;
      for (const name of names) check(name);
    },
    rendered(path) {
      if (names.size === 0) return;
      const pattern = unnamedRoute(router, path);
      if (pattern === undefined) return;
      warn(
        `unnamed ${pattern}`,
        `GET ${pattern} renders pages with the push tag, but its route has no name, so no push.updates() function applies to them; name it: router.get('name', '${pattern}', handler)`,
      );
    },
  };
}

/** The name in `names` within two edits of `name` (the closest), if any. */
function closest(name: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of names) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

/** Levenshtein distance, with adjacent swaps counting once ("nmae" is one edit from "name"). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return Number.POSITIVE_INFINITY;
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i + j));
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const row = rows[i]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j]!, rows[i - 2]![j - 2]! + 1);
    }
  }
  return rows[a.length]![b.length]!;
}
