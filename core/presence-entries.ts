// How presence travels between the push processes that share a change log: as control entries
// (./control.ts), each carrying a batch of operations of one process, appended one batch after
// another so that every process reads a process's operations in the order it made them.

import type { ChangeLog } from './change-log.ts';
import { controlModel } from './control.ts';
import type { Change, ChangeInput } from './types.ts';

/**
 * One presence operation of a process (its `origin`): a member of a channel joined or left
 * there; its heartbeat with the digest of its members; a request that a process (`target`, or
 * every one) send its members anew; `reset` (the members that follow are all it has); `gone` (it
 * stopped: its members leave).
 */
export type PresenceOp =
  | { readonly op: 'join'; readonly channel: string; readonly id: string; readonly data: string }
  | { readonly op: 'leave'; readonly channel: string; readonly id: string }
  | { readonly op: 'beat'; readonly count: number; readonly sum: number }
  | { readonly op: 'sync'; readonly target: string | null }
  | { readonly op: 'reset' }
  | { readonly op: 'gone' };

/** The `action` of a control entry that carries presence operations. */
export const presenceAction = 'presence';

/** Whether `value` is a channel name: 1 to 200 characters, no control characters. */
export function isChannel(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 200) return false;
  for (let at = 0; at < value.length; at += 1) {
    const code = value.charCodeAt(at);
    if (code < 0x20 || code === 0x7f) return false;
  }
  return true;
}

/** The most characters of a member's `data` as JSON. */
export const maxDataLength = 1_024;

/** Member ids: what `memberId()` makes (./presence.ts). */
const idPattern = /^[A-Za-z0-9_-]{1,64}$/;

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Operations one entry carries at most; more go into the next. */
const opsPerEntry = 500;

/** The change input of a batch of `origin`'s operations. */
export function presenceChange(origin: string, ops: readonly PresenceOp[]): ChangeInput {
  return {
    model: controlModel,
    op: 'update',
    id: presenceAction,
    after: { action: presenceAction, origin, ops },
    before: null,
  };
}

/** Whether a control entry carries presence operations (older versions ignore it). */
export function isPresenceEntry(change: Change): boolean {
  return change.after?.['action'] === presenceAction;
}

/**
 * The origin and operations of a presence entry; operations this version does not know, or that
 * are malformed, are left out. `undefined` when the entry is not one.
 */
export function readPresence(change: Change): { origin: string; ops: PresenceOp[] } | undefined {
  const { origin, ops } = (change.after ?? {}) as { origin?: unknown; ops?: unknown };
  if (typeof origin !== 'string' || origin === '' || !Array.isArray(ops)) return undefined;
  const read: PresenceOp[] = [];
  for (const raw of ops.slice(0, opsPerEntry) as unknown[]) {
    const op = readOp(raw);
    if (op !== undefined) read.push(op);
  }
  return { origin, ops: read };
}

function readOp(raw: unknown): PresenceOp | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { op, channel, id, data, count, sum, target } = raw as Record<string, unknown>;
  const member = isChannel(channel) && typeof id === 'string' && idPattern.test(id);
  switch (op) {
    case 'join':
      // Member ids and data are written into the pages' frames as they are: only well-formed ones.
      return member && typeof data === 'string' && data.length <= maxDataLength && isJson(data)
        ? { op, channel: channel as string, id: id as string, data }
        : undefined;
    case 'leave':
      return member ? { op, channel: channel as string, id: id as string } : undefined;
    case 'beat':
      return Number.isSafeInteger(count) && Number.isSafeInteger(sum)
        ? { op, count: count as number, sum: sum as number }
        : undefined;
    case 'sync':
      return target === null || typeof target === 'string' ? { op, target } : undefined;
    case 'reset':
    case 'gone':
      return { op };
    default:
      return undefined;
  }
}

/** Options of `createOpQueue()`. */
export interface OpQueueOptions {
  readonly log: ChangeLog;
  /** This process's id in the entries. */
  readonly origin: string;
  /** Operations that may wait at most (the log is slow or down); past it they give way to `snapshot()`. */
  readonly maxWaiting: number;
  /** Everything this process holds, as operations (`reset`, then a `join` each): what replaces a queue too long. */
  readonly snapshot: () => PresenceOp[];
  readonly onError: (error: unknown, where: string) => void;
}

/** The queue of a process's presence operations to append. */
export interface OpQueue {
  /** Appends `op` after every one pushed before it (in the same entry as the others of this tick). */
  push(op: PresenceOp): void;
  /** Resolves once what was pushed is appended (or failed), or after `ms`. */
  drain(ms: number): Promise<void>;
}

/**
 * Creates the queue of a process's presence operations: pushed in one tick, they leave in one
 * entry; an entry is appended only once the one before it is, so every process reads them in order.
 */
export function createOpQueue({ log, origin, maxWaiting, snapshot, onError }: OpQueueOptions): OpQueue {
  let waiting: PresenceOp[] = [];
  let running: Promise<void> | undefined;

  async function run(): Promise<void> {
    // Let the operations of this tick gather.
    await new Promise((resolve) => setImmediate(resolve));
    while (waiting.length > 0) {
      const ops = waiting.splice(0, opsPerEntry);
      try {
        await log.append([presenceChange(origin, ops)]);
      } catch (error) {
        // The others' view of this process drifts; its next heartbeat shows them, and they ask anew.
        onError(error, 'appending presence entries to the change log');
      }
    }
  }

  function kick(): void {
    if (running !== undefined) return;
    running = run().finally(() => {
      running = undefined;
      if (waiting.length > 0) kick();
    });
  }

  return {
    push(op) {
      if (waiting.length >= maxWaiting) waiting = snapshot();
      else waiting.push(op);
      kick();
    },
    async drain(ms) {
      if (running === undefined) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
      clearTimeout(timer);
    },
  };
}
