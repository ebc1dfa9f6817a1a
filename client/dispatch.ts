// How messages reach the page: DOM events on `document`, and jQuery events for pages written for
// django-serverpush, whose handlers read `function (event, data)`.

import type { ChangeMessage, RefreshMessage } from '../core/types.ts';
import type { PushClientError } from './errors.ts';
import type { ClientGlobals } from './globals.ts';

/**
 * The `serverpush:<name>` event of a change message: `detail` is the payload (`message.data`),
 * and `message` the whole message, for its `effect`, `op`, `model`, `id` and `cursor`. `Data` is
 * the payload's type, as the app declares it (`ServerpushEvents`). Cancelable: `preventDefault()`
 * keeps the client from applying the change to the page's live elements.
 */
export interface PushEvent<Data = unknown> extends CustomEvent<Data> {
  readonly message: ChangeMessage;
}

/** The detail of the cancelable `serverpush:refresh` event. */
export interface RefreshDetail {
  /** Why the server cannot bring the page up to date: `'history'`, `'shutdown'`… */
  readonly reason: string;
}

/**
 * Dispatches the cancelable `serverpush:<name>` on `document` and triggers jQuery's
 * `serverpush_<name>`. Returns the event, cancelled (`defaultPrevented`) also when a jQuery handler
 * prevented its own event's default.
 */
export function dispatchChange(globals: ClientGlobals, message: ChangeMessage): PushEvent {
  const event = new globals.window.CustomEvent(`serverpush:${message.name}`, {
    detail: message.data,
    cancelable: true,
  });
  Object.defineProperty(event, 'message', { value: message, enumerable: true });
  globals.document.dispatchEvent(event);
  if (!triggerJQuery(globals, `serverpush_${message.name}`, message.data)) event.preventDefault();
  return event as PushEvent;
}

/**
 * Dispatches the cancelable `serverpush:refresh` and jQuery's `serverpush_refresh`. Returns
 * whether the page should reload: `false` when a listener called `preventDefault()` on either.
 */
export function dispatchRefresh(globals: ClientGlobals, message: RefreshMessage): boolean {
  const detail: RefreshDetail = { reason: message.reason };
  const event = new globals.window.CustomEvent('serverpush:refresh', { detail, cancelable: true });
  const reload = globals.document.dispatchEvent(event);
  return triggerJQuery(globals, 'serverpush_refresh', detail) && reload;
}

/** Dispatches a client event (`serverpush:connection`) on `document`. */
export function dispatchClientEvent(globals: ClientGlobals, type: string, detail: unknown): void {
  globals.document.dispatchEvent(new globals.window.CustomEvent(type, { detail }));
}

/**
 * Dispatches the cancelable `serverpush:error` on `document`. Returns `false` when a listener called
 * `preventDefault()`: the client then does not reload the page on a bad token.
 */
export function dispatchError(globals: ClientGlobals, error: PushClientError): boolean {
  return globals.document.dispatchEvent(
    new globals.window.CustomEvent('serverpush:error', { detail: error, cancelable: true }),
  );
}

/**
 * Triggers a jQuery event on `document` if the page has jQuery. Returns `false` when a handler
 * prevented its default. A handler's exception is reported, not thrown at the client.
 */
function triggerJQuery(globals: ClientGlobals, type: string, data: unknown): boolean {
  const jQuery = globals.window.jQuery;
  if (typeof jQuery !== 'function') return true;
  const event = jQuery.Event(type);
  try {
    // `[data]`, not `data`: jQuery spreads an array of extra parameters over the handler's
    // arguments, and an array payload must reach the handler as one argument.
    jQuery(globals.document).trigger(event, [data]);
  } catch (error) {
    globals.reportError(error);
  }
  return !event.isDefaultPrevented();
}
