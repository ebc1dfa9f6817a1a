// Server-Sent Events: one long GET whose response streams the messages of its pages as events, one
// event per frame, with the pages' cursors as the event's id, so the browser's own reconnect
// (`Last-Event-ID`) resumes each page exactly where it stopped. See docs/protocol.md.

import { positiveInteger } from '../core/options.ts';
import { type Failure, failureOf, PushError } from '../core/errors.ts';
import type { PageBatch, PushEndpoint, PushRequest, PushResponse, StreamOut, Transport } from '../core/transport.ts';
import { type Delivery, refreshDelivery } from '../core/delivery.ts';
import { failed, failureResponse, refusal } from './respond.ts';
import { messagesFrame, pagesFrame, pagesOf, Query, singleKey } from './wire.ts';

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
  /**
   * How many bytes may wait unsent on one stream. Past it the pages are told to refresh (`slow`)
   * and the stream ends: a reader that cannot keep up costs the server this much at most.
   * Default: `1_048_576`.
   */
  readonly maxBufferedBytes?: number;
}

const streamHeaders: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  // no-transform: a compressing proxy holds events back until its buffer fills.
  'Cache-Control': 'no-cache, no-transform',
  // nginx buffers proxied responses unless told not to.
  // https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_buffering
  'X-Accel-Buffering': 'no',
};

/** One open stream, as the heartbeat and `close()` see it. */
interface Stream {
  readonly out: StreamOut;
  /** Whether something was written since the heartbeat last looked. */
  wrote: boolean;
  /** Ends it with a reconnect hint (shutdown). */
  readonly closing: () => void;
}

// One-page events that carry a single delivery are the same text on every stream that sends them.
const singleEvents = new WeakMap<Delivery, string>();

/** The one-page event of a batch: the cursor as its id, `{"messages":[…]}` as its data. */
function messagesEvent(deliveries: readonly Delivery[], cursor: string | undefined): string {
  if (deliveries.length !== 1) return `${eventId(cursor)}data: ${messagesFrame(deliveries)}\n\n`;
  const delivery = deliveries[0]!;
  let event = singleEvents.get(delivery);
  if (event === undefined) {
    event = `${eventId(delivery.cursor)}data: ${messagesFrame(deliveries)}\n\n`;
    singleEvents.set(delivery, event);
  }
  return event;
}

/**
 * The Server-Sent Events transport: `GET {prefix}/sse?token=…[&cursor=…]` for one page, or
 * `?p=<key>~<cursor>~<token>&p=…` for many, answered with a `text/event-stream` that stays open.
 * A page resumes from the `Last-Event-ID` header (sent by the browser when it reconnects), else
 * its cursor, else its token's. For one page, a bad token or cursor is answered before the stream
 * starts, as a JSON 4xx like long-poll's; for many, each refused page is named in an event.
 *
 * @example
 * const push = createPush({ secret, router, transports: [sse({ heartbeatMs: 20_000 }), longPoll()] });
 */
export function sse(options: SseOptions = {}): Transport {
  const heartbeatMs = positiveInteger(options.heartbeatMs ?? 15_000, 'heartbeatMs');
  const retryMs = positiveInteger(options.retryMs ?? 2_000, 'retryMs');
  const maxBufferedBytes = positiveInteger(options.maxBufferedBytes ?? 1_048_576, 'maxBufferedBytes');
  const streams = new Set<Stream>();
  let heartbeat: NodeJS.Timeout | undefined;

  // Every heartbeatMs, a stream that wrote nothing since the last look gets a heartbeat: silent for
  // heartbeatMs at least, twice that at most.
  function heartbeatOnTick() {
    for (const stream of streams) {
      if (!stream.wrote) stream.out.write(': heartbeat\n\n');
      stream.wrote = false;
    }
  }

  function serve(out: StreamOut, push: PushEndpoint, many: boolean, asked: ReturnType<typeof pagesOf>['pages']) {
    // Each page's newest cursor, for the event ids of a stream of many pages.
    const cursors = new Map<string, string>();
    for (const page of asked) if (page.cursor !== undefined) cursors.set(page.key, page.cursor);
    let ended = false;
    const stream: Stream = {
      out,
      wrote: true,
      // Ending makes the browser reconnect by itself after the `retry:` sent here, spread over
      // retryMs so that the pages of a server that shuts down do not all come back at once.
      closing: () => finish(`retry: ${Math.floor(Math.random() * retryMs)}\n: closing\n\n`),
    };
    const finish = (last?: string, slow?: 'slow') => {
      if (ended) return;
      ended = true;
      if (last !== undefined) out.write(last);
      out.end();
      connection.close(slow);
      streams.delete(stream);
    };
    // Set once a write found the socket's buffer past its mark: from then on each write checks
    // how much waits, until the buffer drains.
    let buffering = false;
    const send = (event: string) => {
      if (ended) return;
      if (buffering && out.writableLength + event.length > maxBufferedBytes) {
        const slow = refreshDelivery('slow');
        const refresh = many
          ? pagesFrame([...cursors.keys()].map((key) => ({ key, deliveries: [slow], cursor: undefined, ended: true })))
          : messagesFrame([slow]);
        return finish(`data: ${refresh}\n\n`, 'slow');
      }
      buffering = !out.write(event) || (buffering && out.writableLength > 0);
      stream.wrote = true;
    };
    const connection = push.open({
      write(batches: readonly PageBatch[]) {
        if (batches.length === 0) return;
        if (!many) {
          const batch = batches[0]!;
          send(messagesEvent(batch.deliveries, batch.cursor));
          // After a refresh the page gets nothing more: the stream ends.
          if (batch.ended) finish();
          return;
        }
        for (const batch of batches) {
          if (batch.ended) cursors.delete(batch.key);
          else if (batch.cursor !== undefined) cursors.set(batch.key, batch.cursor);
        }
        send(`${eventId(idOf(cursors))}data: ${pagesFrame(batches)}\n\n`);
      },
      // A newer connection took every page of this stream: it ends with a 409, which stops an
      // EventSource rather than have it come back and take the pages back.
      orphaned: () => finish(errorEvent(supersededFailure)),
    });
    streams.add(stream);
    heartbeat ??= setInterval(heartbeatOnTick, heartbeatMs).unref();
    out.onClose(() => {
      finish();
      if (streams.size === 0 && heartbeat !== undefined) {
        clearInterval(heartbeat);
        heartbeat = undefined;
      }
    });
    // Written at once, so the browser's `open` fires and buffering proxies show themselves.
    out.write(`retry: ${retryMs}\n: connected\n\n`);
    for (const page of asked) {
      connection.add(page.key, page.token, page.cursor).catch((error: unknown) => {
        const failure = failed(error, push, 'answering a push request');
        if (!many) return finish(errorEvent(failure));
        cursors.delete(page.key);
        send(`data: ${pagesFrame([], new Map([[page.key, failure]]))}\n\n`);
      });
    }
  }

  return {
    name: 'sse',
    async handle(request: PushRequest, push: PushEndpoint): Promise<PushResponse> {
      if (request.method !== 'GET')
        return refusal(405, 'SERVERPUSH_ERR_BAD_REQUEST', 'sse accepts GET only', { Allow: 'GET' });
      let asked: ReturnType<typeof pagesOf>;
      try {
        const query = new Query(request.query);
        asked = pagesOf(query, resumeCursors(request.headers, query.all('p').length > 0));
        // Before the 200: an EventSource cannot read an error status, but a plain GET can.
        if (asked.many) push.check(undefined, undefined);
        else push.check(asked.pages[0]!.token, asked.pages[0]!.cursor);
      } catch (error) {
        return failureResponse(failed(error, push, 'answering a push request'));
      }
      if (request.gone)
        return failureResponse({
          status: 400,
          error: { code: 'SERVERPUSH_ERR_BAD_REQUEST', message: 'the client left' },
        });
      const { many, pages } = asked;
      return { status: 200, headers: streamHeaders, body: { stream: (out) => serve(out, push, many, pages) } };
    },
    close() {
      for (const stream of [...streams]) stream.closing();
    },
  };
}

const supersededFailure = failureOf(
  new PushError('SERVERPUSH_ERR_SUPERSEDED', 'a newer connection of this page took it over'),
);

/** An error after the stream started: `{ status, error: { code, message } }`, as long-poll would answer it. */
function errorEvent({ status, error }: Failure): string {
  return `data: ${JSON.stringify({ status, error })}\n\n`;
}

/**
 * The cursors a reconnecting browser resumes from (`Last-Event-ID`): for one page, the id itself;
 * for many, `<key>=<cursor>` pairs joined by `,`. Absent or empty means none.
 */
function resumeCursors(headers: PushRequest['headers'], many: boolean): Map<string, string> | undefined {
  const value = headers['last-event-id'];
  const id = Array.isArray(value) ? value[0] : value;
  if (id === undefined || id === '') return undefined;
  if (!many) return new Map([[singleKey, id]]);
  const cursors = new Map<string, string>();
  for (const pair of id.split(',')) {
    const equals = pair.indexOf('=');
    if (equals > 0) cursors.set(pair.slice(0, equals), pair.slice(equals + 1));
  }
  return cursors;
}

function idOf(cursors: ReadonlyMap<string, string>): string | undefined {
  if (cursors.size === 0) return undefined;
  let id = '';
  for (const [key, cursor] of cursors) id += `${id === '' ? '' : ','}${key}=${cursor}`;
  return id;
}

/**
 * The `id:` line of an event. A line break would end the field early and NUL makes browsers ignore
 * the id; neither appears in the logs' cursors, but a custom log is free to issue them: the
 * client's cursor then resumes. An event without changes (only a refresh) has none.
 */
function eventId(id: string | undefined): string {
  return id === undefined || /[\r\n\0]/.test(id) ? '' : `id: ${id}\n`;
}
