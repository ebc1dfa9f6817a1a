// Transport sessions of the one-page protocol, for tests that drive a client transport directly.

import type { TransportSession } from '../../client/transports/contract.ts';

/** The `query` of a session carrying the page of `token`, resuming after `cursor()`. */
export function onePage(token: string, cursor: () => string | undefined): Pick<TransportSession, 'query'> {
  return {
    query() {
      const at = cursor();
      return `token=${encodeURIComponent(token)}${at === undefined ? '' : `&cursor=${encodeURIComponent(at)}`}`;
    },
  };
}

/** A `receive` that hands `receive` the messages of each one-page frame that has some. */
export function messagesOf(receive: (messages: readonly unknown[]) => void): TransportSession['receive'] {
  return (frame) => {
    const { messages } = frame;
    if (Array.isArray(messages) && messages.length > 0) receive(messages);
  };
}
