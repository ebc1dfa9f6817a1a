// Cursors of the logs that number their changes (in memory, knex): `<epoch>.<sequence in base 36>`.
// The epoch tells a cursor of this log from one of another log, or of before a loss of history.

import { PushError } from './errors.ts';

/** What an epoch may be: 1 to 16 characters of `[a-z0-9]`. */
export const epochPattern = /^[a-z0-9]{1,16}$/;

/** Formats and parses the cursors of one epoch. */
export interface SequenceCursors {
  readonly epoch: string;
  /** The cursor of change number `sequence` (`0`: nothing seen yet). */
  format(sequence: number): string;
  /**
   * The sequence number of a cursor of this epoch, `undefined` for a cursor of another epoch.
   * Throws `SERVERPUSH_ERR_BAD_CURSOR` when `cursor` is no such cursor at all.
   */
  parse(cursor: string): number | undefined;
}

/**
 * The cursors of `epoch`. Parsing is a scan of the string, cheap enough to need no cache.
 *
 * @example
 * const cursors = sequenceCursors('k3x9a1');
 * cursors.format(41); // 'k3x9a1.15'
 * cursors.parse('k3x9a1.15'); // 41
 */
export function sequenceCursors(epoch: string): SequenceCursors {
  if (!epochPattern.test(epoch))
    throw new TypeError(`A cursor epoch must be 1 to 16 characters of [a-z0-9], got ${JSON.stringify(epoch)}`);
  return {
    epoch,
    format: (sequence) => `${epoch}.${sequence.toString(36)}`,
    parse(cursor) {
      const dot = typeof cursor === 'string' ? cursor.indexOf('.') : -1;
      const digits = typeof cursor === 'string' ? cursor.length - dot - 1 : 0;
      if (
        dot < 1 ||
        dot > 16 ||
        digits < 1 ||
        digits > 11 ||
        !base36(cursor, 0, dot) ||
        !base36(cursor, dot + 1, cursor.length)
      ) {
        throw malformedCursor(cursor);
      }
      if (dot !== epoch.length || !cursor.startsWith(epoch)) return undefined;
      return Number.parseInt(cursor.slice(dot + 1), 36);
    },
  };
}

/** The `SERVERPUSH_ERR_BAD_CURSOR` error for a cursor that no log could have issued. */
export function malformedCursor(cursor: unknown): PushError {
  return new PushError(
    'SERVERPUSH_ERR_BAD_CURSOR',
    `cursor ${JSON.stringify(String(cursor).slice(0, 40))} is malformed`,
  );
}

function base36(text: string, from: number, to: number): boolean {
  for (let at = from; at < to; at += 1) {
    const code = text.charCodeAt(at);
    if (!((code >= 48 && code <= 57) || (code >= 97 && code <= 122))) return false;
  }
  return true;
}
