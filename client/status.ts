// The connection state on the document, for CSS: `<html data-serverpush-state="…">`, and the
// transport in use as `data-serverpush-transport`. A stylesheet alone can then show "reconnecting…"
// or "updates stopped" (README, "Live pages without script").

import type { ClientGlobals } from './globals.ts';

/**
 * What `data-serverpush-state` says: the client's state, except that `closed` is `reloading` when a
 * fresh page is on its way (a refresh or a bad token reloads it, or it is navigating away), and
 * `stopped` when updates stopped for good and nothing will replace the page by itself.
 */
export type PageStatus = 'connecting' | 'connected' | 'reconnecting' | 'reloading' | 'stopped';

/** The attribute on `<html>` that carries the state. */
export const stateAttribute = 'data-serverpush-state';
/** The attribute on `<html>` that names the transport in use once connected. */
export const transportAttribute = 'data-serverpush-transport';

/** Shows `status` on the document's root element; with `transport`, names it too. */
export function showStatus(globals: ClientGlobals, status: PageStatus, transport?: string): void {
  const root = globals.document.documentElement;
  if (root === null) return;
  root.setAttribute(stateAttribute, status);
  if (transport !== undefined) root.setAttribute(transportAttribute, transport);
}
