// Which transport to try, in what order, and through which base: the client's fallback plan.

import type { ClientGlobals } from './globals.ts';
import { usableTransports, type ClientTransport } from './transports/index.ts';

/** One way to connect: a transport and the endpoint it uses. */
export interface Attempt {
  readonly transport: ClientTransport;
  /** The transport's endpoint, absolute: `{base or proxy}/{name}`. */
  readonly url: string;
  /** `'proxy'` when it goes through the page origin's proxy. */
  readonly via: 'direct' | 'proxy';
}

const rememberKey = 'serverpush:transport';

/**
 * The attempts for the offered transport names, in order. When the push base is on another origin
 * and a proxy base is configured, a transport that needs CORS goes through the proxy, WebSocket
 * tries the push server first and the proxy second, and JSONP always goes direct. The transport
 * that last worked in this browser session (see `rememberAttempt()`) comes first.
 */
export function plan(
  names: readonly string[],
  globals: ClientGlobals,
  baseUrl: string,
  proxyUrl: string | undefined,
): Attempt[] {
  const crossOrigin = new URL(baseUrl).origin !== new URL(globals.document.baseURI).origin;
  const attempts = usableTransports(names, globals).flatMap((transport): Attempt[] => {
    const direct: Attempt = { transport, url: `${baseUrl}/${transport.name}`, via: 'direct' };
    if (!crossOrigin || proxyUrl === undefined) return [direct];
    const proxied: Attempt = { transport, url: `${proxyUrl}/${transport.name}`, via: 'proxy' };
    const reach = transport.reach ?? 'cors';
    if (reach === 'cors') return [proxied];
    return reach === 'origin' ? [direct, proxied] : [direct];
  });
  const remembered = recall(globals);
  const first = attempts.findIndex((attempt) => `${attempt.transport.name}@${attempt.via}` === remembered);
  return first <= 0 ? attempts : [attempts[first]!, ...attempts.slice(0, first), ...attempts.slice(first + 1)];
}

/** Keeps the attempt that worked for the rest of the browser session (sessionStorage). */
export function rememberAttempt(globals: ClientGlobals, attempt: Attempt): void {
  try {
    globals.window.sessionStorage?.setItem(rememberKey, `${attempt.transport.name}@${attempt.via}`);
  } catch {
    // Storage can be disabled or full; remembering is an optimisation only.
  }
}

function recall(globals: ClientGlobals): string | null {
  try {
    return globals.window.sessionStorage?.getItem(rememberKey) ?? null;
  } catch {
    return null;
  }
}
