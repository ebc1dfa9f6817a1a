// The same-origin proxy: Koa middleware that forwards the push prefix, and the WebSocket upgrades
// under it, to a push server on another port or host, so pages reach push on their own origin.
// Built on node:http alone: vet.ts checks, headers.ts rewrites, forward.ts and upgrade.ts send.

/**
 * `proxy()`: the same-origin proxy without a push instance.
 *
 * @module serverpush/proxy
 */

import { Agent as HttpAgent, type IncomingMessage, type Server } from 'node:http';
import { Agent as HttpsAgent, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import createDebug from 'debug';
import type Koa from 'koa';
import { answerHeaders, refuseSocket } from '../../transports/respond.ts';
import { forward } from './forward.ts';
import { forwardedHeaders } from './headers.ts';
import { forwardUpgrade } from './upgrade.ts';
import { bodyRefusal, declaresBody, judge, targetOrigin } from './vet.ts';

const debug = createDebug('serverpush:proxy');

/** Options of `proxy()`. */
export interface ProxyOptions {
  /** The push server's origin (`'http://127.0.0.1:8013'`): no credentials, path or query. Required. */
  readonly target: string | URL;
  /** The path prefix forwarded; the same as the push server's. Default: `'/serverpush'`. */
  readonly prefix?: string | undefined;
  /** The app's server, whose WebSocket upgrades under the prefix are forwarded too. Default: none. */
  readonly server?: Server | HttpsServer | undefined;
  /**
   * How long the push server may send nothing before the proxy gives up (504, or a cut stream), in
   * ms; keep it above the long-poll hold and the SSE heartbeat. Default: `60_000`.
   */
  readonly timeoutMs?: number | undefined;
  /**
   * How many idle connections to the push server are kept for reuse; past it, a connection whose
   * request ended is closed. Busy connections are not capped: every held poll and stream needs
   * its own. Default: `256`.
   */
  readonly maxFreeSockets?: number | undefined;
}

/**
 * How long an idle connection to the push server is kept, in ms: below Node's default
 * `keepAliveTimeout` (5 s), so the proxy lets go of a connection before the push server closes it
 * and never sends a request into a socket that is closing.
 */
const freeSocketTimeoutMs = 4_000;

/**
 * Forwards requests under `prefix` to the push server at `target` (without their bodies, which no
 * push endpoint takes), streaming the answers and WebSockets, over reused connections, so a page
 * reaches push through its own origin; mount it before body parsers. What it forwards and refuses:
 * docs/deployment.md#same-origin-proxy.
 *
 * @example
 * const app = new Koa();
 * const server = http.createServer();
 * app.use(proxy({ target: 'http://127.0.0.1:8013', server })); // before body parsers
 * server.on('request', app.callback()); // after app.use: Koa composes its middleware here
 * server.listen(3000);
 */
export function proxy(options: ProxyOptions): Koa.Middleware {
  const target = targetOrigin(options.target);
  const prefix = options.prefix ?? '/serverpush';
  if (typeof prefix !== 'string' || !/^(\/[\w.~-]+)+$/.test(prefix) || /\/\.\.?(\/|$)/.test(prefix)) {
    throw new TypeError('The `prefix` option must be a path like "/serverpush", without a trailing slash');
  }
  const timeoutMs = options.timeoutMs ?? 60_000;
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > 2_147_483_647) {
    throw new TypeError('The `timeoutMs` option must be a positive integer of milliseconds');
  }
  const { server } = options;
  if (server !== undefined && (typeof server?.on !== 'function' || typeof server.listenerCount !== 'function')) {
    throw new TypeError("The `server` option must be the app's http.Server");
  }
  const maxFreeSockets = options.maxFreeSockets ?? 256;
  if (
    typeof maxFreeSockets !== 'number' ||
    !Number.isInteger(maxFreeSockets) ||
    maxFreeSockets <= 0 ||
    maxFreeSockets > 2_147_483_647
  ) {
    throw new TypeError('The `maxFreeSockets` option must be a positive integer');
  }
  // Connections to the push server are reused (a held poll is answered, the next is sent at once).
  // No cap on busy sockets: a request queued behind held polls would wait out their hold.
  const Agent = target.startsWith('https:') ? HttpsAgent : HttpAgent;
  const agent = new Agent({ keepAlive: true, maxFreeSockets, timeout: freeSocketTimeoutMs });

  if (server !== undefined) {
    const serverOnUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const verdict = judge(req.url ?? '', prefix, target);
      if (verdict === undefined) {
        // Another listener may own this path; refuse only when there is none.
        if (server.listenerCount('upgrade') === 1)
          refuseSocket(socket, 404, 'SERVERPUSH_ERR_BAD_REQUEST', `no upgrade at ${(req.url ?? '').slice(0, 100)}`);
        return;
      }
      if ('refuse' in verdict) return refuseSocket(socket, 400, 'SERVERPUSH_ERR_BAD_REQUEST', verdict.refuse);
      if (req.method !== 'GET' || String(req.headers.upgrade).toLowerCase() !== 'websocket') {
        return refuseSocket(socket, 400, 'SERVERPUSH_ERR_BAD_REQUEST', 'only WebSocket upgrades are forwarded');
      }
      // Its body would reach the push server as WebSocket frames the browser never sent.
      const refusal = bodyRefusal(req);
      if (refusal !== undefined) return refuseSocket(socket, 400, 'SERVERPUSH_ERR_BAD_REQUEST', refusal);
      const encrypted = (req.socket as Partial<TLSSocket>).encrypted === true;
      const via = { for: req.socket.remoteAddress, proto: encrypted ? 'https' : 'http', host: req.headers.host };
      try {
        forwardUpgrade(req, socket, head, {
          url: verdict.forward,
          headers: forwardedHeaders(req.headers, via, target, true),
          timeoutMs,
        });
      } catch (error) {
        console.error('serverpush: the proxy failed to forward an upgrade:', error);
        if (socket.writable) refuseSocket(socket, 500, 'SERVERPUSH_ERR_INTERNAL', 'internal error; see the server log');
      }
    };
    server.on('upgrade', serverOnUpgrade);
  }

  return async (ctx, next) => {
    const verdict = judge(ctx.req.url ?? '', prefix, target);
    if (verdict === undefined) return next();
    if ('refuse' in verdict) return refuse(ctx, verdict.refuse);
    const refusal = bodyRefusal(ctx.req);
    if (refusal !== undefined) return refuse(ctx, refusal);
    const { req, res } = ctx;
    const headers = forwardedHeaders(
      req.headers,
      { for: req.socket.remoteAddress, proto: ctx.protocol, host: ctx.host },
      target,
      false,
    );
    // No push endpoint takes a body (docs/protocol.md: every request is a GET): a POST with one is
    // forwarded with an empty body, so the push server answers it as it answers any POST (405), and
    // the browser gets that answer. Streamed on, a body the push server does not read raced its
    // answer: it closed the connection while the proxy still wrote, and the write's EPIPE turned
    // the 405 into a 502 (bodies of some 200 KiB and more).
    if (declaresBody(req.headers)) headers['content-length'] = '0';
    ctx.respond = false;
    await forward(req, res, { url: verdict.forward, headers, agent, timeoutMs });
  };
}

/** Answers 400 with the reason, and closes the connection: an unvetted body is never read as a next request. */
function refuse(ctx: Koa.Context, message: string) {
  debug('refused %s %s: %s', ctx.method, ctx.req.url, message);
  ctx.status = 400;
  ctx.set(answerHeaders);
  ctx.set('Connection', 'close');
  ctx.body = { error: { code: 'SERVERPUSH_ERR_BAD_REQUEST', message } };
}
