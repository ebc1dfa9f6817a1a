// JSONP, as a minimal client speaks it: long-poll GETs with a callback, whose script is checked
// against the exact framing and whose argument is read with JSON.parse, never evaluated.

import type { Message } from '../../../core/types.ts';
import type { Driver, Received } from '../conformance.ts';

/** The callback the driver asks for. */
export const driverCallback = 'serverpush._jsonp.c1';

/** What a JSONP script passes to its callback. */
export interface JsonpPayload {
  readonly messages?: Message[];
  readonly error?: { readonly code: string; readonly message: string };
  readonly status?: number;
}

/**
 * The argument of a JSONP script calling `callback`, parsed as JSON. Throws if the script is
 * anything but `/**\/callback(<JSON>);`.
 */
export function parseScript(text: string, callback: string): JsonpPayload {
  const escaped = callback.replace(/[.$]/g, '\\$&');
  const match = new RegExp(`^/\\*\\*/${escaped}\\((.*)\\);$`, 's').exec(text);
  if (match === null) throw new Error(`not a JSONP script calling ${callback}: ${text.slice(0, 200)}`);
  return JSON.parse(match[1]!) as JsonpPayload;
}

export const jsonpDriver: Driver = {
  name: 'jsonp',
  open(base, token, cursor) {
    let position = cursor;
    let controller = new AbortController();
    return {
      async next(timeoutMs = 5_000) {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
          controller = new AbortController();
          const query = new URLSearchParams(position === undefined ? { token } : { token, cursor: position });
          query.set('callback', driverCallback);
          const response = await fetch(`${base}/jsonp?${query}`, { signal: controller.signal });
          if (response.status !== 200) throw new Error(`jsonp answered ${response.status}: ${await response.text()}`);
          const payload = parseScript(await response.text(), driverCallback);
          if (payload.error !== undefined)
            return { error: { status: payload.status ?? 0, ...payload.error } } satisfies Received;
          const messages = payload.messages ?? [];
          if (messages.length === 0) continue;
          for (const message of messages) if ('cursor' in message) position = message.cursor;
          return { messages };
        }
        throw new Error(`no messages within ${timeoutMs} ms`);
      },
      async close() {
        controller.abort();
      },
    };
  },
};
