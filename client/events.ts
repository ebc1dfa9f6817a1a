// The types of the events the client dispatches on `document`, declared into the DOM's own
// `DocumentEventMap`, so that `document.addEventListener('serverpush:<name>', (event) => …)` is
// typed. Types only: nothing runs here. (`window.serverpush` is declared beside `PushClient`.)

import type { PushEvent, RefreshDetail } from './dispatch.ts';
import type { PushClientError } from './errors.ts';
import type { ConnectionDetail } from './page.ts';
import type { PresenceEvent } from './presence.ts';

/**
 * The payload of each change event, by spec name: empty here, for the app to fill in by declaration
 * merging. Its entries type `serverpush:<name>` events on `document` and `window.serverpush.on()`.
 *
 * @example
 * declare module 'serverpush/client' {
 *   interface ServerpushEvents {
 *     hits: { hits: number };
 *     message: string; // a fragment's HTML
 *   }
 * }
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by the app through declaration merging.
export interface ServerpushEvents {}

/**
 * The `data` of presence members in an event map: its `presence` entry (not a spec name: `presence`
 * is reserved), else `unknown`. `interface ServerpushEvents { presence: { name: string } }` types
 * `serverpush:presence` events; `connect<{ presence: { name: string } }>()` types `on('presence')`.
 */
export type PresenceDataOf<Events> = Events extends { readonly presence: infer Data } ? Data : unknown;

/**
 * The events the client dispatches on `document`: the client's own (`serverpush:refresh`,
 * `serverpush:connection`, `serverpush:error`), those the app declared in `ServerpushEvents`, and
 * any other `serverpush:<name>`, whose `detail` is `unknown` and whose `message` is there for
 * change events only (`undefined` on the client's own).
 */
export type ServerpushEventMap = {
  readonly [type: `serverpush:${string}`]: ServerpushEvent;
} & {
  readonly [Name in Exclude<keyof ServerpushEvents, 'presence'> as `serverpush:${Name & string}`]: PushEvent<
    ServerpushEvents[Name]
  >;
} & {
  readonly 'serverpush:presence': PresenceEvent<PresenceDataOf<ServerpushEvents>>;
  readonly 'serverpush:refresh': ClientEvent<RefreshDetail>;
  readonly 'serverpush:connection': ClientEvent<ConnectionDetail>;
  readonly 'serverpush:error': ClientEvent<PushClientError>;
};

/** An event of the client's own: no change message with it. */
export interface ClientEvent<Detail> extends CustomEvent<Detail> {
  readonly message?: undefined;
}

/** Any `serverpush:*` event. */
export type ServerpushEvent =
  | PushEvent
  | ClientEvent<RefreshDetail>
  | ClientEvent<ConnectionDetail>
  | ClientEvent<PushClientError>;

declare global {
  // Merged into the DOM's map, so that `document.addEventListener()` knows these events.
  interface DocumentEventMap extends ServerpushEventMap {}
}
