// Appending to the Redis stream: one script call at a time, each carrying every append that waited
// for it, in the order they were made. A call that fails is tried again, before any later append,
// while its changes fit the buffer's bounds (a retry finds the entries of a try whose answer was
// lost, so nothing is appended twice); what cannot be appended within them is given up, and the
// log starts a new epoch so that every page refreshes instead of missing it.

import { randomBytes } from 'node:crypto';

/** Where a retried call looks for the entries an earlier try of it may have written: after this entry. */
export interface ScanFrom {
  readonly epoch: string;
  readonly id: string;
}

/** One call of the script's `append`: a batch of changes, tried until it is appended or given up. */
export interface Batch {
  /** Marks the batch's first entry, so a retry can find it. */
  readonly id: string;
  readonly json: readonly string[];
  readonly scanFrom: ScanFrom;
  /** Whether an earlier try failed (it may have been appended all the same). */
  readonly retry: boolean;
}

/** What the script answered: the epoch and stream ids of the batch's entries, or that it cannot tell. */
export type Appended = { readonly epoch: string; readonly ids: readonly string[] } | 'unsure';

/** What the appender needs from the log. */
export interface AppenderHost {
  /** Runs the script's `append` for the batch. */
  send(batch: Batch): Promise<Appended>;
  /** Starts a new epoch unless Redis started one already: the given-up changes leave pages a gap. */
  rotate(): Promise<void>;
  /** The newest entry this process knows of, where a batch's scan starts. */
  newest(): ScanFrom;
  /** A call failed; `error` is why. */
  failed(error: unknown): void;
  /** A call succeeded. */
  succeeded(): void;
  /** Changes were given up; `what` says how many and why, `error` is the last failure. */
  gaveUp(what: string, error: unknown): void;
}

/** The bounds of what waits while Redis fails. */
export interface BufferBounds {
  readonly maxBuffered: number;
  readonly maxBufferedBytes: number;
  readonly maxBufferedMs: number;
}

/** The buffered, ordered appends of one log. */
export interface Appender {
  /** Appends the changes (JSON texts) after every append made before; resolves with their epoch and ids. */
  append(json: readonly string[]): Promise<{ epoch: string; ids: readonly string[] }>;
  /** Whether the last call failed (appends wait). */
  readonly failing: boolean;
  /** Waits for what is buffered, at most `ms`; rejects what is left after that and stops. */
  close(ms: number): Promise<void>;
}

interface Pending {
  readonly json: readonly string[];
  readonly bytes: number;
  readonly queuedAt: number;
  resolve(value: { epoch: string; ids: readonly string[] }): void;
  reject(error: Error): void;
}

/** How many changes one call carries at most (a single larger append goes alone, whole). */
const maxPerCall = 1_000;
/** How many bytes one call carries at most (idem). */
const maxBytesPerCall = 1_048_576;
/** How long one try may take before it counts as failed (it may still be appended: the retry tells). */
const tryTimeoutMs = 5_000;
/** The pause after a failed try: doubling from the first to the last. */
const firstPauseMs = 50;
const lastPauseMs = 1_000;

/**
 * Creates the appender of a log. `service` names Redis in the errors of given-up appends.
 *
 * @example
 * const appender = createAppender(host, { maxBuffered: 1_000, maxBufferedBytes: 1_048_576, maxBufferedMs: 30_000 }, 'Redis at 127.0.0.1:6379');
 * const { epoch, ids } = await appender.append([JSON.stringify(change)]);
 */
export function createAppender(host: AppenderHost, bounds: BufferBounds, service: string): Appender {
  const waiting: Pending[] = [];
  /** The batch being tried, and its changes. */
  let current: { batch: Batch; items: Pending[] } | undefined;
  let rotating = false;
  let draining: Promise<void> | undefined;
  let failures = 0;
  let lastError: unknown;
  let closed = false;
  const stopping = new AbortController();
  /** Called once nothing waits to be appended (for close()). */
  let onEmpty: (() => void) | undefined;

  function settledSome() {
    if (current === undefined && waiting.length === 0) onEmpty?.();
  }

  function buffered(): { count: number; bytes: number } {
    let count = 0;
    let bytes = 0;
    for (const item of [...(current?.items ?? []), ...waiting]) {
      count += item.json.length;
      bytes += item.bytes;
    }
    return { count, bytes };
  }

  function giveUp(items: readonly Pending[], why: string) {
    if (items.length === 0) return;
    const count = items.reduce((sum, item) => sum + item.json.length, 0);
    const what = `${count === 1 ? '1 change' : `${count} changes`} could not be appended to ${service} ${why}; every page will refresh (epoch)`;
    const error = new Error(`redisLog(): ${what}`, { cause: lastError });
    for (const item of items) item.reject(error);
    settledSome();
    // A rotation already pending covers these too: warn once for it.
    if (!rotating) host.gaveUp(what, lastError);
    rotating = true;
  }

  /** While Redis fails, what waited too long, or past the count and bytes, is given up, oldest first. */
  function enforce() {
    if (failures === 0) return;
    const tooOld = Date.now() - bounds.maxBufferedMs;
    const late = `within ${bounds.maxBufferedMs} ms`;
    // The batch being tried holds the oldest changes: what waits behind it is younger.
    if (current !== undefined && current.items[0]!.queuedAt <= tooOld) giveUpCurrent(late);
    const old: Pending[] = [];
    while (current === undefined && waiting.length > 0 && waiting[0]!.queuedAt <= tooOld) old.push(waiting.shift()!);
    giveUp(old, late);
    let { count, bytes } = buffered();
    const over = () => count > bounds.maxBuffered || bytes > bounds.maxBufferedBytes;
    const full = `in time: more than ${bounds.maxBuffered} changes or ${bounds.maxBufferedBytes} bytes waited`;
    const dropped = current !== undefined && over() ? giveUpCurrent(full) : [];
    for (const item of dropped) {
      count -= item.json.length;
      bytes -= item.bytes;
    }
    const oldest: Pending[] = [];
    while (waiting.length > 0 && over()) {
      const item = waiting.shift()!;
      count -= item.json.length;
      bytes -= item.bytes;
      oldest.push(item);
    }
    giveUp(oldest, full);
  }

  function giveUpCurrent(why: string): Pending[] {
    const items = current?.items ?? [];
    current = undefined;
    giveUp(items, why);
    return items;
  }

  function nextBatch(): { batch: Batch; items: Pending[] } | undefined {
    const items: Pending[] = [];
    let count = 0;
    let bytes = 0;
    while (waiting.length > 0) {
      const next = waiting[0]!;
      if (items.length > 0 && (count + next.json.length > maxPerCall || bytes + next.bytes > maxBytesPerCall)) break;
      items.push(waiting.shift()!);
      count += next.json.length;
      bytes += next.bytes;
    }
    if (items.length === 0) return undefined;
    const batch = {
      id: randomBytes(8).toString('hex'),
      json: items.flatMap((item) => item.json),
      scanFrom: host.newest(),
      retry: false,
    };
    return { batch, items };
  }

  /** One try, bounded by `tryTimeoutMs`, by the time its oldest change has left, and by close(). */
  async function attempt<T>(run: () => Promise<T>, oldest: number): Promise<T> {
    const ms = Math.min(tryTimeoutMs, Math.max(1, oldest + bounds.maxBufferedMs - Date.now()));
    let timer: NodeJS.Timeout | undefined;
    let onAbort = () => {};
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from ${service} within ${ms} ms`)), ms);
      onAbort = () => reject(new Error('redisLog(): the log is closed'));
      stopping.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([run(), timeout]);
    } finally {
      clearTimeout(timer);
      stopping.signal.removeEventListener('abort', onAbort);
    }
  }

  async function pause() {
    const ms = Math.min(lastPauseMs, firstPauseMs * 2 ** Math.min(failures - 1, 10));
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stopping.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      stopping.signal.addEventListener('abort', done, { once: true });
    });
  }

  function failed(error: unknown) {
    failures += 1;
    lastError = error;
    host.failed(error);
    enforce();
  }

  function succeeded() {
    failures = 0;
    host.succeeded();
  }

  /** Sends batch after batch until nothing waits: a rotation first when changes were given up. */
  async function drain(): Promise<void> {
    // Every pass appends a batch, rotates, or pauses (at most `lastPauseMs`), and the bounds give up
    // what waits longer than `maxBufferedMs`: the loop ends once Redis answers, or at close(). A
    // rotation is tried until Redis takes it, appends or not: other processes' pages wait for it.
    while (!stopping.signal.aborted) {
      if (rotating) {
        try {
          await attempt(() => host.rotate(), Date.now());
          rotating = false;
          succeeded();
        } catch (error) {
          if (stopping.signal.aborted) return;
          failed(error);
          await pause();
        }
        continue;
      }
      current ??= nextBatch();
      const trying = current;
      if (trying === undefined) return;
      try {
        const answer = await attempt(() => host.send(trying.batch), trying.items[0]!.queuedAt);
        succeeded();
        if (current !== trying) continue; // given up while it was tried
        current = undefined;
        if (answer === 'unsure') {
          lastError = new Error(`a retry could not tell whether ${service} holds the changes`);
          giveUp(trying.items, '(a retry could not tell whether an earlier try had appended them)');
          continue;
        }
        let offset = 0;
        for (const item of trying.items) {
          item.resolve({ epoch: answer.epoch, ids: answer.ids.slice(offset, offset + item.json.length) });
          offset += item.json.length;
        }
        settledSome();
      } catch (error) {
        if (stopping.signal.aborted) return;
        if (current === trying) current = { ...trying, batch: { ...trying.batch, retry: true } };
        failed(error);
        if (current !== undefined || waiting.length > 0) await pause();
      }
    }
  }

  function wake() {
    draining ??= drain().finally(() => {
      draining = undefined;
      if (!stopping.signal.aborted && (rotating || waiting.length > 0 || current !== undefined)) wake();
    });
  }

  return {
    get failing() {
      return failures > 0;
    },
    append(json) {
      if (closed) return Promise.reject(new Error('redisLog(): the log is closed'));
      const bytes = json.reduce((sum, text) => sum + Buffer.byteLength(text), 0);
      const appended = new Promise<{ epoch: string; ids: readonly string[] }>((resolve, reject) =>
        waiting.push({ json, bytes, queuedAt: Date.now(), resolve, reject }),
      );
      enforce();
      wake();
      return appended;
    },
    async close(ms) {
      closed = true;
      if (current !== undefined || waiting.length > 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          onEmpty = resolve;
          timer = setTimeout(resolve, ms);
        });
        clearTimeout(timer);
      }
      stopping.abort();
      const left = [...(current?.items ?? []), ...waiting];
      current = undefined;
      waiting.length = 0;
      const error = new Error(`redisLog(): closed before the changes could be appended to ${service}`, {
        cause: lastError,
      });
      for (const item of left) item.reject(error);
      await draining;
    },
  };
}
