// The proxy's checks before anything is forwarded: the `target` option, where a request target
// goes (or why it is refused), and bodies on methods that have none.

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** A request target's verdict: not under the prefix, refused with a reason, or the URL to forward to. */
export type Verdict = undefined | { readonly refuse: string } | { readonly forward: URL };

const segmentPattern = /^(?:[\w.~-]|%[\da-fA-F]{2})*$/;

/** Methods whose requests have no body (RFC 9110 §9.3): one that comes with a body is refused. */
const bodyless = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);

/** The validated `target` option: its origin. */
export function targetOrigin(value: unknown): string {
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
export function judge(url: string, prefix: string, origin: string): Verdict {
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
  return { forward };
}

/** Whether a request announces a body: `Transfer-Encoding`, or a `Content-Length` other than 0. */
export function declaresBody(headers: IncomingHttpHeaders): boolean {
  return headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) !== 0;
}

/**
 * Why a request is refused for its body, or `undefined`. A body on a method that has none is the
 * shape of request smuggling: Node's client would write it after the head unframed (no chunked
 * encoding for a GET), and the push server would read it as a second request of the proxy's own.
 */
export function bodyRefusal(req: IncomingMessage): string | undefined {
  const method = req.method ?? '';
  return bodyless.has(method) && declaresBody(req.headers)
    ? `${method} requests with a body are not forwarded`
    : undefined;
}
