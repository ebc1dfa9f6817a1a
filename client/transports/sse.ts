// The Server-Sent Events transport, browser half: an EventSource, which reconnects by itself and
// resends the last event id; when it gives up, one plain GET of the same URL finds out why, since
// an EventSource never shows an error status or body. See docs/protocol.md, "Server-Sent Events".

import { retryDelay } from '../backoff.ts';
import { PushClientError, errorFromResponse, isObject, parseJson, stopsClient } from '../errors.ts';
import type { ClientGlobals } from '../globals.ts';
import { canGet, endpointUrl, get, type HttpResult } from '../http.ts';
import { type ClientTransport, isFrame, type TransportSession } from './contract.ts';

/** Network errors in a row, each retried by the browser itself, before the client takes over. */
const interruptionsBeforeProbe = 3;

/**
 * Times in a row the probe finds the server serving the stream while EventSource keeps failing to
 * open it (something in this browser or network stops it) before the transport gives up.
 */
const refusalsBeforeGivingUp = 3;

/** Server-Sent Events over `EventSource`, for browsers that have one. */
export const sse: ClientTransport = {
  name: 'sse',
  supported: (globals) => eventSourceOf(globals) !== undefined && canGet(globals),
  open: openSse,
};

function eventSourceOf(globals: ClientGlobals): typeof EventSource | undefined {
  return globals.EventSource;
}

function noEventSource(): never {
  throw new TypeError('sse: there is no EventSource in these globals');
}

function openSse(session: TransportSession): () => void {
  const { globals } = session;
  const EventSourceClass = eventSourceOf(globals) ?? noEventSource();
  // Same-origin requests carry cookies anyway; cross-origin ones only with credentials.
  const withCredentials = originOf(session.url) !== originOf(globals.document.URL);
  let stopped = false;
  let source: EventSource | undefined;
  let timer: unknown;
  let abortProbe: (() => void) | undefined;
  /** Attempts in a row that ended without opening: the backoff's exponent. */
  let failures = 0;
  let interruptions = 0;
  let refusals = 0;

  function start(): void {
    timer = undefined;
    const current = new EventSourceClass(endpointUrl(session), withCredentials ? { withCredentials } : undefined);
    source = current;
    current.onopen = () => {
      if (current !== source) return;
      failures = interruptions = refusals = 0;
      session.connected();
    };
    current.onmessage = (event: MessageEvent<unknown>) => {
      if (current === source) sourceOnMessage(event.data);
    };
    current.onerror = () => {
      if (current === source) sourceOnError(current);
    };
  }

  function sourceOnMessage(data: unknown): void {
    const body = typeof data === 'string' ? parseJson(data) : undefined;
    if (isFrame(body)) return session.receive(body);
    // An error after the stream started: `{ status, error }`, as a long-poll response would say it.
    if (isObject(body) && isObject(body['error'])) {
      const status = typeof body['status'] === 'number' ? body['status'] : 500;
      return giveUpOrRetry(errorFromResponse(status, data as string));
    }
    giveUpOrRetry(new PushClientError('SERVERPUSH_ERR_BAD_RESPONSE', 'the server sent an event without messages', 200));
  }

  function sourceOnError(current: EventSource): void {
    // CONNECTING: the stream broke and the browser reconnects by itself, with Last-Event-ID.
    if (current.readyState === current.CONNECTING && interruptions < interruptionsBeforeProbe) {
      interruptions += 1;
      session.retrying(new PushClientError('SERVERPUSH_ERR_NETWORK', 'the event stream was interrupted'));
      return;
    }
    // CLOSED: the browser gave up (an error status, or not an event stream) without saying why;
    // or it keeps failing, and waiting longer between tries is kinder to a server in trouble.
    closeSource();
    // As EventSource would ask, reading the body of an error but not of a stream.
    const probe = get(globals, endpointUrl(session), {
      credentials: withCredentials,
      headers: { Accept: 'text/event-stream' },
      readBody: (status) => status < 200 || status >= 300,
    });
    abortProbe = probe.abort;
    probe.response.then(probeOnResponse, probeOnError);
  }

  function probeOnResponse({ status, type, text }: HttpResult): void {
    if (stopped) return;
    abortProbe = undefined;
    if (status >= 200 && status < 300 && !type.startsWith('text/event-stream')) {
      return retry(
        new PushClientError(
          'SERVERPUSH_ERR_BAD_RESPONSE',
          `the server answered ${status} without an event stream`,
          status,
        ),
      );
    }
    if (status >= 200 && status < 300) {
      refusals += 1;
      if (refusals < refusalsBeforeGivingUp)
        return retry(new PushClientError('SERVERPUSH_ERR_NETWORK', 'the event stream failed to open'));
      return session.failed(
        new PushClientError(
          'SERVERPUSH_ERR_NO_TRANSPORT',
          `EventSource failed to open the event stream ${refusals} times, though the server serves it`,
          status,
        ),
      );
    }
    giveUpOrRetry(errorFromResponse(status, text));
  }

  function probeOnError(cause: unknown): void {
    if (stopped) return;
    abortProbe = undefined;
    retry(new PushClientError('SERVERPUSH_ERR_NETWORK', 'the request failed without a response', undefined, cause));
  }

  /** A 4xx cannot succeed by retrying (unless the server said when): stop, with the server's code. Anything else: retry later. */
  function giveUpOrRetry(error: PushClientError): void {
    closeSource();
    if (stopsClient(error)) return session.failed(error);
    retry(error);
  }

  function retry(error: PushClientError): void {
    closeSource();
    session.retrying(error);
    if (stopped) return;
    timer = globals.setTimeout(start, retryDelay(session.backoff, failures, globals.random, error));
    failures += 1;
  }

  function closeSource(): void {
    source?.close();
    source = undefined;
  }

  // Another set of pages: a new stream with their cursors (the URL names them).
  session.onPagesChange?.(() => {
    if (stopped || source === undefined) return;
    closeSource();
    start();
  });
  start();
  return () => {
    stopped = true;
    if (timer !== undefined) globals.clearTimeout(timer);
    closeSource();
    abortProbe?.();
  };
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}
