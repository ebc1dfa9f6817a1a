// The push endpoints under the prefix: the origin check and CORS, each transport's requests, the
// client bundle, and the WebSocket upgrades on the app's server.

import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import createDebug from 'debug';
import type Koa from 'koa';
import type { Push } from '../../core/push.ts';
import type { PushEndpoint, Transport } from '../../core/transport.ts';
import { answerHeaders, refuseSocket } from '../../transports/respond.ts';
import { serveClient } from './client-bundle.ts';

const debug = createDebug('serverpush:koa');

/** What the endpoints need of the Koa push instance. */
export interface EndpointConfig {
  readonly push: Push<never> | Push<unknown>;
  readonly prefix: string;
  /** Page origins allowed cross-origin. */
  readonly origins: ReadonlySet<string>;
  readonly binding: (cookieHeader: string | undefined) => string | undefined;
  /** Called with the app of each request, for re-rendering routes with it. */
  readonly seen: (app: Koa) => void;
}

/** The Koa middleware and the upgrade listener of the push endpoints. */
export interface Endpoints {
  routes(): Koa.Middleware;
  attach(server: Server): () => void;
}

/** Creates the push endpoints. */
export function createEndpoints({ push, prefix, origins, binding, seen }: EndpointConfig): Endpoints {
  const byPath = new Map(push.transports.map((transport) => [`${prefix}/${transport.name}`, transport]));

  /** The push endpoint as one request sees it: with the binding its cookies present. */
  const endpointFor = (
    cookieHeader: string | undefined,
    address: string | undefined,
    transport: Transport['name'],
  ): PushEndpoint => push.endpoint(binding(cookieHeader), address, transport);

  /**
   * Whether a browser request from `origin` may be answered: no Origin (not a browser, or a
   * same-origin GET), an origin listed in `origins`, or the request's own origin, its scheme, host
   * and port all equal. Comparing the host alone would let an `http:` page of an `https:` site in.
   */
  function originAllowed(origin: string | undefined, protocol: string, host: string | undefined): boolean {
    if (origin === undefined || origins.has(origin)) return true;
    if (!host) return false;
    try {
      return new URL(origin).origin === new URL(`${protocol}://${host}`).origin;
    } catch {
      return false;
    }
  }

  const originRefusal = (origin: string | undefined) =>
    `origin ${origin} is not allowed; list it in the \`origins\` option`;

  function routes(): Koa.Middleware {
    return async (ctx, next) => {
      if (!ctx.path.startsWith(`${prefix}/`)) return next();
      seen(ctx.app);
      if (ctx.path === `${prefix}/client.js`) return serveClient(ctx);
      const transport = byPath.get(ctx.path);
      if (transport === undefined) return next();
      const origin = ctx.get('Origin') || undefined;
      // ctx.protocol is the connection's scheme, or X-Forwarded-Proto when app.proxy trusts it.
      if (!originAllowed(origin, ctx.protocol, ctx.host)) {
        ctx.status = 403;
        ctx.set(answerHeaders);
        ctx.body = { error: { code: 'SERVERPUSH_ERR_ORIGIN', message: originRefusal(origin) } };
        debug('refused origin %s', origin);
        push.rejected('SERVERPUSH_ERR_ORIGIN', originRefusal(origin));
        return;
      }
      if (origin !== undefined && origins.has(origin)) {
        ctx.set('Access-Control-Allow-Origin', origin);
        ctx.set('Access-Control-Allow-Credentials', 'true');
        ctx.vary('Origin');
      }
      if (ctx.method === 'OPTIONS') {
        ctx.set(answerHeaders);
        ctx.set('Access-Control-Allow-Methods', 'GET');
        ctx.set('Access-Control-Allow-Headers', 'Last-Event-ID');
        ctx.set('Access-Control-Max-Age', '600');
        ctx.status = 204;
        return;
      }
      await respond(
        ctx,
        transport,
        endpointFor(ctx.get('Cookie'), clientAddress(ctx.req, ctx.app.proxy ? ctx.ip : undefined), transport.name),
      );
    };
  }

  function attach(server: Server): () => void {
    const upgrades = new Map<string, Transport>(
      push.transports.filter((t) => t.upgrade !== undefined).map((t) => [`${prefix}/${t.name}`, t]),
    );
    const serverOnUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (request.url ?? '').split('?', 1)[0] ?? '';
      const transport = upgrades.get(path);
      if (transport?.upgrade === undefined) {
        // Another listener may own this path; refuse only when there is none.
        if (server.listenerCount('upgrade') === 1)
          refuseSocket(socket, 404, 'SERVERPUSH_ERR_BAD_REQUEST', `no upgrade at ${path.slice(0, 100)}`);
        return;
      }
      const origin = request.headers.origin;
      // An upgrade has no Koa context: its scheme is its connection's, whatever its headers say.
      const protocol = (request.socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http';
      if (!originAllowed(origin, protocol, request.headers.host)) {
        debug('refused upgrade from origin %s', origin);
        push.rejected('SERVERPUSH_ERR_ORIGIN', originRefusal(origin));
        return refuseSocket(socket, 403, 'SERVERPUSH_ERR_ORIGIN', originRefusal(origin));
      }
      transport.upgrade(
        request,
        socket,
        head,
        endpointFor(request.headers.cookie, clientAddress(request, undefined), transport.name),
      );
    };
    server.on('upgrade', serverOnUpgrade);
    return () => server.off('upgrade', serverOnUpgrade);
  }

  return { routes, attach };
}

/** Answers one request to a transport: its status, headers and body, a stream written as it comes. */
async function respond(ctx: Koa.Context, transport: Transport, endpoint: PushEndpoint): Promise<void> {
  const { res } = ctx;
  const response = await transport.handle(
    {
      method: ctx.method,
      query: ctx.querystring,
      headers: ctx.headers,
      // The response's close, not the request's: a request emits 'close' once its body is read.
      onClose(listener) {
        const resOnClose = () => res.writableFinished || listener();
        res.once('close', resOnClose);
        return () => void res.off('close', resOnClose);
      },
      get gone() {
        return res.destroyed && !res.writableFinished;
      },
    },
    endpoint,
  );
  ctx.status = response.status;
  ctx.set(response.headers);
  const { body } = response;
  if (body === null || typeof body === 'string') {
    ctx.body = body;
    return;
  }
  // A stream (SSE) is written straight to the response, so that compression middleware cannot
  // buffer it and Koa does not report a client that leaves as an error.
  ctx.respond = false;
  res.flushHeaders();
  res.on('error', (error) => debug('stream failed: %s', error.message));
  body.stream({
    write: (chunk) => res.write(chunk),
    get writableLength() {
      return res.writableLength;
    },
    end: () => res.end(),
    onClose: (listener) => void res.once('close', listener),
  });
}

/**
 * The client address the per-address bounds may count: the one Koa derives from the forwarding
 * headers when the app trusts its proxy (`app.proxy`), else the socket's own when the request came
 * straight from the client. A request forwarded through a proxy the app does not trust has none:
 * every client would look like the proxy.
 */
function clientAddress(request: IncomingMessage, trusted: string | undefined): string | undefined {
  if (trusted !== undefined && trusted !== '') return trusted;
  const { headers } = request;
  if (headers['x-forwarded-for'] !== undefined || headers['forwarded'] !== undefined) return undefined;
  return request.socket.remoteAddress;
}
