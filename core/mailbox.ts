// A connected page's mailbox: one slot per change that concerns the page, in log order, each filled
// when its serializations settle. It outlives the gap between two polls; the client's cursor acks.
// ("Session" means the app's login session only.)

import createDebug from 'debug';
import { matchesRow } from './hub.ts';
import type { CompiledSpec } from './serialize.ts';
import { skipped } from './serialize.ts';
import type { PageClaims } from './token.ts';
import type { Change, ChangeMessage, Effect, Message, PushContext, RefreshMessage } from './types.ts';

const debug = createDebug('serverpush:mailbox');

/** How long `take()` waits for changes already matched to finish serializing. */
const settleMs = 10_000;

interface Slot {
  readonly cursor: string;
  messages: ChangeMessage[] | undefined;
}

/** Options the push instance gives each mailbox. */
export interface MailboxOptions {
  readonly compare: (a: string, b: string) => number;
  /** Past this many unacknowledged changes the page is told to refresh. */
  readonly maxPending: number;
  /** Whether the viewer may see the change at all; `false` or a throw drops it for this page. */
  readonly authorize?: ((ctx: PushContext<unknown>, change: Change) => boolean | Promise<boolean>) | undefined;
}

/** One connected page. */
export class Mailbox {
  readonly page: string;
  readonly claims: PageClaims;
  /** The value the page presented for its bound token, for `authenticate` on revalidation. */
  readonly binding: string | undefined;
  /** The viewer's context and the page's specs, as of the last (re)validation. */
  ctx: PushContext<unknown>;
  specs: readonly CompiledSpec[];
  /** When a client last asked for messages, ms since the epoch; `Infinity` while one waits. */
  lastSeen = Date.now();
  /** Messages up to this cursor were acknowledged and dropped. */
  private floor: string;
  private slots: Slot[] = [];
  private refresh: RefreshMessage | undefined;
  private wake = new Set<() => void>();
  private releases = new Set<() => void>();
  private readonly options: MailboxOptions;

  constructor(
    claims: PageClaims,
    ctx: PushContext<unknown>,
    specs: readonly CompiledSpec[],
    floor: string,
    options: MailboxOptions,
    binding?: string,
  ) {
    this.page = claims.page;
    this.claims = claims;
    this.binding = binding;
    this.ctx = ctx;
    this.specs = specs;
    this.floor = floor;
    this.options = options;
  }

  /** Whether this mailbox can answer a client that has seen everything up to `cursor`. */
  canServe(cursor: string): boolean {
    return this.refresh !== undefined || this.options.compare(cursor, this.floor) >= 0;
  }

  /** Whether the page was told to refresh; it then gets nothing else. */
  get ended(): boolean {
    return this.refresh !== undefined;
  }

  /**
   * Takes a slot for `change` and fills it with the serializations of the matching specs. Changes
   * already held or acknowledged are ignored, so replay and live delivery may overlap.
   */
  deliver(change: Change, specs: readonly CompiledSpec[], shared: Map<string, Promise<unknown>>): void {
    if (this.refresh !== undefined || this.options.compare(change.cursor, this.floor) <= 0) return;
    let at = this.slots.length;
    while (at > 0 && this.options.compare(this.slots[at - 1]!.cursor, change.cursor) >= 0) {
      if (this.slots[at - 1]!.cursor === change.cursor) return;
      at -= 1;
    }
    if (this.slots.length >= this.options.maxPending) {
      this.end({ name: 'refresh', reason: 'overflow' });
      return;
    }
    const slot: Slot = { cursor: change.cursor, messages: undefined };
    this.slots.splice(at, 0, slot);
    void this.fill(slot, change, specs, shared);
  }

  private async fill(
    slot: Slot,
    change: Change,
    specs: readonly CompiledSpec[],
    shared: Map<string, Promise<unknown>>,
  ) {
    const payloads = (await this.authorized(this.ctx, change))
      ? await Promise.all(specs.map((spec) => spec.serialize(change, shared)))
      : [];
    const messages: ChangeMessage[] = [];
    payloads.forEach((data, index) => {
      if (data === skipped) return;
      const spec = specs[index]!;
      messages.push({
        cursor: change.cursor,
        name: spec.name,
        op: change.op,
        effect: effectOf(spec, change),
        model: change.model,
        id: change.id,
        data,
      });
    });
    slot.messages = messages;
    // A slot that produced nothing (every serializer threw) would never be acknowledged.
    if (messages.length === 0) this.slots = this.slots.filter((held) => held !== slot);
    this.notify();
  }

  /** Takes the viewer's context and specs from a revalidation; changes from now on use them. */
  reset(ctx: PushContext<unknown>, specs: readonly CompiledSpec[]): void {
    this.ctx = ctx;
    this.specs = specs;
  }

  private async authorized(ctx: PushContext<unknown>, change: Change): Promise<boolean> {
    if (this.options.authorize === undefined) return true;
    try {
      return (await this.options.authorize(ctx, change)) === true;
    } catch (error) {
      debug('authorize threw for page %s, dropping the change: %O', this.page, error);
      return false;
    }
  }

  /** Ends the mailbox with a refresh message: the only thing it will answer from now on. */
  end(message: RefreshMessage): void {
    if (this.refresh !== undefined) return;
    this.refresh = message;
    this.slots = [];
    this.notify();
  }

  /**
   * Messages after `cursor`, waiting up to `waitMs` for some when none are ready. Acknowledges
   * (drops) everything up to `cursor`. Resolves with `[]` on timeout or abort.
   */
  async take(cursor: string, waitMs: number, signal?: AbortSignal): Promise<Message[]> {
    this.acknowledge(cursor);
    this.lastSeen = Infinity;
    try {
      let ready = this.ready();
      // Slots already taken are about to be filled: wait for those even when asked not to wait.
      if (ready.length === 0 && this.slots.length > 0) waitMs = Math.max(waitMs, settleMs);
      if (ready.length > 0 || waitMs <= 0 || signal?.aborted === true) return ready;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          this.wake.delete(check);
          this.releases.delete(done);
          resolve();
        };
        // Changes appended together settle within one turn; collect after it so they travel together.
        let scheduled = false;
        const check = () => {
          if (scheduled) return;
          scheduled = true;
          setImmediate(() => {
            scheduled = false;
            ready = this.ready();
            if (ready.length > 0) done();
          });
        };
        const timer = setTimeout(done, waitMs);
        signal?.addEventListener('abort', done);
        this.wake.add(check);
        this.releases.add(done);
      });
      return ready;
    } finally {
      this.lastSeen = Date.now();
    }
  }

  /**
   * Answers every waiting `take()` with what is ready (usually nothing) without ending the mailbox:
   * at shutdown, so clients come back, to this process or another, and resume from their cursor.
   */
  release(): void {
    for (const done of [...this.releases]) done();
  }

  /** How many clients are waiting in `take()`. */
  get waiting(): number {
    return this.wake.size;
  }

  private acknowledge(cursor: string) {
    if (this.refresh !== undefined || this.options.compare(cursor, this.floor) <= 0) return;
    this.floor = cursor;
    let drop = 0;
    while (drop < this.slots.length && this.options.compare(this.slots[drop]!.cursor, cursor) <= 0) drop += 1;
    if (drop > 0) this.slots.splice(0, drop);
  }

  // The ready messages in order: the filled slots before the first one still being serialized.
  private ready(): Message[] {
    if (this.refresh !== undefined) return [this.refresh];
    const messages: Message[] = [];
    for (const slot of this.slots) {
      if (slot.messages === undefined) break;
      messages.push(...slot.messages);
    }
    return messages;
  }

  private notify() {
    for (const wake of [...this.wake]) wake();
  }
}

/** Whether the row entered the spec's filter, stayed in it, or left it. */
function effectOf(spec: CompiledSpec, change: Change): Effect {
  const after = change.after !== null && matchesRow(spec, change.after);
  const before = change.before !== null && change.before !== undefined && matchesRow(spec, change.before);
  if (after && before) return 'update';
  return after ? 'enter' : 'leave';
}
