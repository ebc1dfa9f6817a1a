// Long-poll: a GET that is answered at once when messages wait, else held up to `timeoutMs` and
// answered 204. The client polls again at once with the cursor of the last message it received.

import { positiveInteger } from '../core/memory-log.ts';
import type { PushEndpoint, PushRequest, PushResponse, Transport } from '../core/transport.ts';
import { errorResponse, json } from './respond.ts';

/** Options of `longPoll()`. */
export interface LongPollOptions {
  /** How long a poll is held when nothing is waiting, in ms. Default: `25_000`. */
  readonly timeoutMs?: number;
}

/**
 * The long-poll transport: `GET {prefix}/long-poll?token=…&cursor=…`.
 *
 * @example
 * const push = createPush({ secret, router, transports: [longPoll({ timeoutMs: 20_000 })] });
 */
export function longPoll(options: LongPollOptions = {}): Transport {
  const timeoutMs = positiveInteger(options.timeoutMs ?? 25_000, 'timeoutMs');
  return {
    name: 'long-poll',
    async handle(request: PushRequest, push: PushEndpoint): Promise<PushResponse> {
      if (request.method !== 'GET') {
        return json(405, { error: { code: 'SERVERPUSH_ERR_BAD_REQUEST', message: 'long-poll accepts GET only' } }, { Allow: 'GET' });
      }
      try {
        const messages = await push.poll(request.query.get('token') ?? '', request.query.get('cursor') ?? undefined, {
          waitMs: timeoutMs,
          signal: request.signal,
        });
        if (messages.length === 0) return { status: 204, headers: { 'Cache-Control': 'no-store' }, body: null };
        return json(200, { messages });
      } catch (error) {
        return errorResponse(error);
      }
    },
  };
}
