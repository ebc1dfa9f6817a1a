// The same-origin proxy: Koa middleware that forwards the push prefix, and the WebSocket upgrades
// under it, to a push server on another port or host, so pages reach push on their own origin.

import {
  ServerResponse,
  STATUS_CODES,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import createDebug from 'debug';
import type { ProxyServer } from 'http-proxy-3';
import type Koa from 'koa';

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
}

// Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not the request. `Expect` is
// answered by Node's server before the request is handed over.
const hopByHop = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect']);

const segmentPattern = /^(?:[\w.~-]|%[\da-fA-F]{2})*$/;

/** A request target's verdict: not under the prefix, refused with a reason, or the path and query to forward. */
type Verdict = undefined | { readonly refuse: string } | { readonly forward: string };

class TargetTimeoutError extends Error {
  override readonly name = 'TargetTimeoutError';
}

/**
 * Forwards requests under `prefix` to the push server at `target`, streaming both ways, so a page
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
    const [status, body] = failure(error);
    if (res instanceof ServerResponse) {
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    } else if (res.writable) {
      res.end(httpResponse(status, body));
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
          refuseUpgrade(socket, 404, 'SERVERPUSH_ERR_BAD_REQUEST', `no upgrade at ${(req.url ?? '').slice(0, 100)}`);
        return;
      }
      if ('refuse' in verdict) return refuseUpgrade(socket, 400, 'SERVERPUSH_ERR_BAD_REQUEST', verdict.refuse);
      if (req.method !== 'GET' || String(req.headers.upgrade).toLowerCase() !== 'websocket') {
        return refuseUpgrade(socket, 400, 'SERVERPUSH_ERR_BAD_REQUEST', 'only WebSocket upgrades are forwarded');
      }
      socket.on('error', (error) => debug('upgrade socket failed: %s', error.message));
      const encrypted = (req.socket as Partial<TLSSocket>).encrypted === true;
      forwardHeaders(
        req.headers,
        { for: req.socket.remoteAddress, proto: encrypted ? 'https' : 'http', host: req.headers.host },
        target,
        true,
      );
      load()
        .then((proxyServer) => proxyServer.ws(req, socket, head, { target: verdict.forward }, proxyOnError))
        .catch((error: unknown) => {
          console.error('serverpush: the proxy failed to forward an upgrade:', error);
          if (socket.writable)
            refuseUpgrade(socket, 500, 'SERVERPUSH_ERR_INTERNAL', 'internal error; see the server log');
        });
    };
    server.on('upgrade', serverOnUpgrade);
  }

  return async (ctx, next) => {
    const verdict = judge(ctx.req.url ?? '', prefix, target);
    if (verdict === undefined) return next();
    if ('refuse' in verdict) {
      debug('refused %s: %s', ctx.req.url, verdict.refuse);
      ctx.status = 400;
      ctx.body = { error: { code: 'SERVERPUSH_ERR_BAD_REQUEST', message: verdict.refuse } };
      return;
    }
    const proxyServer = await load();
    const { req, res } = ctx;
    // From here the request belongs to the proxy: its headers become the forwarded ones.
    forwardHeaders(req.headers, { for: req.socket.remoteAddress, proto: ctx.protocol, host: ctx.host }, target, false);
    ctx.respond = false;
    const closed = new Promise((resolve) => res.once('close', resolve));
    proxyServer.web(req, res, { target: verdict.forward }, proxyOnError);
    await closed;
  };
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
  // origin. An Origin naming the host the app was asked for is the page's own: it becomes the push
  // server's origin. Any other Origin passes unchanged, for the push server's `origins` to judge.
  if (via.host && hostOf(headers.origin) === via.host) headers.origin = target;
}

function hostOf(origin: string | undefined): string | undefined {
  try {
    return origin === undefined ? undefined : new URL(origin).host;
  } catch {
    return undefined;
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

/** The status and JSON body answering a failed forward. */
function failure(error: Error): [number, string] {
  if (error instanceof TargetTimeoutError) {
    debug('push server timed out: %s', error.message);
    return [504, JSON.stringify({ error: { code: 'SERVERPUSH_ERR_PROXY_TIMEOUT', message: error.message } })];
  }
  const code = (error as NodeJS.ErrnoException).code ?? '';
  debug('forward failed: %s %s', code, error.message);
  // HPE_*: the push server's answer did not parse; ERR_*: Node would not send it on.
  const message = /^(HPE_|ERR_)/.test(code)
    ? 'the push server sent an answer that cannot be forwarded'
    : 'the push server cannot be reached';
  return [502, JSON.stringify({ error: { code: 'SERVERPUSH_ERR_PROXY', message } })];
}

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
function refuseUpgrade(socket: Duplex, status: number, code: string, message: string) {
  socket.end(httpResponse(status, JSON.stringify({ error: { code, message } })));
}

function httpResponse(status: number, body: string): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}
