// A browser's cookies for the one origin a harness talks to: what `Set-Cookie` sets, sent back as
// `Cookie`. Paths and domains are not told apart: the harness's app is its only site.

import type { IncomingHttpHeaders } from 'node:http';

/** A cookie jar: kept by a harness agent between its requests. */
export class CookieJar {
  /** The cookies by name. */
  readonly cookies = new Map<string, string>();

  /** The `Cookie` header to send, or `undefined` when the jar is empty. */
  header(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  /** Takes a response's `Set-Cookie` headers; a cookie emptied, expired or aged 0 is removed. */
  take(headers: IncomingHttpHeaders): void {
    for (const line of headers['set-cookie'] ?? []) {
      const [pair = '', ...attributes] = line.split(';');
      const equals = pair.indexOf('=');
      if (equals < 1) continue;
      const name = pair.slice(0, equals).trim();
      const value = pair.slice(equals + 1).trim();
      if (value === '' || attributes.some(expired)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

function expired(attribute: string): boolean {
  const [key = '', value = ''] = attribute.split('=', 2).map((part) => part.trim());
  if (/^max-age$/i.test(key)) return Number(value) <= 0;
  if (/^expires$/i.test(key)) return Date.parse(value) <= Date.now();
  return false;
}
