// Reading what Redis answers: cursors (`<epoch>.<stream id>`), stream entries, and the script's
// replies.

import { malformedCursor } from '../../core/cursor.ts';
import type { Change, ChangeInput } from '../../core/types.ts';

const cursorPattern = /^([a-z0-9]{1,16})\.(\d{1,16})-(\d{1,16})$/;

/** Where a cursor points: its epoch and stream id. */
export interface Position {
  readonly epoch: string;
  readonly ms: number;
  readonly seq: number;
}

/** A stream entry as XRANGE and XREAD return it. */
export type Entry = readonly [id: string, fields: readonly string[]];

/** The position a cursor names; throws `SERVERPUSH_ERR_BAD_CURSOR` for anything else. */
export function position(cursor: string): Position {
  const match = typeof cursor === 'string' ? cursorPattern.exec(cursor) : null;
  const ms = Number(match?.[2]);
  const seq = Number(match?.[3]);
  if (match === null || !Number.isSafeInteger(ms) || !Number.isSafeInteger(seq + 1)) {
    throw malformedCursor(cursor);
  }
  return { epoch: match[1]!, ms, seq };
}

/** Orders two positions of one epoch: negative, zero or positive. */
export function comparePositions(a: Position, b: Position): number {
  return a.ms - b.ms || a.seq - b.seq;
}

/** Orders two stream ids (`<ms>-<seq>`): negative, zero or positive. */
export function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

/** The epoch and the stream id it starts after, from the value `<epoch>.<id>`; throws for anything else. */
export function epochOf(value: unknown): [epoch: string, start: string] {
  const match = typeof value === 'string' ? /^([a-z0-9]{1,16})\.(\d+-\d+)$/.exec(value) : null;
  if (match === null) throw new Error(`unexpected epoch in Redis: ${String(value)}`);
  return [match[1]!, match[2]!];
}

/** A script reply that must be an array; throws for anything else. */
export function list(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new Error(`unexpected reply from Redis: ${String(reply)}`);
  return reply;
}

/** A script reply that must be two strings; throws for anything else. */
export function pair(reply: unknown): [string, string] {
  const [first, second] = list(reply);
  if (typeof first !== 'string' || typeof second !== 'string')
    throw new Error(`unexpected reply from Redis: ${String(reply)}`);
  return [first, second];
}

/**
 * The change a stream entry carries, with its epoch and the id of the entry before it; `undefined`
 * for an entry that is not a change.
 */
export function entryOf(
  id: string,
  fields: readonly string[],
): { epoch: string; previous: string; change: Change } | undefined {
  const values: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) values[fields[i]!] = fields[i + 1]!;
  const { e: epoch, p: previous, c: text } = values;
  if (epoch === undefined || previous === undefined || text === undefined || !/^\d+-\d+$/.test(previous))
    return undefined;
  try {
    return { epoch, previous, change: changeOf(epoch, id, text) };
  } catch {
    return undefined;
  }
}

/** The change of a stream entry from its epoch, stream id and JSON text. */
export function changeOf(epoch: string, id: string, text: string): Change {
  const { model, op, id: rowId, after, before } = JSON.parse(text) as ChangeInput;
  return Object.freeze({
    model,
    op,
    id: rowId,
    after,
    before: before ?? null,
    at: Number.parseInt(id, 10),
    cursor: `${epoch}.${id}`,
  });
}
