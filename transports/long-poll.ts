// Long-poll: a GET that is answered at once when messages wait, else held up to `timeoutMs` and
// answered 204. The client polls again at once with the cursor of the last message it received.
// `answerPoll()` is the poll itself, shared with JSONP, which frames the same answers as a script.

import { positiveInteger } from '../core/options.ts';
import type { Failure } from '../core/errors.ts';
import type { PushEndpoint, PushRequest, PushResponse, Transport } from '../core/transport.ts';
import type { Message } from '../core/types.ts';
import { answerHeaders, failed, failureResponse, json, refusal } from './respond.ts';

/** Options of `longPoll()`. */
export interface LongPollOptions {
  /** How long a poll is held when nothing is waiting, in ms. Default: `25_000`. */
  readonly timeoutMs?: number;
}

/** How a polling transport writes its answers: long-poll as JSON, JSONP as a script. */
export interface PollFraming {
  /** The answer carrying one poll's messages: none when the hold ran out. */
  messages(messages: readonly Message[]): PushResponse;
  /** The answer for a poll that failed. */
  error(failure: Failure): PushResponse;
}

const jsonFraming: PollFraming = {
  messages: (messages) =>
    messages.length === 0 ? { status: 204, headers: answerHeaders, body: null } : json(200, { messages }),
  error: (failure) => failureResponse(failure),
};

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
    handle: (request, push) => answerPoll('long-poll', request, push, timeoutMs, jsonFraming),
  };
}

/**
 * Answers one poll of the transport `name`: GET only; the messages after the request's `cursor`
 * for the page of its `token`, those waiting or else those arriving within `timeoutMs`; written
 * by `framing`. A client's mistake is answered through `framing.error`, never thrown.
 */
export async function answerPoll(
  name: string,
  request: PushRequest,
  push: PushEndpoint,
  timeoutMs: number,
  framing: PollFraming,
): Promise<PushResponse> {
  if (request.method !== 'GET')
    return refusal(405, 'SERVERPUSH_ERR_BAD_REQUEST', `${name} accepts GET only`, { Allow: 'GET' });
  try {
    const messages = await push.poll(request.query.get('token') ?? '', request.query.get('cursor') ?? undefined, {
      waitMs: timeoutMs,
      signal: request.signal,
    });
    return framing.messages(messages);
  } catch (error) {
    return framing.error(failed(error, push, 'answering a push request'));
  }
}
