// The long-poll transport, browser half: one GET at a time, each held by the server until
// something happens. See docs/protocol.md, "Long-poll".

import { backoffDelay } from '../backoff.ts';
import { PushClientError, errorFromResponse, isObject, parseJson } from '../errors.ts';
import { canGet, get, type HttpResult, endpointUrl } from '../http.ts';
import type { ClientTransport, TransportSession } from './index.ts';

/** Long-poll over `fetch`, or `XMLHttpRequest` where fetch cannot be aborted or is missing. */
export const longPoll: ClientTransport = {
  name: 'long-poll',
  supported: canGet,
  open: openLongPoll,
};

function openLongPoll(session: TransportSession): () => void {
  const { globals } = session;
  let stopped = false;
  let failures = 0;
  let abort: (() => void) | undefined;
  let timer: unknown;

  function poll(): void {
    timer = undefined;
    const request = get(globals, endpointUrl(session));
    abort = request.abort;
    request.response.then(pollOnResponse, pollOnError);
  }

  function pollOnResponse({ status, text }: HttpResult): void {
    if (stopped) return;
    abort = undefined;
    if (status === 204) return succeed([]);
    if (status === 200) {
      const body = parseJson(text);
      const messages = isObject(body) ? body['messages'] : undefined;
      if (Array.isArray(messages)) return succeed(messages);
      return retry(
        new PushClientError('SERVERPUSH_ERR_BAD_RESPONSE', 'the server answered 200 without messages', 200),
      );
    }
    const error = errorFromResponse(status, text);
    if (status >= 400 && status < 500) return session.failed(error);
    if (status >= 200 && status < 300) {
      return retry(
        new PushClientError('SERVERPUSH_ERR_BAD_RESPONSE', `the server answered ${status}`, status),
      );
    }
    retry(error);
  }

  function pollOnError(cause: unknown): void {
    if (stopped) return;
    abort = undefined;
    retry(
      new PushClientError('SERVERPUSH_ERR_NETWORK', 'the request failed without a response', undefined, cause),
    );
  }

  function succeed(messages: readonly unknown[]): void {
    failures = 0;
    session.connected();
    if (messages.length > 0) session.receive(messages);
    // `receive` may have closed us (a `refresh`, or a listener calling `close()`).
    if (!stopped) poll();
  }

  function retry(error: PushClientError): void {
    session.retrying(error);
    if (stopped) return;
    timer = globals.setTimeout(poll, backoffDelay(session.backoff, failures, globals.random));
    failures += 1;
  }

  poll();
  return () => {
    stopped = true;
    if (timer !== undefined) globals.clearTimeout(timer);
    abort?.();
  };
}

