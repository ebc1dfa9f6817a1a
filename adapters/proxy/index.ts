// The same-origin proxy: Koa middleware that forwards the push prefix, and the WebSocket upgrades
// under it, to a push server on another port or host, so pages reach push on their own origin.

/**
 * `proxy()`: the same-origin proxy without a push instance.
 *
 * @module serverpush/proxy
 */

import {
  Agent as HttpAgent,
  ServerResponse,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http';
import { Agent as HttpsAgent, type Server as HttpsServer } from 'node:https';
import { type Duplex, Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import createDebug from 'debug';
import type { ProxyServer } from 'http-proxy-3';
import type Koa from 'koa';
import type { ErrorCode } from '../../core/errors.ts';
import { answerHeaders, refuseSocket } from '../../transports/respond.ts';

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

// Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not the request. `Expect` is
// answered by Node's server before the request is handed over.
const hopByHop = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect']);

const segmentPattern = /^(?:[\w.~-]|%[\da-fA-F]{2})*$/;

/** Methods whose requests have no body (RFC 9110 §9.3): one that comes with a body is refused. */
const bodyless = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);

/**
 * How long an idle connection to the push server is kept, in ms: below Node's default
 * `keepAliveTimeout` (5 s), so the proxy lets go of a connection before the push server closes it
 * and never sends a request into a socket that is closing.
 */
const freeSocketTimeoutMs = 4_000;

/** A request target's verdict: not under the prefix, refused with a reason, or the path and query to forward. */
type Verdict = undefined | { readonly refuse: string } | { readonly forward: string };

class TargetTimeoutError extends Error {
  override readonly name = 'TargetTimeoutError';
}

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

  const upgraded = new WeakSet<Duplex>();

  function proxyOnProxyReq(proxyReq: ClientRequest) {
    proxyReq.setTimeout(timeoutMs, () =>
      proxyReq.destroy(new TargetTimeoutError(`the push server sent nothing for ${timeoutMs} ms`)),
    );
  }

  function proxyOnProxyReqWs(proxyReq: ClientRequest, _req: IncomingMessage, socket: Duplex) {
    proxyOnProxyReq(proxyReq);
    proxyReq.once('upgrade', () => upgraded.add(socket));
  }

  // With selfHandleResponse the library pipes nothing: the response is written here, so that the
  // push server's hop-by-hop headers are dropped and a cut stream cuts the browser's too. This runs
  // inside the http client's parser: a throw here would take the process down.
  function proxyOnProxyRes(proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse) {
    proxyRes.on('error', (error) => debug('push server response failed: %s', error.message));
    if (res.headersSent || res.destroyed) return proxyRes.destroy();
    const headers = { ...proxyRes.headers };
    dropHopByHop(headers);
    try {
      res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage ?? '', headers);
    } catch (error) {
      // A status or header Node will not send (the push server is not one of ours?): 502.
      proxyRes.destroy();
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      return proxyOnError(error as Error, req, res);
    }
    proxyRes.once('close', () => {
      if (!proxyRes.complete) res.destroy();
    });
    res.flushHeaders();
    proxyRes.pipe(res);
  }

  // The callback of every forward and the proxy's 'error' listener: before the response starts,
  // a JSON 502 or 504; after it, or once a WebSocket is through, the browser's connection is cut.
  function proxyOnError(error: Error, _req: IncomingMessage, res: ServerResponse | Duplex) {
    const started = res instanceof ServerResponse ? res.headersSent : upgraded.has(res);
    if (started || res.destroyed) {
      debug('forward failed after it started: %s', error.message);
      res.destroy();
      return;
    }
    const { status, code, message } = failure(error);
    if (res instanceof ServerResponse) {
      const body = JSON.stringify({ error: { code, message } });
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        ...answerHeaders,
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    } else if (res.writable) {
      refuseSocket(res, status, code, message);
    }
  }

  let loading: Promise<ProxyServer> | undefined;
  // Loaded on first use, so that apps that never proxy never load http-proxy-3.
  function load(): Promise<ProxyServer> {
    loading ??= import('http-proxy-3').then(
      ({ createProxyServer }) => {
        // changeOrigin: the push server gets its own Host, never the browser's. ignorePath: the
        // per-request target already holds the vetted path and query.
        const proxyServer = createProxyServer({ changeOrigin: true, ignorePath: true, selfHandleResponse: true });
        // Without an 'error' listener of ours, http-proxy-3 rethrows socket errors.
        proxyServer.on('error', proxyOnError);
        proxyServer.on('proxyReq', proxyOnProxyReq);
        proxyServer.on('proxyReqWs', proxyOnProxyReqWs);
        proxyServer.on('proxyRes', proxyOnProxyRes);
        return proxyServer;
      },
      (error: unknown) => {
        loading = undefined;
        throw error;
      },
    );
    return loading;
  }

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
      socket.on('error', (error) => debug('upgrade socket failed: %s', error.message));
      const encrypted = (req.socket as Partial<TLSSocket>).encrypted === true;
      forwardHeaders(
        req.headers,
        { for: req.socket.remoteAddress, proto: encrypted ? 'https' : 'http', host: req.headers.host },
        target,
        true,
      );
      // Not through the agent: an upgraded connection is never reused.
      load()
        .then((proxyServer) =>
          proxyServer.ws(req, socket, head, { target: verdict.forward, agent: false }, proxyOnError),
        )
        .catch((error: unknown) => {
          console.error('serverpush: the proxy failed to forward an upgrade:', error);
          if (socket.writable)
            refuseSocket(socket, 500, 'SERVERPUSH_ERR_INTERNAL', 'internal error; see the server log');
        });
    };
    server.on('upgrade', serverOnUpgrade);
  }

  return async (ctx, next) => {
    const verdict = judge(ctx.req.url ?? '', prefix, target);
    if (verdict === undefined) return next();
    if ('refuse' in verdict) return refuse(ctx, verdict.refuse);
    const refusal = bodyRefusal(ctx.req);
    if (refusal !== undefined) return refuse(ctx, refusal);
    const proxyServer = await load();
    const { req, res } = ctx;
    // From here the request belongs to the proxy: its headers become the forwarded ones.
    forwardHeaders(req.headers, { for: req.socket.remoteAddress, proto: ctx.protocol, host: ctx.host }, target, false);
    // No push endpoint takes a body (docs/protocol.md: every request is a GET): a POST with one is
    // forwarded with an empty body, so the push server answers it as it answers any POST (405), and
    // the browser gets that answer. Streamed on, a body the push server does not read raced its
    // answer: it closed the connection while the proxy still wrote, and the write's EPIPE turned
    // the 405 into a 502 (bodies of some 200 KiB and more). The body is never read, so none of it
    // travels upstream; Node's server discards it once the answer is sent.
    if (declaresBody(req.headers)) req.headers['content-length'] = '0';
    ctx.respond = false;
    const closed = new Promise((resolve) => res.once('close', resolve));
    proxyServer.web(req, res, { target: verdict.forward, agent, buffer: Readable.from([]) }, proxyOnError);
    await closed;
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

/** Whether a request announces a body: `Transfer-Encoding`, or a `Content-Length` other than 0. */
function declaresBody(headers: IncomingHttpHeaders): boolean {
  return headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) !== 0;
}

/**
 * Why a request is refused for its body, or `undefined`. A body on a method that has none is the
 * shape of request smuggling: Node's client would write it after the head unframed (no chunked
 * encoding for a GET), and the push server would read it as a second request of the proxy's own.
 */
function bodyRefusal(req: IncomingMessage): string | undefined {
  const method = req.method ?? '';
  return bodyless.has(method) && declaresBody(req.headers)
    ? `${method} requests with a body are not forwarded`
    : undefined;
}

/** The validated `target` option: its origin. */
function targetOrigin(value: unknown): string {
  const message =
    'The `target` option must be an absolute http: or https: URL with no credentials, path or query, like "http://127.0.0.1:8013"';
  const url = (typeof value === 'string' || value instanceof URL) && URL.canParse(value) ? new URL(value) : null;
  const bare = url?.username === '' && url.password === '' && url.pathname === '/' && !/[?#]/.test(String(value));
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:') || !bare) throw new TypeError(message);
  return url.origin;
}

/**
 * Whether and where a request target goes. Only origin-form targets under the prefix whose every
 * segment is unreserved characters or escapes other than `.` `/` `\` are forwarded, so no
 * normalisation by this proxy, the push server or anything between can move them elsewhere.
 */
function judge(url: string, prefix: string, origin: string): Verdict {
  if (!url.startsWith('/')) {
    // Absolute form (`GET http://host/path`): browsers send it only to proxies; never forwarded.
    const authority = /^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i.exec(url);
    const underPrefix = authority !== null && url.slice(authority[0].length).startsWith(`${prefix}/`);
    return underPrefix ? { refuse: 'absolute-form request targets are not forwarded' } : undefined;
  }
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  if (!path.startsWith(`${prefix}/`)) return undefined;
  const segments = path.slice(prefix.length + 1).split('/');
  for (const [index, segment] of segments.entries()) {
    if (segment === '' && index < segments.length - 1) return { refuse: 'empty path segments (//) are not forwarded' };
    if (segment === '.' || segment === '..') return { refuse: 'dot segments (. and ..) are not forwarded' };
    if (/%(?:2e|2f|5c)/i.test(segment)) return { refuse: 'encoded dots, slashes and backslashes are not forwarded' };
    if (!segmentPattern.test(segment))
      return { refuse: 'path segments may hold only letters, digits, "-._~" and percent-escapes' };
  }
  const forward = new URL(url, origin);
  // Belt and braces: the URL parser must agree that nothing moved.
  if (forward.origin !== origin || forward.pathname !== path) return { refuse: 'the path is not forwarded' };
  return { forward: forward.href };
}

/** Turns a request's headers into the forwarded ones: hop-by-hop dropped, X-Forwarded-* set. */
function forwardHeaders(
  headers: IncomingHttpHeaders,
  via: { for: string | undefined; proto: string; host: string | undefined },
  target: string,
  upgrade: boolean,
) {
  dropHopByHop(headers);
  if (upgrade) {
    headers.connection = 'Upgrade';
    headers.upgrade = 'websocket';
  }
  const prior = headers['x-forwarded-for'];
  if (via.for !== undefined) headers['x-forwarded-for'] = prior ? `${String(prior)}, ${via.for}` : via.for;
  headers['x-forwarded-proto'] = via.proto;
  if (via.host) headers['x-forwarded-host'] = via.host;
  else delete headers['x-forwarded-host'];
  // The push server gets its own Host, so its same-origin check would refuse the page's own
  // origin. An Origin that is the app's own origin, scheme, host and port, is the page's own: it
  // becomes the push server's origin. Any other Origin (an `http:` page of an `https:` app too)
  // passes unchanged, for the push server's `origins` to judge.
  if (via.host && sameOrigin(headers.origin, `${via.proto}://${via.host}`)) headers.origin = target;
}

/** Whether `origin` is the origin of `url`: the same scheme, host and port. */
function sameOrigin(origin: string | undefined, url: string): boolean {
  try {
    return origin !== undefined && new URL(origin).origin === new URL(url).origin;
  } catch {
    return false;
  }
}

/** Deletes hop-by-hop headers, and those the Connection header names, from `headers`. */
function dropHopByHop(headers: IncomingHttpHeaders) {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase()),
  );
  for (const name of Object.keys(headers)) {
    if (hopByHop.has(name) || name.startsWith('proxy-') || named.has(name)) delete headers[name];
  }
}

/** The status, code and message answering a failed forward. */
function failure(error: Error): { status: number; code: ErrorCode; message: string } {
  if (error instanceof TargetTimeoutError) {
    debug('push server timed out: %s', error.message);
    return { status: 504, code: 'SERVERPUSH_ERR_PROXY_TIMEOUT', message: error.message };
  }
  const code = (error as NodeJS.ErrnoException).code ?? '';
  debug('forward failed: %s %s', code, error.message);
  // HPE_*: the push server's answer did not parse; ERR_*: Node would not send it on.
  const message = /^(HPE_|ERR_)/.test(code)
    ? 'the push server sent an answer that cannot be forwarded'
    : 'the push server cannot be reached';
  return { status: 502, code: 'SERVERPUSH_ERR_PROXY', message };
}
