// What a route declares of presence, and the options of presence: the types, and the checks that
// turn a presence function's result and `createPush({ presence })` into validated values.

import { positiveInteger } from './options.ts';
import { isChannel, maxDataLength } from './presence-entries.ts';
import type { PushContext } from './types.ts';

/** Where a page of a route is present, and what the others see of its viewer. */
export interface PresenceSpec<Data = unknown> {
  /** The channel: 1 to 200 characters, e.g. `list:7`. Pages in one channel see each other. */
  readonly channel: string;
  /**
   * What the channel's members see of this viewer, a JSON value of at most 1,024 characters
   * (e.g. `{ name: viewer.name }`; never the whole viewer). Default: `null`.
   */
  readonly data?: Data;
}

/**
 * Says where a page is present, given its viewer's context; `null` (or `undefined`) keeps the page
 * out of presence: it is not a member and it receives no presence messages (a viewer who may not
 * see a channel's members).
 */
export type PresenceFunction<Viewer = unknown, Identity = unknown> = (
  ctx: PushContext<Viewer, Identity>,
) => PresenceSpec | null | undefined | Promise<PresenceSpec | null | undefined>;

/** Options of presence, `createPush({ presence })`. */
export interface PresenceOptions {
  /** How often a push process with members says it is alive, through the change log, in ms. Default: `5_000`. */
  readonly heartbeatMs?: number | undefined;
  /**
   * How long after its last heartbeat a push process's members leave, on the others, in ms (it
   * died, or cannot reach the log). At least twice `heartbeatMs`. Default: `15_000`.
   */
  readonly expiryMs?: number | undefined;
  /** Members sent in full to a page, at most; past it pages get the count (`type: 'count'`). Default: `100`. */
  readonly maxMembers?: number | undefined;
  /**
   * How long a page stays a member after its connection let go of it, in ms, so that a reload,
   * a reconnect or the next long-poll is not a leave and a join. `0` leaves at once. Default: `2_000`.
   */
  readonly leaveDelayMs?: number | undefined;
}

/** Options of presence, validated. */
export interface Settings {
  readonly heartbeatMs: number;
  readonly expiryMs: number;
  readonly maxMembers: number;
  readonly leaveDelayMs: number;
}

/** Validates `createPush({ presence })`, throwing a `TypeError` that names the option. */
export function presenceSettings(options: PresenceOptions | undefined): Settings {
  if (options !== undefined && (typeof options !== 'object' || options === null))
    throw new TypeError('The `presence` option must be an object, e.g. { heartbeatMs: 5_000, expiryMs: 15_000 }');
  const heartbeatMs = positiveInteger(options?.heartbeatMs ?? 5_000, 'presence.heartbeatMs');
  const expiryMs = positiveInteger(options?.expiryMs ?? 15_000, 'presence.expiryMs');
  if (expiryMs < 2 * heartbeatMs) {
    throw new TypeError(
      `The \`presence.expiryMs\` option must be at least twice \`presence.heartbeatMs\` (${heartbeatMs}), got ${expiryMs}: one late heartbeat must not make members leave`,
    );
  }
  const maxMembers = positiveInteger(options?.maxMembers ?? 100, 'presence.maxMembers');
  const leaveDelayMs = options?.leaveDelayMs ?? 2_000;
  if (typeof leaveDelayMs !== 'number' || !Number.isSafeInteger(leaveDelayMs) || leaveDelayMs < 0)
    throw new TypeError(
      `The \`presence.leaveDelayMs\` option must be an integer of 0 or more, got ${String(leaveDelayMs)}`,
    );
  return { heartbeatMs, expiryMs, maxMembers, leaveDelayMs };
}

/** The channel and data (as JSON) of a presence function's result; throws a `TypeError` for a malformed one. */
export function checkSpec(returned: unknown, route: string | undefined): { channel: string; data: string } | undefined {
  if (returned === null || returned === undefined) return undefined;
  const where = `the presence function of route "${route}"`;
  if (typeof returned !== 'object')
    throw new TypeError(`${where} returned a ${typeof returned}; return { channel, data } or null`);
  const { channel, data } = returned as PresenceSpec;
  if (!isChannel(channel))
    throw new TypeError(`${where}: \`channel\` must be a string of 1 to 200 characters without control characters`);
  let json: string | undefined;
  try {
    json = JSON.stringify(data ?? null);
  } catch (error) {
    throw new TypeError(
      `${where}: \`data\` must be a JSON value (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  if (json === undefined) throw new TypeError(`${where}: \`data\` must be a JSON value`);
  if (json.length > maxDataLength)
    throw new TypeError(`${where}: \`data\` is ${json.length} characters as JSON; at most ${maxDataLength}`);
  return { channel, data: json };
}
