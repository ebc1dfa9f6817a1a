// The tail listeners of a change log: who hears each change, and who hears of a gap. Every log
// implementation keeps one. A log kept in another service (a database, Redis) also keeps an outage
// record here: how it tells that the service failed and that it is back, once each.

import createDebug, { type Debugger } from 'debug';
import type { ChangeLog } from './change-log.ts';
import type { Change, GapReason } from './types.ts';

const debug = createDebug('serverpush:log');

/** A log's set of tail listeners. */
export interface Tails {
  /** What `ChangeLog.tail()` does: adds both listeners, returns a function that removes them. */
  readonly tail: ChangeLog['tail'];
  /** Hands a change to every listener, in the order added; a listener that throws is logged. */
  deliver(change: Change): void;
  /** Tells every gap listener that changes were lost. */
  gap(reason: GapReason): void;
  /** Removes every listener (the log is closing). */
  clear(): void;
}

/** Creates an empty set of tail listeners. */
export function createTails(): Tails {
  const listeners = new Set<(change: Change) => void>();
  const gapListeners = new Set<(reason: GapReason) => void>();
  const each = <T>(set: Set<(value: T) => void>, value: T) => {
    for (const listener of set) {
      try {
        listener(value);
      } catch (error) {
        debug('a tail listener threw: %O', error);
      }
    }
  };
  return {
    tail(listener, onGap) {
      listeners.add(listener);
      if (onGap !== undefined) gapListeners.add(onGap);
      return () => {
        listeners.delete(listener);
        if (onGap !== undefined) gapListeners.delete(onGap);
      };
    },
    deliver: (change) => each(listeners, change),
    gap: (reason) => each(gapListeners, reason),
    clear() {
      listeners.clear();
      gapListeners.clear();
    },
  };
}

/** What a log kept in another service reports about it: the first failure of an outage, and the recovery. */
export interface Outage {
  /** Whether the service failed since it last answered. */
  readonly failing: boolean;
  /** The service failed: the first failure of an outage is warned of (and logged in full); the others only counted. */
  fail(error: unknown): void;
  /** The service answered: if it was failing, the recovery is warned of, once. */
  recover(): void;
}

/** Options of `createOutage()`. */
export interface OutageOptions {
  /** The service, as the warnings name it: `'Redis at 127.0.0.1:6379'`. */
  readonly service: string;
  /** What happens meanwhile, ending the failure's warning: `'retrying'`. */
  readonly meanwhile: string;
  /** Receives each one-line warning. */
  readonly warn: (message: string) => void;
  /** The log's debug namespace, for the full error and the failures counted. */
  readonly debug: Debugger;
}

/**
 * Creates the outage record of a log kept in another service: one warning when it starts failing,
 * one when it answers again, whatever the number of attempts in between.
 *
 * @example
 * const outage = createOutage({ service: 'Redis at 127.0.0.1:6379', meanwhile: 'retrying', warn: console.warn, debug });
 * outage.fail(error); // serverpush: Redis at 127.0.0.1:6379 failed (connect ECONNREFUSED 127.0.0.1:6379); retrying
 * outage.recover(); // serverpush: Redis at 127.0.0.1:6379 is back after 3.2 s (12 failed attempts)
 */
export function createOutage({ service, meanwhile, warn, debug: log }: OutageOptions): Outage {
  let since: number | undefined;
  let failures = 0;
  const say = (message: string) => {
    try {
      warn(message);
    } catch (error) {
      debug('a warning listener threw: %O', error);
    }
  };
  return {
    get failing() {
      return since !== undefined;
    },
    fail(error) {
      failures += 1;
      if (since !== undefined) return;
      since = Date.now();
      log('%s failed: %O', service, error);
      say(`serverpush: ${service} failed (${describeError(error)}); ${meanwhile}`);
    },
    recover() {
      if (since === undefined) return;
      const seconds = ((Date.now() - since) / 1_000).toFixed(1);
      const attempts = failures === 1 ? '1 failed attempt' : `${failures} failed attempts`;
      log('%s is back after %s s (%s)', service, seconds, attempts);
      say(`serverpush: ${service} is back after ${seconds} s (${attempts})`);
      since = undefined;
      failures = 0;
    },
  };
}

/**
 * An error in one line: its message (those of an `AggregateError`, which Node gives a failed connect
 * to every address of a host) and its code when the message does not say it:
 * `connect ECONNREFUSED 127.0.0.1:6379`.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const parts =
    error instanceof AggregateError && error.errors.length > 0
      ? [...new Set(error.errors.map((each: unknown) => describeError(each)))]
      : [error.message || error.name];
  const code = (error as { code?: unknown }).code;
  const text = parts.join(', ');
  return typeof code === 'string' && code !== '' && !text.includes(code) ? `${text} [${code}]` : text;
}
