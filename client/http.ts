// One abortable GET with `fetch`, or `XMLHttpRequest` where fetch (or AbortController) is absent; and
// the URL of a transport endpoint.

import type { ClientGlobals } from './globals.ts';
import type { TransportSession } from './transports/index.ts';

/** A response read to its end. */
export interface HttpResult {
  readonly status: number;
  readonly text: string;
}

/** A request in flight. `response` rejects on a network error or after `abort()`. */
export interface HttpRequest {
  readonly response: Promise<HttpResult>;
  abort(): void;
}

/** Whether `get()` can make requests with these globals. */
export function canGet(globals: ClientGlobals): boolean {
  return canFetch(globals) || globals.XMLHttpRequest !== undefined;
}

/**
 * Sends `GET url` with credentials, also cross-origin (where the push server's `origins` allow-list
 * must name the page's origin): the page token says who the viewer is, and cookies let an app bind
 * the token to its session.
 */
export function get(globals: ClientGlobals, url: string): HttpRequest {
  const { fetch, AbortController } = globals;
  if (fetch !== undefined && AbortController !== undefined) {
    const controller = new AbortController();
    const response = fetch(url, {
      credentials: 'include',
      cache: 'no-store',
      signal: controller.signal,
    }).then(async (res) => ({ status: res.status, text: await res.text() }));
    return { response, abort: () => controller.abort() };
  }
  return xhrGet(globals, url);
}

function canFetch(globals: ClientGlobals): boolean {
  return globals.fetch !== undefined && globals.AbortController !== undefined;
}

function xhrGet(globals: ClientGlobals, url: string): HttpRequest {
  const XHR = globals.XMLHttpRequest;
  if (XHR === undefined) throw new TypeError('neither fetch nor XMLHttpRequest is available');
  const xhr = new XHR();
  const response = new Promise<HttpResult>((resolve, reject) => {
    xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText });
    xhr.onerror = () => reject(new TypeError('network error'));
    xhr.ontimeout = xhr.onerror;
    xhr.onabort = () => reject(new TypeError('aborted'));
  });
  xhr.open('GET', url, true);
  xhr.withCredentials = true;
  xhr.send();
  return { response, abort: () => xhr.abort() };
}

/** The transport's endpoint with the token and, once the client has one, the cursor to resume from. */
export function endpointUrl(session: TransportSession, url: string = session.url): string {
  const cursor = session.cursor();
  const query = `token=${encodeURIComponent(session.token)}`;
  return `${url}?${query}${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
}
