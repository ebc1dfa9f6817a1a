// A connection from a browser to this push process: a WebSocket, an SSE stream, or one held poll.
// It carries any number of pages, each under a key the client chose. Pages push into it: when
// one has deliveries ready, the connection is flushed once per tick, and the messages of every page
// leave together as one frame.

import { type Delivery, refreshDelivery } from './delivery.ts';
import { PushError } from './errors.ts';
import type { ConnectionKind, Observation } from './observe.ts';
import type { Holder, Page, Pages } from './pages.ts';
import type { PageClaims } from './token.ts';

/** The messages of one page in a frame. */
export interface PageBatch {
  /** The page's key on the connection. */
  readonly key: string;
  /** Its messages, oldest first, each encoded once and shared. */
  readonly deliveries: readonly Delivery[];
  /** The cursor of its last change message, if it has one. */
  readonly cursor: string | undefined;
  /** Whether the last message is a refresh: the page has left the connection. */
  readonly ended: boolean;
}

/** Where a connection's frames go: the transport's writer. */
export interface ConnectionSink {
  /** Writes one frame: the batches of the pages that have messages, in the order they were added. */
  write(batches: readonly PageBatch[]): void;
  /**
   * Called when newer connections took every page of this one. A held poll then answers at once,
   * and a stream ends (`SERVERPUSH_ERR_SUPERSEDED`): its client has moved on, a browser's
   * connections are few (a JSONP script cannot even be aborted), and one page must not hold a
   * stream per reconnect.
   */
  orphaned?(): void;
}

/** A connection carrying pages; made by `PushEndpoint.open()`. */
export interface Connection {
  /**
   * Adds the page of `token` under `key` (in place of any page under that key), served after
   * `cursor` (the token's own when `undefined`). Resolves once the page's history is read, with
   * whether it was opened anew; rejects with a `PushError` for a bad token or cursor, leaving the
   * other pages as they are.
   */
  add(key: string, token: string, cursor: string | undefined): Promise<{ fresh: boolean }>;
  /** Takes the page under `key` off the connection; it is kept for its next connection a while. */
  remove(key: string): void;
  /**
   * Writes what is ready now; with `force`, even an empty frame (a poll that must answer). Frames
   * are otherwise written by themselves, once per tick.
   */
  flush(force?: boolean): void;
  /** Resolves once no page's oldest change is still being serialized (or after `ms`). */
  settled(ms: number): Promise<void>;
  /** How many pages it carries. */
  readonly size: number;
  /**
   * Ends it: nothing more is written; its pages stay for their next connection. `'slow'`: its
   * transport ends it because the reader could not keep up, and has written the `slow` refresh.
   */
  close(reason?: 'slow'): void;
}

/** What the push instance gives its connections. */
export interface ConnectionHost {
  readonly pages: Pages;
  /** How many pages one connection may carry. */
  readonly maxPages: number;
  /**
   * The token's claims and where to serve from, the refresh it gets at once, or `recover` for a
   * page rendered while the log was down; throws the client's mistake.
   */
  admit(
    token: string,
    cursor: string | undefined,
    binding: string | undefined,
  ): { claims: PageClaims; from: string } | { refresh: Delivery } | { recover: true };
  /** Resolves once the change log answers again. */
  logBack(): Promise<void>;
  /** Flushes `connection` after the current tick (with every other connection that has something). */
  schedule(connection: PushConnection): void;
  /** Counts a new connection; returns the error that refuses it when a bound is reached. */
  opened(connection: PushConnection, address: string | undefined): PushError | undefined;
  closed(connection: PushConnection, address: string | undefined, slow: boolean): void;
  /** Whoever watches the push instance. */
  readonly observation: Observation;
}

/** The connection implementation: see `Connection`. */
export class PushConnection implements Connection, Holder {
  /** The pages it carries, by key. It is their holder itself: a page it carries pushes into it. */
  private readonly attached = new Map<string, Page>();
  /** Refreshes owed to keys that never had a page (an expired token, another epoch). */
  private owed: PageBatch[] | undefined;
  private settledWaiters: Array<() => void> | undefined;
  /** The newest `add()` per key: an older one still opening its page gives way. */
  private adding: Map<string, symbol> | undefined;
  private closed = false;
  private readonly host: ConnectionHost;
  private readonly sink: ConnectionSink;
  private readonly binding: string | undefined;
  private readonly address: string | undefined;
  /** Set when a bound refuses the connection: every page added to it is refused with it. */
  private readonly refused: PushError | undefined;
  /** The transport it came through, for monitoring. */
  readonly transport: ConnectionKind;

  constructor(
    host: ConnectionHost,
    sink: ConnectionSink,
    binding: string | undefined,
    address?: string,
    transport: ConnectionKind = 'other',
  ) {
    this.host = host;
    this.sink = sink;
    this.binding = binding;
    this.address = address;
    this.transport = transport;
    this.refused = host.opened(this, address);
  }

  get size(): number {
    return this.attached.size + (this.owed?.length ?? 0);
  }

  async add(key: string, token: string, cursor: string | undefined): Promise<{ fresh: boolean }> {
    if (this.refused !== undefined) throw this.refused;
    if (this.size >= this.host.maxPages && !this.attached.has(key)) {
      throw new PushError(
        'SERVERPUSH_ERR_LIMIT',
        `a connection carries at most ${this.host.maxPages} pages (maxPagesPerConnection)`,
      );
    }
    const admitted = this.host.admit(token, cursor, this.binding);
    const attempt = Symbol(key);
    (this.adding ??= new Map()).set(key, attempt);
    this.remove(key);
    if ('recover' in admitted) {
      // Held until the log answers, then told to reload: it gets a token with a cursor then.
      await this.host.logBack();
      if (this.closed || this.adding.get(key) !== attempt) return { fresh: true };
      this.adding.delete(key);
      (this.owed ??= []).push({ key, deliveries: [refreshDelivery('unavailable')], cursor: undefined, ended: true });
      this.host.schedule(this);
      return { fresh: true };
    }
    if ('refresh' in admitted) {
      this.adding.delete(key);
      (this.owed ??= []).push({ key, deliveries: [admitted.refresh], cursor: undefined, ended: true });
      this.host.schedule(this);
      return { fresh: true };
    }
    const { page, fresh } = await this.host.pages.attach(admitted.claims, admitted.from, this.binding, this);
    if (this.closed || this.adding?.get(key) !== attempt) {
      if ([...this.attached.values()].every((other) => other !== page)) this.host.pages.detach(page, this);
      return { fresh };
    }
    this.adding?.delete(key);
    this.attached.set(key, page);
    return { fresh };
  }

  remove(key: string): void {
    const page = this.attached.get(key);
    if (page === undefined) return;
    this.attached.delete(key);
    this.host.pages.detach(page, this);
  }

  /** A page it carries has deliveries ready. */
  ready(): void {
    if (!this.closed) this.host.schedule(this);
  }

  /** A newer connection took one of its pages. */
  lost(): void {
    if (this.closed || this.sink.orphaned === undefined) return;
    for (const page of this.attached.values()) if (page.holder === this) return;
    this.sink.orphaned();
  }

  flush(force = false): void {
    if (this.closed) return;
    const watching = this.host.observation.sink;
    let batches: PageBatch[] | undefined;
    if (this.owed !== undefined && this.owed.length > 0) {
      batches = this.owed;
      this.owed = undefined;
      for (const { deliveries } of batches) {
        const reason = deliveries[0]?.reason;
        if (reason !== undefined) watching?.refreshed?.(reason, undefined);
      }
    }
    for (const [key, page] of this.attached) {
      // Another connection took the page, or it was forgotten: it is no longer this one's.
      if (page.holder !== this || page.disposed) {
        this.attached.delete(key);
        continue;
      }
      const { mailbox, side } = page;
      if (!mailbox.hasReady && side?.ready !== true) continue;
      const deliveries: Delivery[] = [];
      // Presence first: a refresh, when there is one, must be the last message.
      if (mailbox.ended === undefined) side?.take(deliveries);
      mailbox.take(deliveries);
      if (deliveries.length === 0) continue;
      const ended = mailbox.ended !== undefined;
      const last = deliveries[deliveries.length - 1]!;
      const cursor = last.cursor ?? lastCursor(deliveries);
      (batches ??= []).push({ key, deliveries, cursor, ended });
      if (ended) {
        if (last.reason !== undefined) watching?.refreshed?.(last.reason, mailbox.ctx);
        this.remove(key);
      }
    }
    if (this.settledWaiters !== undefined && !this.settling()) {
      for (const resolve of this.settledWaiters.splice(0)) resolve();
      this.settledWaiters = undefined;
    }
    if (batches !== undefined || force) this.sink.write(batches ?? []);
    if (batches !== undefined) watching?.frameWritten?.(this.transport, batches, Date.now());
  }

  private settling(): boolean {
    for (const page of this.attached.values()) if (page.mailbox.settling) return true;
    return false;
  }

  settled(ms: number): Promise<void> {
    if (!this.settling()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      (this.settledWaiters ??= []).push(done);
    });
  }

  close(reason?: 'slow'): void {
    if (this.closed) return;
    this.closed = true;
    const slow = reason === 'slow';
    if (slow) {
      const watching = this.host.observation.sink;
      for (const page of this.attached.values())
        if (page.holder === this) watching?.refreshed?.('slow', page.mailbox.ctx);
    }
    for (const key of [...this.attached.keys()]) this.remove(key);
    this.owed = undefined;
    for (const resolve of this.settledWaiters?.splice(0) ?? []) resolve();
    this.host.closed(this, this.address, slow);
  }
}

function lastCursor(deliveries: readonly Delivery[]): string | undefined {
  for (let at = deliveries.length - 1; at >= 0; at -= 1) {
    const { cursor } = deliveries[at]!;
    if (cursor !== undefined) return cursor;
  }
  return undefined;
}
