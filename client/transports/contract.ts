// The client transport contract. A client transport moves messages from the server to the client and
// nothing else. It reads the cursor to resume from through the session, hands every response's
// messages over in order, and says how its connection is doing: `connected()` after each good
// response, `retrying()` when it will try again on its own (it does the waiting, with
// `backoffDelay`), `failed()` when retrying cannot help. Validating messages, skipping duplicates,
// dispatching events and reloading on `refresh` belong to the client (`../index.ts`), so every
// transport gets them the same way.

import type { Backoff } from '../backoff.ts';
import type { PushClientError } from '../errors.ts';
import type { TransportName } from '../../core/types.ts';
import type { ClientGlobals } from '../globals.ts';

/** What a transport is given when the client opens it. */
export interface TransportSession {
  /** The transport's endpoint, `{base}/{name}`, absolute. */
  readonly url: string;
  readonly token: string;
  readonly globals: ClientGlobals;
  readonly backoff: Backoff;
  /** The cursor of the last message the client received, to resume from. */
  cursor(): string | undefined;
  /** Hands over one response's messages, in order, unvalidated. May close the transport. */
  receive(messages: readonly unknown[]): void;
  /** A request succeeded. */
  connected(): void;
  /** A request failed and the transport will retry by itself. */
  retrying(error: PushClientError): void;
  /** A request failed and retrying cannot help. The client closes the transport. */
  failed(error: PushClientError): void;
}

/**
 * What a transport needs to reach a push server on another origin: `'cors'` (the server's CORS
 * allow-list, or else the proxy), `'origin'` (WebSocket: the server's Origin check, else the
 * proxy), `'any'` (JSONP: nothing).
 */
export type Reach = 'cors' | 'origin' | 'any';

/** The browser half of a transport. */
export interface ClientTransport {
  /** The registry key, also the URL segment under `base`. */
  readonly name: TransportName;
  /** What it needs to go cross-origin. Default: `'cors'`. */
  readonly reach?: Reach;
  /** Whether this transport can run with these globals (for example, it needs `EventSource`). */
  supported(globals: ClientGlobals): boolean;
  /** Starts delivering; returns a function that stops for good and aborts any request. */
  open(session: TransportSession): () => void;
}
