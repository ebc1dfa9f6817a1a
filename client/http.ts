// One abortable GET with `fetch`, or `XMLHttpRequest` where fetch (or AbortController) is absent; and
// the URL of a transport endpoint. Every request the client makes goes through here.

import type { ClientGlobals } from './globals.ts';
import type { TransportSession } from './transports/contract.ts';

/** A response: its status, content type, and body (empty when the body was not read). */
export interface HttpResult {
  readonly status: number;
  readonly type: string;
  readonly text: string;
}

/** A request in flight. `response` rejects on a network error or after `abort()`. */
export interface HttpRequest {
  readonly response: Promise<HttpResult>;
  abort(): void;
}

/** Options of `get()`. */
export interface GetOptions {
  /** Whether cookies go with a cross-origin request. Default: `true`. */
  readonly credentials?: boolean;
  /** Request headers. Default: none. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Whether to read the body of a response with this status; when not, the request is given up
   * once the headers are in (a stream's body never ends). Default: always.
   */
  readonly readBody?: (status: number) => boolean;
}

/** Whether `get()` can make requests with these globals. */
export function canGet(globals: ClientGlobals): boolean {
  return canFetch(globals) || globals.XMLHttpRequest !== undefined;
}

/**
 * Sends `GET url` with `fetch`, or `XMLHttpRequest` where fetch (or AbortController) is absent.
 * Credentials go along by default, also cross-origin (where the push server's `origins` allow-list
 * must name the page's origin): the page token says who the viewer is, and cookies let an app bind
 * the token to its session.
 */
export function get(globals: ClientGlobals, url: string, options: GetOptions = {}): HttpRequest {
  const { credentials = true, headers = {}, readBody = () => true } = options;
  const { fetch, AbortController } = globals;
  if (fetch !== undefined && AbortController !== undefined) {
    const controller = new AbortController();
    const response = fetch(url, {
      credentials: credentials ? 'include' : 'same-origin',
      cache: 'no-store',
      headers,
      signal: controller.signal,
    }).then(async (res) => {
      const type = res.headers.get('Content-Type') ?? '';
      if (readBody(res.status)) return { status: res.status, type, text: await res.text() };
      controller.abort();
      return { status: res.status, type, text: '' };
    });
    return { response, abort: () => controller.abort() };
  }
  return xhrGet(globals, url, credentials, headers, readBody);
}

function canFetch(globals: ClientGlobals): boolean {
  return globals.fetch !== undefined && globals.AbortController !== undefined;
}

function xhrGet(
  globals: ClientGlobals,
  url: string,
  credentials: boolean,
  headers: Readonly<Record<string, string>>,
  readBody: (status: number) => boolean,
): HttpRequest {
  const XHR = globals.XMLHttpRequest;
  if (XHR === undefined) throw new TypeError('neither fetch nor XMLHttpRequest is available');
  const xhr = new XHR();
  const result = (text: string) => ({ status: xhr.status, type: xhr.getResponseHeader('Content-Type') ?? '', text });
  const response = new Promise<HttpResult>((resolve, reject) => {
    xhr.onreadystatechange = () => {
      if (xhr.readyState !== xhr.HEADERS_RECEIVED || readBody(xhr.status)) return;
      resolve(result(''));
      xhr.abort();
    };
    xhr.onload = () => resolve(result(xhr.responseText));
    xhr.onerror = () => reject(new TypeError('network error'));
    xhr.ontimeout = xhr.onerror;
    xhr.onabort = () => reject(new TypeError('aborted'));
  });
  xhr.open('GET', url, true);
  xhr.withCredentials = credentials;
  for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
  xhr.send();
  return { response, abort: () => xhr.abort() };
}

/** The transport's endpoint with the query that names its pages and their cursors. */
export function endpointUrl(session: TransportSession, url: string = session.url): string {
  return `${url}?${session.query()}`;
}
