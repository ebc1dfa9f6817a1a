// The in-memory change log: the default, for one process. It does not survive a restart; its
// cursors carry a random epoch so that cursors from before a restart are answered with refresh.

import { randomBytes } from 'node:crypto';
import type { ChangeLog, SinceResult } from './change-log.ts';
import { epochPattern, sequenceCursors } from './cursor.ts';
import { PushError } from './errors.ts';
import { positiveInteger } from './options.ts';
import { createTails } from './tail.ts';
import type { Change, ChangeInput } from './types.ts';

/** Options of `memoryLog()`. */
export interface MemoryLogOptions {
  /** How many changes are kept at most. Default: `10_000`. */
  readonly maxCount?: number;
  /** How long a change is kept at most, in ms. Default: `600_000` (10 minutes). */
  readonly maxAgeMs?: number;
  /** The cursor epoch; a new random one by default. Tests pass one to get stable cursors. */
  readonly epoch?: string;
  /** The clock. Default: `Date.now`. */
  readonly now?: () => number;
}

/**
 * Creates an in-memory change log bounded by count and by age. Cursors look like
 * `<epoch>.<sequence in base 36>` and are opaque to everyone but this log.
 *
 * @example
 * const push = createPush({ secret, log: memoryLog({ maxCount: 50_000, maxAgeMs: 3_600_000 }) });
 */
export function memoryLog(options: MemoryLogOptions = {}): ChangeLog {
  const maxCount = positiveInteger(options.maxCount ?? 10_000, 'maxCount');
  const maxAgeMs = positiveInteger(options.maxAgeMs ?? 600_000, 'maxAgeMs');
  const epoch = options.epoch ?? randomBytes(5).toString('hex');
  if (!epochPattern.test(epoch)) {
    throw new TypeError('memoryLog(): the `epoch` option must be 1 to 16 characters of [a-z0-9]');
  }
  const now = options.now ?? Date.now;
  const tails = createTails();
  // Changes live in entries[start..]; `trimmed` is the sequence of the newest change dropped.
  let entries: Change[] = [];
  let start = 0;
  let trimmed = 0;
  let sequence = 0;

  const cursors = sequenceCursors(epoch);
  const cursorOf = cursors.format;

  function parse(cursor: string): number | undefined {
    const seq = cursors.parse(cursor);
    if (seq !== undefined && seq > sequence) {
      throw new PushError('SERVERPUSH_ERR_BAD_CURSOR', `cursor ${JSON.stringify(cursor)} is ahead of the change log`);
    }
    return seq;
  }

  function trim() {
    const oldest = now() - maxAgeMs;
    let drop = Math.max(0, entries.length - start - maxCount);
    while (start + drop < entries.length && (entries[start + drop]?.at ?? Infinity) < oldest) drop += 1;
    if (drop === 0) return;
    start += drop;
    trimmed += drop;
    // Compact once the dead prefix outweighs the live part, so appends stay amortised O(1).
    if (start > 1024 && start * 2 > entries.length) {
      entries = entries.slice(start);
      start = 0;
    }
  }

  return {
    async append(inputs: readonly ChangeInput[]) {
      const at = now();
      const appended = inputs.map((input): Change => {
        sequence += 1;
        return Object.freeze({ ...input, before: input.before ?? null, at, cursor: cursorOf(sequence) });
      });
      entries.push(...appended);
      trim();
      for (const change of appended) tails.deliver(change);
      return appended;
    },
    async head() {
      return cursorOf(sequence);
    },
    async since(cursor: string): Promise<SinceResult> {
      const seq = parse(cursor);
      if (seq === undefined) return { ok: false, reason: 'epoch' };
      trim();
      if (seq < trimmed) return { ok: false, reason: 'history' };
      // Sequences are dense, so the first change after `seq` sits at a computable index.
      const first = start + (seq - trimmed);
      return { ok: true, changes: entries.slice(first) };
    },
    check(cursor: string) {
      return parse(cursor) !== undefined;
    },
    compare(a: string, b: string) {
      return (parse(a) ?? 0) - (parse(b) ?? 0);
    },
    tail: tails.tail,
    async close() {
      tails.clear();
    },
  };
}
