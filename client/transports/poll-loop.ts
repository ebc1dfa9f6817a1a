// The loop of the polling transports (long-poll, JSONP): one request at a time, the next at once
// after a good answer, the next after a backoff wait after a failure.

import { backoffDelay } from '../backoff.ts';
import type { PushClientError } from '../errors.ts';
import type { TransportSession } from './contract.ts';

/** A polling transport's loop; its requests report to it. */
export interface PollLoop {
  /** Sends the first request now, or after `delayMs`. */
  start(delayMs?: number): void;
  /** A request was answered with these messages: hand them over and poll again at once. */
  succeed(messages: readonly unknown[]): void;
  /** A request failed in a way retrying can fix: report it and poll again after a backoff wait. */
  retry(error: PushClientError): void;
  /** Whether `stop()` was called: answers arriving after it are dropped. */
  readonly stopped: boolean;
  /** Stops for good: cancels the wait or the request in flight. */
  stop(): void;
}

/**
 * Creates the loop around `send`, which starts one request and returns a function that gives it
 * up.
 *
 * @example
 * const loop = pollLoop(session, () => { const request = get(globals, url); request.response.then(…); return request.abort; });
 * loop.start();
 * return loop.stop;
 */
export function pollLoop(session: TransportSession, send: () => () => void): PollLoop {
  const { globals } = session;
  let stopped = false;
  let failures = 0;
  let cancel: (() => void) | undefined;
  let timer: unknown;

  function poll(): void {
    timer = undefined;
    cancel = send();
  }

  return {
    start(delayMs) {
      if (delayMs === undefined) poll();
      else timer = globals.setTimeout(poll, delayMs);
    },
    succeed(messages) {
      cancel = undefined;
      failures = 0;
      session.connected();
      if (messages.length > 0) session.receive(messages);
      // `receive` may have closed us (a `refresh`, or a listener calling `close()`).
      if (!stopped) poll();
    },
    retry(error) {
      if (stopped) return;
      cancel = undefined;
      session.retrying(error);
      if (stopped) return;
      timer = globals.setTimeout(poll, backoffDelay(session.backoff, failures, globals.random));
      failures += 1;
    },
    get stopped() {
      return stopped;
    },
    stop() {
      stopped = true;
      if (timer !== undefined) globals.clearTimeout(timer);
      cancel?.();
    },
  };
}
