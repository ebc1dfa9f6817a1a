// The tail listeners of a change log: who hears each change, and who hears of a gap. Every log
// implementation keeps one.

import createDebug from 'debug';
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
