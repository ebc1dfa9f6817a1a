// Messages ready for the wire: each JSON-encoded once, its text shared by every page and every
// connection that carries it.

import type { ChangeMessage, RefreshMessage, RefreshReason } from './types.ts';

/** One message as the wire carries it. */
export interface Delivery {
  /** The cursor of the change it carries; `undefined` for a refresh. */
  readonly cursor: string | undefined;
  /** The message as JSON text. */
  readonly json: string;
  /** When the change log appended its change, ms since the epoch (for the time from append to write). */
  readonly at?: number | undefined;
  /** Why, for a refresh. */
  readonly reason?: RefreshReason | undefined;
}

/** The delivery of a change message, appended to the log at `at`. */
export function changeDelivery(message: ChangeMessage, at?: number): Delivery {
  return { cursor: message.cursor, json: JSON.stringify(message, bigintAsString), at };
}

const refreshes = new Map<RefreshReason, Delivery>();

/** The delivery of a refresh message (one per reason, shared). */
export function refreshDelivery(reason: RefreshReason): Delivery {
  let delivery = refreshes.get(reason);
  if (delivery === undefined) {
    const message: RefreshMessage = { name: 'refresh', reason };
    delivery = { cursor: undefined, json: JSON.stringify(message), reason };
    refreshes.set(reason, delivery);
  }
  return delivery;
}

/** Whether a delivery is a refresh: the last a page receives. (Presence messages carry no cursor either.) */
export function isRefresh(delivery: Delivery): boolean {
  return delivery.cursor === undefined && delivery.json.startsWith('{"name":"refresh"');
}

/**
 * The change and refresh messages of a batch of deliveries, decoded (for tests and the core's own
 * `poll()`); presence messages are left out.
 */
export function decode(deliveries: readonly Delivery[]): Array<ChangeMessage | RefreshMessage> {
  return deliveries
    .map((delivery) => JSON.parse(delivery.json) as ChangeMessage | RefreshMessage | { name: 'presence' })
    .filter((message): message is ChangeMessage | RefreshMessage => message.name !== 'presence');
}

// Payloads are the app's: a bigint column must not make the message unsendable.
function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
