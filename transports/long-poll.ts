// Long-poll: a GET that is answered at once when messages wait, else held up to `timeoutMs` and
// answered 204. The client polls again at once with the cursor of the last message it received,
// which acknowledges everything up to it. `answerPoll()` is the poll itself, shared with JSONP,
// which frames the same answers as a script.

import type { Failure } from '../core/errors.ts';
import { positiveInteger } from '../core/options.ts';
import type { PageBatch, PushEndpoint, PushRequest, PushResponse, Transport } from '../core/transport.ts';
import { answerHeaders, failed, failureResponse, json, refusal } from './respond.ts';
import { messagesFrame, pagesFrame, pagesOf, Query } from './wire.ts';

/** Options of `longPoll()`. */
export interface LongPollOptions {
  /** How long a poll is held when nothing is waiting, in ms. Default: `25_000`. */
  readonly timeoutMs?: number;
}

/** How a polling transport writes its answers: long-poll as JSON, JSONP as a script. */
export interface PollFraming {
  /** The answer carrying one poll's frame (JSON text), or none when the hold ran out. */
  frame(frame: string | undefined): PushResponse;
  /** The answer for a poll that failed. */
  error(failure: Failure): PushResponse;
}

const jsonFraming: PollFraming = {
  frame: (frame) =>
    frame === undefined
      ? { status: 204, headers: answerHeaders, body: null }
      : { status: 200, headers: jsonHeaders, body: frame },
  error: (failure) => failureResponse(failure),
};

const jsonHeaders = json(200, null).headers;

/** How long a poll that opens a page waits for its replayed changes to finish serializing, in ms. */
const settleMs = 10_000;

/**
 * The long-poll transport: `GET {prefix}/long-poll?token=…&cursor=…` for one page, or
 * `?p=<key>~<cursor>~<token>&p=…` for the pages of every tab sharing the connection.
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
 * Answers one poll of the transport `name`: GET only; the messages of the pages it names after
 * their cursors, those waiting or else those arriving within `timeoutMs`, written by `framing`. A
 * client's mistake is answered through `framing.error` (one page) or in the frame's `errors` (many
 * pages), never thrown.
 */
export function answerPoll(
  name: string,
  request: PushRequest,
  push: PushEndpoint,
  timeoutMs: number,
  framing: PollFraming,
): Promise<PushResponse> {
  if (request.method !== 'GET') {
    return Promise.resolve(refusal(405, 'SERVERPUSH_ERR_BAD_REQUEST', `${name} accepts GET only`, { Allow: 'GET' }));
  }
  let asked: ReturnType<typeof pagesOf>;
  try {
    asked = pagesOf(new Query(request.query));
  } catch (error) {
    return Promise.resolve(framing.error(failed(error, push, 'answering a push request')));
  }
  const { many, pages } = asked;
  return new Promise((resolve) => {
    let errors: Map<string, Failure> | undefined;
    let done = false;
    const finish = (response: PushResponse) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stopListening();
      connection.close();
      resolve(response);
    };
    const connection = push.open({
      write(batches: readonly PageBatch[]) {
        if (batches.length === 0 && errors === undefined) return finish(framing.frame(undefined));
        if (!many) return finish(framing.frame(messagesFrame(batches[0]!.deliveries)));
        finish(framing.frame(pagesFrame(batches, errors)));
      },
      orphaned: () => connection.flush(true),
    });
    // The hold runs from the request's start: also a page whose log is down is answered in time.
    const timer = setTimeout(() => connection.flush(true), timeoutMs);
    const stopListening = request.onClose(() => connection.flush(true));
    let fresh = false;
    let settled = 0;
    for (const page of pages) {
      connection.add(page.key, page.token, page.cursor).then(
        (added) => {
          fresh ||= added.fresh;
          if (++settled === pages.length) opened();
        },
        (error: unknown) => {
          const failure = failed(error, push, 'answering a push request');
          if (!many) return finish(framing.error(failure));
          (errors ??= new Map()).set(page.key, failure);
          if (++settled === pages.length) opened();
        },
      );
    }
    // A poll that opened a page on this process (or was refused one) is answered at once, after the
    // replay, so its client learns where it stands without waiting out a hold; the polls after it
    // are held.
    function opened() {
      if (fresh || errors !== undefined || request.gone) {
        void connection.settled(settleMs).then(() => connection.flush(true));
      }
    }
  });
}
