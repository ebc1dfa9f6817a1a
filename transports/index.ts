// The transport registry: each name is the URL segment under the push prefix and the name of the
// client half in client/transports/. WebSocket is not in it: it needs the optional `ws` package, so
// it has an entry of its own (`serverpush/transports/websocket`) that only its users load.

/**
 * `longPoll()`, `sse()`, `jsonp()`, and `transports`, the factories by name.
 *
 * @module serverpush/transports
 */

import { jsonp } from './jsonp.ts';
import { longPoll } from './long-poll.ts';
import { sse } from './sse.ts';

export { jsonp, type JsonpOptions } from './jsonp.ts';
export { longPoll, type LongPollOptions } from './long-poll.ts';
export { sse, type SseOptions } from './sse.ts';
export type { PushEndpoint, PushRequest, PushResponse, Transport } from '../core/transport.ts';
export type { TransportName } from '../core/types.ts';

/** Factories by transport name, for configuration by name (`['long-poll']`); `websocket` has its own entry. */
export const transports = {
  /** `longPoll()`: a request held until a change or its timeout. */
  'long-poll': longPoll,
  /** `jsonp()`: long-poll as a `<script>`, for any page on any origin. */
  jsonp,
  /** `sse()`: Server-Sent Events, one stream per connection. */
  sse,
} as const;
