// Long-poll, as a minimal client speaks it: GETs with the cursor of the last message received.

import type { Message } from '../../../core/types.ts';
import type { Driver, Received } from '../conformance.ts';

export const longPollDriver: Driver = {
  name: 'long-poll',
  open(base, token, cursor) {
    let position = cursor;
    let controller = new AbortController();
    return {
      async next(timeoutMs = 5_000) {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
          controller = new AbortController();
          const query = new URLSearchParams(position === undefined ? { token } : { token, cursor: position });
          const response = await fetch(`${base}/long-poll?${query}`, { signal: controller.signal });
          if (response.status === 204) continue;
          const body = (await response.json()) as { messages?: Message[]; error?: { code: string; message: string } };
          if (body.error !== undefined) return { error: { status: response.status, ...body.error } } satisfies Received;
          const messages = body.messages ?? [];
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
