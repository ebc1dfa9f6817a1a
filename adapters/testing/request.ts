// The harness's requests to the app, in-process, with an agent's cookies; and the page token a
// rendered page hands the browser client, read as the client reads it.

import type { IncomingHttpHeaders } from 'node:http';
import type { CookieJar } from './cookies.ts';
import type { Inject } from './inject.ts';

/** Options of `harness.request()`. */
export interface RequestOptions {
  /** Default: `'GET'`, or `'POST'` with a `form` or `json` body. */
  readonly method?: string | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** A form body, sent as `application/x-www-form-urlencoded`. */
  readonly form?: Readonly<Record<string, string>> | undefined;
  /** A JSON body, sent as `application/json`. */
  readonly json?: unknown;
  /** A body as is; give its `content-type` in `headers`. */
  readonly body?: string | undefined;
}

/** The app's answer to a harness request. */
export interface HarnessResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body as text. */
  readonly text: string;
}

/** Sends one request to the app with the jar's cookies, and keeps the cookies it sets. */
export async function requestOf(
  inject: Inject,
  jar: CookieJar | undefined,
  path: string,
  options: RequestOptions,
): Promise<HarnessResponse> {
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw new TypeError(`harness.request(): the path must start with "/", got ${JSON.stringify(path)}`);
  const bodies = [options.form, options.json, options.body].filter((body) => body !== undefined);
  if (bodies.length > 1) throw new TypeError('harness.request(): give one of `form`, `json` and `body`');
  const headers: Record<string, string> = { host: 'harness.invalid' };
  let body: string | undefined;
  if (options.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form as Record<string, string>).toString();
  } else if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else body = options.body;
  const cookie = jar?.header();
  if (cookie !== undefined) headers['cookie'] = cookie;
  Object.assign(headers, options.headers);
  const method = options.method ?? (body === undefined ? 'GET' : 'POST');
  const response = await inject({ method, path, headers, body });
  jar?.take(response.headers);
  return response;
}

/**
 * The token of the push tag in a rendered page (`<script data-serverpush data-token="…">`), as the
 * browser client reads it; `undefined` when the page has none.
 */
export function pageToken(html: string): string | undefined {
  for (const [tag] of html.matchAll(/<script\b[^>]*>/gi)) {
    if (!/\sdata-serverpush[\s>=]/i.test(tag)) continue;
    const token = /\sdata-token="([^"]*)"/i.exec(tag)?.[1];
    if (token !== undefined) return unescapeAttribute(token);
  }
  return undefined;
}

function unescapeAttribute(value: string): string {
  return value.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
}
