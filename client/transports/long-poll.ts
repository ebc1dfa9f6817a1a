// The long-poll transport, browser half: one GET at a time, each held by the server until
// something happens. See docs/protocol.md, "Long-poll".

import { PushClientError, errorFromResponse, isObject, parseJson } from '../errors.ts';
import { canGet, get, type HttpResult, endpointUrl } from '../http.ts';
import type { ClientTransport, TransportSession } from './contract.ts';
import { pollLoop } from './poll-loop.ts';

/** Long-poll over `fetch`, or `XMLHttpRequest` where fetch cannot be aborted or is missing. */
export const longPoll: ClientTransport = {
  name: 'long-poll',
  supported: canGet,
  open: openLongPoll,
};

function openLongPoll(session: TransportSession): () => void {
  const loop = pollLoop(session, () => {
    const request = get(session.globals, endpointUrl(session));
    request.response.then(pollOnResponse, pollOnError);
    return request.abort;
  });

  function pollOnResponse({ status, text }: HttpResult): void {
    if (loop.stopped) return;
    if (status === 204) return loop.succeed([]);
    if (status === 200) {
      const body = parseJson(text);
      const messages = isObject(body) ? body['messages'] : undefined;
      if (Array.isArray(messages)) return loop.succeed(messages);
      return loop.retry(
        new PushClientError('SERVERPUSH_ERR_BAD_RESPONSE', 'the server answered 200 without messages', 200),
      );
    }
    const error = errorFromResponse(status, text);
    if (status >= 400 && status < 500) return session.failed(error);
    if (status >= 200 && status < 300) {
      return loop.retry(new PushClientError('SERVERPUSH_ERR_BAD_RESPONSE', `the server answered ${status}`, status));
    }
    loop.retry(error);
  }

  function pollOnError(cause: unknown): void {
    if (loop.stopped) return;
    loop.retry(
      new PushClientError('SERVERPUSH_ERR_NETWORK', 'the request failed without a response', undefined, cause),
    );
  }

  loop.start();
  return loop.stop;
}
