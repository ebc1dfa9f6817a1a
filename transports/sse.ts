// Server-Sent Events: one long GET whose response streams each batch of the page's messages as one
// event, with the cursor of the batch's last change as the event's id, so the browser's own
// reconnect (`Last-Event-ID`) resumes exactly where it stopped. See docs/protocol.md.

import { positiveInteger } from '../core/options.ts';
import type { PushEndpoint, PushRequest, PushResponse, Transport } from '../core/transport.ts';
import type { Message } from '../core/types.ts';
import { failed, failureResponse, refusal } from './respond.ts';
import { batches } from './stream.ts';

/** Options of `sse()`. */
export interface SseOptions {
  /**
   * How long a stream stays silent before a `: heartbeat` comment is sent, so that proxies and
   * load balancers do not close it as idle, in ms. Default: `15_000`.
   */
  readonly heartbeatMs?: number;
  /**
   * How long the browser waits before reconnecting by itself after a stream ends, sent as the
   * stream's first `retry:` field, in ms. Default: `2_000`.
   */
  readonly retryMs?: number;
}

const streamHeaders: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  // no-transform: a compressing proxy holds events back until its buffer fills.
  'Cache-Control': 'no-cache, no-transform',
  // nginx buffers proxied responses unless told not to.
  // https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_buffering
  'X-Accel-Buffering': 'no',
};

/**
 * The Server-Sent Events transport: `GET {prefix}/sse?token=…[&cursor=…]`, answered with a
 * `text/event-stream` that stays open. The resume point is the `Last-Event-ID` header (sent by the
 * browser when it reconnects), else `cursor`, else the token's own cursor. A bad token or cursor
 * is answered before the stream starts, as a JSON 4xx like long-poll's.
 *
 * @example
 * const push = createPush({ secret, router, transports: [sse({ heartbeatMs: 20_000 }), longPoll()] });
 */
export function sse(options: SseOptions = {}): Transport {
  const heartbeatMs = positiveInteger(options.heartbeatMs ?? 15_000, 'heartbeatMs');
  const retryMs = positiveInteger(options.retryMs ?? 2_000, 'retryMs');
  /** Ends each open stream with a reconnect hint; see `close()`. */
  const open = new Set<() => void>();

  async function* events(
    push: PushEndpoint,
    token: string,
    cursor: string | undefined,
    stop: AbortSignal,
    closing: () => boolean,
  ): AsyncGenerator<string> {
    // Written at once, so the browser's `open` fires and buffering proxies show themselves.
    yield `retry: ${retryMs}\n: connected\n\n`;
    const source = batches(push, token, cursor, { idleMs: heartbeatMs, signal: stop });
    try {
      for (;;) {
        // Only the polling is guarded: an error thrown in at a `yield` is the stream being torn
        // down (the client left), not something to report.
        let text: string;
        try {
          const next = await source.next();
          if (next.done === true) break;
          text = next.value.length === 0 ? ': heartbeat\n\n' : messagesEvent(next.value);
        } catch (error) {
          // The status line is long gone: the error travels as an event, and the stream ends.
          yield `data: ${JSON.stringify(failed(error, push, 'answering a push request'))}\n\n`;
          return;
        }
        yield text;
      }
    } finally {
      await source.return(undefined);
    }
    // Ending the stream makes the browser reconnect by itself after the `retry:` sent here, spread
    // over retryMs so that the pages of a server that shuts down do not all come back at once.
    if (closing()) yield `retry: ${Math.floor(Math.random() * retryMs)}\n: closing\n\n`;
  }

  return {
    name: 'sse',
    async handle(request: PushRequest, push: PushEndpoint): Promise<PushResponse> {
      if (request.method !== 'GET')
        return refusal(405, 'SERVERPUSH_ERR_BAD_REQUEST', 'sse accepts GET only', { Allow: 'GET' });
      const token = request.query.get('token') ?? '';
      const cursor = lastEventId(request.headers) ?? request.query.get('cursor') ?? undefined;
      try {
        // Before the 200: an EventSource cannot read an error status, but a plain GET can.
        push.check(token, cursor);
      } catch (error) {
        return failureResponse(failed(error, push, 'answering a push request'));
      }
      const controller = new AbortController();
      let closing = false;
      const end = () => {
        closing = true;
        controller.abort();
      };
      // Also when the body is never read (the client left before the adapter started the stream).
      const requestOnAbort = () => {
        open.delete(end);
        controller.abort();
      };
      open.add(end);
      request.signal.addEventListener('abort', requestOnAbort, { once: true });
      if (request.signal.aborted) requestOnAbort();
      async function* body(): AsyncGenerator<string> {
        try {
          yield* events(push, token, cursor, controller.signal, () => closing);
        } finally {
          open.delete(end);
          request.signal.removeEventListener('abort', requestOnAbort);
        }
      }
      return { status: 200, headers: streamHeaders, body: body() };
    },
    close() {
      for (const end of [...open]) end();
    },
  };
}

/** The `Last-Event-ID` request header; absent or empty means none. */
function lastEventId(headers: PushRequest['headers']): string | undefined {
  const value = headers['last-event-id'];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

/**
 * One batch as one event, so that messages sharing a cursor are never split across a reconnect.
 * Its id is the cursor of the last change; a batch holding only a refresh has none.
 */
function messagesEvent(messages: readonly Message[]): string {
  let cursor: string | undefined;
  for (const message of messages) if ('cursor' in message) cursor = message.cursor;
  // A line break would end the field early and NUL makes browsers ignore the id; neither appears
  // in the logs' cursors, but a custom log is free to issue them. The client's cursor then resumes.
  const id = cursor === undefined || /[\r\n\0]/.test(cursor) ? '' : `id: ${cursor}\n`;
  return `${id}data: ${JSON.stringify({ messages })}\n\n`;
}
