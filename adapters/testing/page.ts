// One page opened by a harness: it follows the page's messages over long-poll, in-process, as a
// browser would (each poll resumes from the cursor of the last message), and hands them to the test
// one at a time (`next()`), or asserts that none comes (`nothing()`).

import type { ChangeMessage, Message, RefreshMessage, RefreshReason } from '../../core/types.ts';
import type { Inject } from './inject.ts';

/**
 * A change message of a harness page, typed by the page's event map: `{ hits: string }` makes
 * `message.name` `'hits'` and `message.data` a `string`.
 */
export type HarnessMessage<Events extends object = Record<string, unknown>> = {
  [Name in keyof Events & string]: Omit<ChangeMessage, 'name' | 'data'> & {
    readonly name: Name;
    readonly data: Events[Name];
  };
}[keyof Events & string];

/** A page opened by `harness.open()`, connected to the push side. */
export interface HarnessPage<Events extends object = Record<string, unknown>> {
  /** The path the page was opened at, with its query. */
  readonly path: string;
  /** The status the app answered the page request with; `undefined` when the harness has no app. */
  readonly status: number | undefined;
  /** The page the app rendered; `''` when the harness has no app. */
  readonly html: string;
  /** The page token the push side was given. */
  readonly token: string;
  /** Every change message received so far, oldest first, whether `next()` took it or not. */
  readonly messages: ReadonlyArray<HarnessMessage<Events>>;
  /** Why the page was told to refresh, once it was; a browser would reload it. */
  readonly refreshed: RefreshReason | undefined;
  /**
   * Resolves with the next change message not taken yet, waiting up to `timeoutMs` (default: the
   * harness's `timeoutMs`). Rejects with a `HarnessError` when none comes in time, when the page
   * was told to refresh, or when the push side refused it.
   */
  next(timeoutMs?: number): Promise<HarnessMessage<Events>>;
  /**
   * Resolves when no change message arrives: none is waiting untaken, the push side has routed
   * every change the log held when it was called, and then none arrives for `ms` (default: the
   * harness's `quietMs`). Rejects with a `HarnessError` naming what arrived instead.
   */
  nothing(ms?: number): Promise<void>;
  /**
   * Resolves with the reason the page is told to refresh (`'disconnect'` after a logout), waiting
   * up to `timeoutMs`; change messages before it stay for `next()`.
   */
  refresh(timeoutMs?: number): Promise<RefreshReason>;
  /** Stops following the page: the poll in flight is given up, as when a tab closes. */
  close(): Promise<void>;
}

/** A failed expectation of the harness: the message says what was expected and what happened. */
export class HarnessError extends Error {
  override readonly name = 'HarnessError';
}

/** What a page needs from its harness. */
export interface PageContext {
  /** Sends a request to the push endpoints (`push.routes()`), in-process. */
  readonly inject: Inject;
  /** The long-poll URL path: `{prefix}/long-poll`. */
  readonly pollPath: string;
  /** The `Cookie` header a request sends now (the agent's jar), if any. */
  readonly cookie: () => string | undefined;
  /** Resolves once the push side has routed every change up to the log's head now. */
  readonly routed: (timeoutMs: number) => Promise<void>;
  readonly timeoutMs: number;
  readonly quietMs: number;
}

/** What the page request rendered, and its token. */
export interface Rendered {
  readonly path: string;
  readonly status: number | undefined;
  readonly html: string;
  readonly token: string;
}

/** How the push side answered the page when it failed: the status and the error it named. */
interface Failure {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** A page following its messages; `start()` sends the first poll. */
export class PollingPage<Events extends object> implements HarnessPage<Events> {
  readonly path: string;
  readonly status: number | undefined;
  readonly html: string;
  readonly token: string;
  readonly messages: Array<HarnessMessage<Events>> = [];
  refreshed: RefreshReason | undefined;
  /** Received and not taken by `next()` yet. */
  private readonly queue: Array<HarnessMessage<Events>> = [];
  private failure: Failure | undefined;
  private cursor: string | undefined;
  private closed = false;
  private inFlight: { abort: AbortController; done: Promise<void> } | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly context: PageContext;

  constructor(rendered: Rendered, context: PageContext) {
    this.path = rendered.path;
    this.status = rendered.status;
    this.html = rendered.html;
    this.token = rendered.token;
    this.context = context;
  }

  /**
   * Sends the page's first poll, which the push side answers at once (after replaying what changed
   * since the page rendered), and keeps polling; throws a `HarnessError` if the push side refuses it.
   */
  async start(): Promise<void> {
    await this.poll();
    if (this.failure !== undefined) throw new HarnessError(`GET ${this.path}: ${describeFailure(this.failure)}`);
    this.loop();
  }

  async next(timeoutMs = this.context.timeoutMs): Promise<HarnessMessage<Events>> {
    checkMs(timeoutMs, 'next');
    await this.until(() => this.queue.length > 0 || this.ended(), timeoutMs);
    const message = this.queue.shift();
    if (message !== undefined) return message;
    throw this.endedError() ?? new HarnessError(`GET ${this.path}: no message within ${timeoutMs} ms${this.seen()}`);
  }

  async nothing(ms = this.context.quietMs): Promise<void> {
    checkMs(ms, 'nothing');
    this.checkQuiet();
    await this.context.routed(this.context.timeoutMs);
    await this.until(() => this.queue.length > 0 || this.ended(), ms);
    this.checkQuiet();
  }

  async refresh(timeoutMs = this.context.timeoutMs): Promise<RefreshReason> {
    checkMs(timeoutMs, 'refresh');
    await this.until(() => this.ended(), timeoutMs);
    if (this.refreshed !== undefined) return this.refreshed;
    if (this.failure !== undefined) throw new HarnessError(`GET ${this.path}: ${describeFailure(this.failure)}`);
    throw new HarnessError(`GET ${this.path}: no refresh within ${timeoutMs} ms${this.seen()}`);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake();
    const current = this.inFlight;
    current?.abort.abort();
    await current?.done;
  }

  private ended(): boolean {
    return this.refreshed !== undefined || this.failure !== undefined || this.closed;
  }

  /** The error `next()` and `nothing()` throw once the page no longer receives messages. */
  private endedError(): HarnessError | undefined {
    if (this.refreshed !== undefined) {
      return new HarnessError(
        `GET ${this.path} was told to refresh (${this.refreshed}): a browser would reload the page${this.seen()}`,
      );
    }
    if (this.failure !== undefined) return new HarnessError(`GET ${this.path}: ${describeFailure(this.failure)}`);
    if (this.closed) return new HarnessError(`GET ${this.path}: the page is closed`);
    return undefined;
  }

  private checkQuiet(): void {
    const [first] = this.queue;
    if (first !== undefined) {
      throw new HarnessError(
        `GET ${this.path}: expected no message, got ${this.queue.length}: ${this.queue.map(describe).join('; ')}`,
      );
    }
    const ended = this.endedError();
    if (ended !== undefined) throw ended;
  }

  /** What the page received, for the messages of failed expectations. */
  private seen(): string {
    if (this.messages.length === 0) return ' (it received no message)';
    return ` (received so far: ${this.messages.map(describe).join('; ')})`;
  }

  private loop(): void {
    void (async () => {
      while (!this.ended()) await this.poll();
    })();
  }

  private async poll(): Promise<void> {
    const abort = new AbortController();
    let finish = () => {};
    this.inFlight = { abort, done: new Promise<void>((resolve) => (finish = resolve)) };
    const query = new URLSearchParams({ token: this.token });
    if (this.cursor !== undefined) query.set('cursor', this.cursor);
    const cookie = this.context.cookie();
    try {
      const response = await this.context.inject({
        method: 'GET',
        path: `${this.context.pollPath}?${query}`,
        headers: cookie === undefined ? {} : { cookie },
        signal: abort.signal,
      });
      if (!this.closed) this.take(response.status, response.text);
    } catch (error) {
      if (!this.closed) {
        const message = error instanceof Error ? error.message : String(error);
        this.failure = { status: 0, code: 'HARNESS_REQUEST_FAILED', message: `the poll failed: ${message}` };
      }
    } finally {
      finish();
      this.wake();
    }
  }

  private take(status: number, text: string): void {
    if (status === 204) return;
    if (status !== 200) {
      this.failure = failureOf(status, text);
      return;
    }
    const { messages } = JSON.parse(text) as { messages: Message[] };
    for (const message of messages) {
      // Presence messages (push.presence()) carry no cursor: not what a harness page waits for.
      if ((message as { name: string }).name === 'presence') continue;
      if (message.name === 'refresh') {
        this.refreshed = (message as RefreshMessage).reason;
        return;
      }
      const change = message as ChangeMessage;
      this.cursor = change.cursor;
      this.messages.push(change as HarnessMessage<Events>);
      this.queue.push(change as HarnessMessage<Events>);
    }
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Resolves once `condition()` holds (checked at each event of the page), or after `ms`. */
  private until(condition: () => boolean, ms: number): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const check = () => condition() && done();
      const timer = setTimeout(done, ms);
      this.waiters.add(check);
    });
  }
}

function checkMs(ms: unknown, method: string): void {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)
    throw new TypeError(`page.${method}(): the wait must be a number of ms, got ${String(ms)}`);
}

function failureOf(status: number, text: string): Failure {
  try {
    const { error } = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof error?.code === 'string') return { status, code: error.code, message: String(error.message) };
  } catch {
    // Not the push endpoints' JSON: named by its status below.
  }
  return { status, code: 'HARNESS_UNEXPECTED_ANSWER', message: text.slice(0, 200) };
}

function describeFailure({ status, code, message }: Failure): string {
  return `the push side refused the page: ${status} ${code}: ${message}`;
}

function describe(message: ChangeMessage | HarnessMessage): string {
  return `${message.name} (${message.effect} ${message.model} ${JSON.stringify(message.id)})`;
}
