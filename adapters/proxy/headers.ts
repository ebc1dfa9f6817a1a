// The headers the proxy sends on: hop-by-hop ones dropped both ways, X-Forwarded-* set, the push
// server addressed by its own Host, and the page's own Origin turned into the push server's.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** Where a forwarded request came from, for X-Forwarded-*: the client's address, scheme and Host. */
export interface Via {
  readonly for: string | undefined;
  readonly proto: string;
  readonly host: string | undefined;
}

// Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not the request. `Expect` is
// answered by Node's server before the request is handed over.
const hopByHop = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect']);

/** The headers a request is forwarded with to the push server at `target` (an origin). */
export function forwardedHeaders(
  headers: IncomingHttpHeaders,
  via: Via,
  target: string,
  upgrade: boolean,
): OutgoingHttpHeaders {
  const forwarded: OutgoingHttpHeaders = endToEnd(headers);
  // The push server gets its own Host, never the browser's.
  forwarded.host = new URL(target).host;
  if (upgrade) {
    forwarded.connection = 'Upgrade';
    forwarded.upgrade = 'websocket';
  }
  const prior = headers['x-forwarded-for'];
  if (via.for !== undefined) forwarded['x-forwarded-for'] = prior ? `${String(prior)}, ${via.for}` : via.for;
  forwarded['x-forwarded-proto'] = via.proto;
  if (via.host) forwarded['x-forwarded-host'] = via.host;
  else delete forwarded['x-forwarded-host'];
  // With its own Host, the push server's same-origin check would refuse the page's own origin. An
  // Origin that is the app's own origin, scheme, host and port, is the page's own: it becomes the
  // push server's origin. Any other Origin (an `http:` page of an `https:` app too) passes
  // unchanged, for the push server's `origins` to judge.
  if (via.host && sameOrigin(headers.origin, `${via.proto}://${via.host}`)) forwarded.origin = target;
  return forwarded;
}

/** A copy of `headers` without the hop-by-hop ones, nor those their Connection header names. */
export function endToEnd<Headers extends IncomingHttpHeaders>(headers: Headers): Headers {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase()),
  );
  const kept = { ...headers };
  for (const name of Object.keys(kept)) {
    if (hopByHop.has(name) || name.startsWith('proxy-') || named.has(name)) delete kept[name];
  }
  return kept;
}

/** Whether `origin` is the origin of `url`: the same scheme, host and port. */
function sameOrigin(origin: string | undefined, url: string): boolean {
  try {
    return origin !== undefined && new URL(origin).origin === new URL(url).origin;
  } catch {
    return false;
  }
}
