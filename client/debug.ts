// Debug logging in the browser: with `connect({ debug: true })`, or for every page of an origin with
// `localStorage.setItem('serverpush:debug', '1')`, the client logs to the console (`console.debug`)
// which transports it tries and skips and why, its state changes, and the messages it receives and
// dispatches. Off, nothing is formatted: call sites read `log?.(…)`.

import type { ClientGlobals } from './globals.ts';
import { transports } from './transports/index.ts';

/** Logs one line: `serverpush: <message>`, then the details as the console shows objects. */
export type ClientLog = (message: string, ...details: unknown[]) => void;

/** The localStorage key that turns debug logging on for every page of the origin. */
export const debugKey = 'serverpush:debug';

/**
 * The client's log: on when `debug` is `true`, or when `debug` is not given and localStorage has
 * `serverpush:debug` set (to anything but `''`, `0` or `false`); else `undefined`.
 */
export function clientLog(globals: ClientGlobals, debug: boolean | undefined): ClientLog | undefined {
  if (!(debug ?? flagged(globals))) return undefined;
  const console = globals.window.console ?? globalThis.console;
  return (message, ...details) => console.debug(`serverpush: ${message}`, ...details);
}

function flagged(globals: ClientGlobals): boolean {
  try {
    const value = globals.window.localStorage?.getItem(debugKey);
    return value !== null && value !== undefined && value !== '' && value !== '0' && value !== 'false';
  } catch {
    // Storage can be disabled: then only `debug: true` turns logging on.
    return false;
  }
}

/** Logs why each of the offered transport names that cannot be tried here is skipped. */
export function logSkipped(log: ClientLog, names: readonly string[], globals: ClientGlobals): void {
  for (const name of names) {
    const transport = Object.hasOwn(transports, name) ? transports[name] : undefined;
    if (transport === undefined) log(`skipping transport "${name}": this client does not know it`);
    else if (!transport.supported(globals)) log(`skipping ${name}: ${needs[name] ?? 'not supported here'}`);
  }
}

/** What each transport needs of the browser, for the reason it is skipped. */
const needs: Readonly<Record<string, string>> = {
  websocket: 'this browser has no WebSocket',
  sse: 'this browser has no EventSource (or no way to GET)',
  'long-poll': 'this browser has neither fetch with AbortController nor XMLHttpRequest',
  jsonp: 'there is no document to add a script to',
};
