// The loop of the polling transports (long-poll, JSONP): one request at a time, the next at once
// after a good answer, the next after a backoff wait after a failure.

import { retryDelay } from '../backoff.ts';
import type { PushClientError } from '../errors.ts';
import type { TransportSession } from './contract.ts';

/** A polling transport's loop; its requests report to it. */
export interface PollLoop {
  /** Sends the first request now, or after `delayMs`. */
  start(delayMs?: number): void;
  /** A request was answered with this frame (or nothing, `undefined`): hand it over and poll again at once. */
  succeed(frame: Readonly<Record<string, unknown>> | undefined): void;
  /** The connection's pages changed: give up the request in flight and poll again at once with them. */
  restart(): void;
  /** A request failed in a way retrying can fix: report it and poll again after a backoff wait. */
  retry(error: PushClientError): void;
  /** Whether `stop()` was called: answers arriving after it are dropped. */
  readonly stopped: boolean;
  /** Stops for good: cancels the wait or the request in flight. */
  stop(): void;
}

/** What a request reports to: the loop, when it is still the one the loop waits for. */
export interface PollReport {
  /** Whether this request is the loop's current one (not given up, and the loop not stopped). */
  readonly current: () => boolean;
}

/**
 * Creates the loop around `send`, which starts one request and returns a function that gives it
 * up. A request's callbacks report to the loop only while `report.current()` holds: a request
 * given up (the pages changed, or the loop stopped) may still settle later.
 *
 * @example
 * const loop = pollLoop(session, (report) => { const request = get(globals, url); request.response.then(…); return request.abort; });
 * loop.start();
 * return loop.stop;
 */
export function pollLoop(session: TransportSession, send: (report: PollReport) => () => void): PollLoop {
  const { globals } = session;
  let stopped = false;
  let failures = 0;
  let sent = 0;
  let cancel: (() => void) | undefined;
  let timer: unknown;

  function poll(): void {
    timer = undefined;
    const request = ++sent;
    cancel = send({ current: () => !stopped && request === sent });
  }

  return {
    start(delayMs) {
      if (delayMs === undefined) poll();
      else timer = globals.setTimeout(poll, delayMs);
    },
    succeed(frame) {
      cancel = undefined;
      failures = 0;
      session.connected();
      if (frame !== undefined) session.receive(frame);
      // `receive` may have closed us (a `refresh`, or a listener calling `close()`).
      if (!stopped) poll();
    },
    retry(error) {
      if (stopped) return;
      cancel = undefined;
      session.retrying(error);
      if (stopped) return;
      timer = globals.setTimeout(poll, retryDelay(session.backoff, failures, globals.random, error));
      failures += 1;
    },
    restart() {
      // Only a poll in flight is given up: one waiting out a backoff keeps waiting.
      if (stopped || cancel === undefined) return;
      const giveUp = cancel;
      poll();
      giveUp();
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
