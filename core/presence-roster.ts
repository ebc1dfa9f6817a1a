// Who is present in which channel, as one push process knows it: every member with the push
// processes (origins) that hold a page of theirs, so that a member leaves when the last of them
// lets go, and a process that stops being heard from takes its members with it. Each origin's share
// is summed up (a count and a checksum) so that a process can tell that its view of another one
// drifted, from that process's heartbeat, and ask it for its members anew.

/** What the roster tells when a channel's member list changes. */
export interface RosterEvents {
  /** `id` joined `channel`: the first process that holds a page of theirs announced them. */
  joined(channel: string, id: string, data: string): void;
  /** `id` left `channel`: no process holds a page of theirs any more. */
  left(channel: string, id: string, data: string): void;
}

/** An origin's share of the roster, summed up as its heartbeats carry it. */
export interface Digest {
  readonly count: number;
  /** The XOR of the members' hashes (channel, id and data). */
  readonly sum: number;
}

interface Origin {
  /** When an entry of this origin was last read, ms since the epoch. */
  heard: number;
  /** Its members: `channel\0id` to the data it announced (JSON text). */
  readonly members: Map<string, string>;
  sum: number;
}

/** The presence roster of one push process. */
export class Roster {
  /** Channel to member id to the origins holding them, each with the data it announced. */
  private readonly channels = new Map<string, Map<string, Map<string, string>>>();
  private readonly origins = new Map<string, Origin>();
  private readonly events: RosterEvents;
  private readonly now: () => number;

  constructor(events: RosterEvents, now: () => number = Date.now) {
    this.events = events;
    this.now = now;
  }

  /** How many members `channel` has. */
  size(channel: string): number {
    return this.channels.get(channel)?.size ?? 0;
  }

  /** The members of `channel` in the order they joined, with the data of the first origin to announce each. */
  *members(channel: string): Generator<[id: string, data: string]> {
    for (const [id, holders] of this.channels.get(channel) ?? []) yield [id, holders.values().next().value!];
  }

  /** Whether `origin` announced `id` in `channel`. */
  holds(origin: string, channel: string, id: string): boolean {
    return this.origins.get(origin)?.members.has(key(channel, id)) === true;
  }

  /** Notes that `origin` was heard from now (any entry of it counts as a heartbeat). */
  heard(origin: string): void {
    this.origin(origin).heard = this.now();
  }

  /** `origin` holds a page of `id` in `channel`, showing `data`. */
  add(origin: string, channel: string, id: string, data: string): void {
    const share = this.origin(origin);
    const member = key(channel, id);
    if (share.members.has(member)) return;
    share.members.set(member, data);
    share.sum ^= hash(member, data);
    let ids = this.channels.get(channel);
    if (ids === undefined) this.channels.set(channel, (ids = new Map()));
    let holders = ids.get(id);
    if (holders === undefined) ids.set(id, (holders = new Map()));
    holders.set(origin, data);
    if (holders.size === 1) this.events.joined(channel, id, data);
  }

  /** `origin` holds no page of `id` in `channel` any more. */
  remove(origin: string, channel: string, id: string): void {
    const share = this.origins.get(origin);
    const member = key(channel, id);
    const data = share?.members.get(member);
    if (share === undefined || data === undefined) return;
    share.members.delete(member);
    share.sum ^= hash(member, data);
    const ids = this.channels.get(channel)!;
    const holders = ids.get(id)!;
    holders.delete(origin);
    if (holders.size > 0) return;
    ids.delete(id);
    if (ids.size === 0) this.channels.delete(channel);
    this.events.left(channel, id, data);
  }

  /** Drops every member `origin` announced (it sends its members anew, or it is gone). */
  reset(origin: string): void {
    const share = this.origins.get(origin);
    if (share === undefined) return;
    for (const member of [...share.members.keys()]) {
      const at = member.indexOf('\u0000');
      this.remove(origin, member.slice(0, at), member.slice(at + 1));
    }
  }

  /** Forgets `origin` and its members: it said it stopped. */
  forget(origin: string): void {
    this.reset(origin);
    this.origins.delete(origin);
  }

  /** `origin`'s share as this roster knows it. */
  digest(origin: string): Digest {
    const share = this.origins.get(origin);
    return { count: share?.members.size ?? 0, sum: (share?.sum ?? 0) >>> 0 };
  }

  /**
   * Forgets, with their members, the origins other than `self` not heard from since `before`
   * (ms since the epoch). Returns how many it forgot.
   */
  expire(before: number, self: string): number {
    let expired = 0;
    for (const [origin, share] of [...this.origins]) {
      if (origin === self || share.heard >= before) continue;
      if (share.members.size > 0) expired += 1;
      this.forget(origin);
    }
    return expired;
  }

  private origin(origin: string): Origin {
    let share = this.origins.get(origin);
    if (share === undefined) {
      share = { heard: this.now(), members: new Map(), sum: 0 };
      this.origins.set(origin, share);
    }
    return share;
  }
}

function key(channel: string, id: string): string {
  return `${channel}\u0000${id}`;
}

/** FNV-1a over a member and its data: 32 bits, XORed into its origin's checksum. */
export function hash(member: string, data: string): number {
  let value = 0x811c9dc5;
  const text = `${member}\u0000${data}`;
  for (let at = 0; at < text.length; at += 1) {
    value ^= text.charCodeAt(at);
    value = Math.imul(value, 0x01000193);
  }
  return value >>> 0;
}
