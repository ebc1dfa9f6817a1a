// The client transport contract. A client transport moves messages from the server to the client and
// nothing else. It reads the pages and cursors to resume from through the session, hands every response's
// messages over in order, and says how its connection is doing: `connected()` after each good
// response, `retrying()` when it will try again on its own (it does the waiting, with
// `backoffDelay`), `failed()` when retrying cannot help. Validating messages, skipping duplicates,
// dispatching events and reloading on `refresh` belong to the client (`../index.ts`), so every
// transport gets them the same way.

import type { Backoff } from '../backoff.ts';
import { isObject, type PushClientError } from '../errors.ts';
import type { TransportName } from '../../core/types.ts';
import type { ClientGlobals } from '../globals.ts';

/** A page on a connection of many: its key, its token, and the cursor to resume it from. */
export interface PageRef {
  readonly key: string;
  readonly token: string;
  readonly cursor: string | undefined;
}

/** What a transport is given when the client opens it. */
export interface TransportSession {
  /** The transport's endpoint, `{base}/{name}`, absolute. */
  readonly url: string;
  readonly globals: ClientGlobals;
  readonly backoff: Backoff;
  /**
   * The query string that names the connection's pages and where each resumes, read anew for each
   * request: `token=…[&cursor=…]` for one page, `p=<key>~<cursor>~<token>&…` for many, `mux=1`
   * for a WebSocket of many (whose pages are added by frames).
   */
  query(): string;
  /** For a WebSocket of many pages: the pages it must carry, which it adds and removes by frames. */
  readonly pages?: (() => readonly PageRef[]) | undefined;
  /**
   * For a connection of many pages: `listener` is called when pages are added or removed. An HTTP
   * transport then starts its request anew; a WebSocket sends frames.
   */
  readonly onPagesChange?: ((listener: () => void) => void) | undefined;
  /**
   * Hands over one frame, parsed but unvalidated: `{ messages }` for one page, `{ pages, errors }`
   * for many. May close the transport.
   */
  receive(frame: Readonly<Record<string, unknown>>): void;
  /** A request succeeded. */
  connected(): void;
  /** A request failed and the transport will retry by itself. */
  retrying(error: PushClientError): void;
  /** A request failed and retrying cannot help. The client closes the transport. */
  failed(error: PushClientError): void;
}

/** Whether a parsed body is a frame: `{ messages: [...] }` or `{ pages?: {...}, errors?: {...} }`. */
export function isFrame(body: unknown): body is Readonly<Record<string, unknown>> {
  if (!isObject(body)) return false;
  if (Array.isArray(body['messages'])) return true;
  const { pages, errors } = body;
  return (
    (pages !== undefined || errors !== undefined) &&
    (pages === undefined || isObject(pages)) &&
    (errors === undefined || isObject(errors))
  );
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
