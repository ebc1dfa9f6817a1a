// The long-poll transport, browser half: one GET at a time, each held by the server until
// something happens. See docs/protocol.md, "Long-poll".

import { PushClientError, errorFromResponse, parseJson, stopsClient } from '../errors.ts';
import { canGet, get, type HttpResult, endpointUrl } from '../http.ts';
import { type ClientTransport, isFrame, type TransportSession } from './contract.ts';
import { pollLoop } from './poll-loop.ts';

/** Long-poll over `fetch`, or `XMLHttpRequest` where fetch cannot be aborted or is missing. */
export const longPoll: ClientTransport = {
  name: 'long-poll',
  supported: canGet,
  open: openLongPoll,
};

function openLongPoll(session: TransportSession): () => void {
  const loop = pollLoop(session, ({ current }) => {
    const request = get(session.globals, endpointUrl(session));
    request.response.then(
      (result) => current() && pollOnResponse(result),
      (cause: unknown) => current() && pollOnError(cause),
    );
    return request.abort;
  });
  session.onPagesChange?.(() => loop.restart());

  function pollOnResponse({ status, text }: HttpResult): void {
    if (status === 204) return loop.succeed(undefined);
    if (status === 200) {
      const body = parseJson(text);
      if (isFrame(body)) return loop.succeed(body);
      return loop.retry(
        new PushClientError('SERVERPUSH_ERR_BAD_RESPONSE', 'the server answered 200 without messages', 200),
      );
    }
    const error = errorFromResponse(status, text);
    if (stopsClient(error)) return session.failed(error);
    if (status >= 200 && status < 300) {
      return loop.retry(new PushClientError('SERVERPUSH_ERR_BAD_RESPONSE', `the server answered ${status}`, status));
    }
    loop.retry(error);
  }

  function pollOnError(cause: unknown): void {
    loop.retry(
      new PushClientError('SERVERPUSH_ERR_NETWORK', 'the request failed without a response', undefined, cause),
    );
  }

  loop.start();
  return loop.stop;
}
