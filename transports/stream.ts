// The loop behind the streaming transports (SSE, WebSocket): one page's messages as batches, each
// batch acknowledging the one before, until the page is told to refresh or the client goes away.

import type { PushEndpoint } from '../core/transport.ts';
import type { Message } from '../core/types.ts';

/** Options of `batches()`. */
export interface BatchOptions {
  /** How long to wait for messages before yielding an empty batch (a heartbeat), in ms. */
  readonly idleMs: number;
  readonly signal: AbortSignal;
}

/**
 * Yields the page's messages in batches, in order: an empty batch after `idleMs` without any, so
 * the transport can send a heartbeat. Every batch after the first acknowledges the batch before it:
 * the client is assumed to have received what was written (if it did not, it reconnects with the
 * cursor it holds and the mailbox, or the log, replays from there). Ends after a `refresh` message
 * or when `signal` aborts. Throws the `PushError` of a bad token or cursor from the first poll.
 *
 * @example
 * for await (const batch of batches(push, token, cursor, { idleMs: 15_000, signal })) send(batch);
 */
export async function* batches(
  push: PushEndpoint,
  token: string,
  cursor: string | undefined,
  options: BatchOptions,
): AsyncGenerator<Message[]> {
  let position = cursor;
  while (!options.signal.aborted) {
    const messages = await push.poll(token, position, { waitMs: options.idleMs, signal: options.signal });
    if (options.signal.aborted) return;
    yield messages;
    for (const message of messages) {
      if (message.name === 'refresh') return;
      if ('cursor' in message) position = message.cursor;
    }
  }
}
