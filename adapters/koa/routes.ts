// The route table from the app's @koa/router: which named route a page path is, and re-rendering a
// named route for a viewer, for route-name serializers.

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
