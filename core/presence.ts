// Presence: who else is viewing. A route declares it with `push.presence(route, ctx => ({ channel,
// data }))`; each page of the route is then a member of its channel while a connection holds it
// (and `leaveDelayMs` after, so a reload or a reconnect is not a leave), and receives presence
// messages: the members on connect (`here`), then `join` and `leave`. Members are counted once per
// identity, across every push process that shares the change log: each process announces its
// members there (./presence-entries.ts) and keeps the roster of all of them (./presence-roster.ts),
// and heartbeats let a process that dies take its members with it within `expiryMs`.

import { createHmac } from 'node:crypto';
import createDebug from 'debug';
import type { ChangeLog } from './change-log.ts';
import type { Delivery } from './delivery.ts';
import type { Holder, Page, Pages } from './pages.ts';
import { createOpQueue, type PresenceOp, readPresence } from './presence-entries.ts';
import { Roster } from './presence-roster.ts';
import { checkSpec, type PresenceFunction, type Settings } from './presence-spec.ts';
import { isThenable } from './serialize.ts';
import type { Change, PresenceMember, PresenceMessage, PushContext } from './types.ts';

const debug = createDebug('serverpush:presence');

/** What `createPresence()` needs of its push instance. */
export interface PresenceHost {
  readonly log: ChangeLog;
  /** This push instance's id in the change log's control entries. */
  readonly instance: string;
  /** The token secret: member ids are keyed with it, so browsers never see identities. */
  readonly secret: string | Buffer;
  readonly settings: Settings;
  readonly onError: (error: unknown, where: string) => void;
}

/** The presence of one push instance. */
export interface Presence {
  /** Registers the presence function of the route named `route`; the first starts presence. */
  register(route: string, fn: PresenceFunction<never, never>): void;
  /** `pages`, with presence following each page's holders and revalidations. */
  track(pages: Pages): Pages;
  /** Applies a presence entry read from the change log. */
  receive(change: Change): void;
  /** The members of `channel`, across the processes sharing the log, in the order they joined. */
  members(channel: string): { readonly count: number; readonly members: PresenceMember[] };
  /** Tells the other processes this one's members are gone, and stops. */
  close(): Promise<void>;
}

/** A page of a route that declares presence. */
interface Viewing {
  readonly page: Page;
  /** Its channel, member id and data (JSON text); `undefined` while its presence function runs, or when it returned none. */
  channel: string | undefined;
  id: string;
  data: string;
  /** Whether it counts as a member now: held, or let go of less than `leaveDelayMs` ago. */
  present: boolean;
  /** The member ids its client was told of, `maxMembers` at most. */
  known: Set<string>;
  queue: Delivery[];
  /** A `here` is owed, in place of the queue. */
  resync: boolean;
  /** A channel the client must forget (its presence function now names another, or none). */
  farewell: string | undefined;
  /** Whether a `join`, `leave` or `count` was handed to a connection since the last `here`. */
  told: boolean;
  holder: Holder | undefined;
  grace: NodeJS.Timeout | undefined;
  /** Bumped by each evaluation of its presence function: a late one gives way. */
  evaluation: number;
}

/** Messages that may wait for a page's client; past it they give way to a `here`. */
const maxQueued = 32;
/** Presence operations that may wait for the change log. */
const maxWaitingOps = 10_000;

/** Creates the presence of a push instance. It does nothing until a route declares presence. */
export function createPresence(host: PresenceHost): Presence {
  const { log, instance, secret, settings, onError } = host;
  const functions = new Map<string, PresenceFunction<never, never>>();
  const viewings = new Map<Page, Viewing>();
  /** The pages of each channel on this process. */
  const watchers = new Map<string, Set<Viewing>>();
  /** This process's members: `channel\0id` to the pages present as them. */
  const local = new Map<string, Set<Viewing>>();
  const roster = new Roster({
    joined: (channel, id, data) => tell(channel, 'join', id, data),
    left: (channel, id, data) => tell(channel, 'leave', id, data),
  });
  const queue = createOpQueue({ log, origin: instance, maxWaiting: maxWaitingOps, snapshot, onError });
  /** When this process last asked each other one for its members. */
  const asked = new Map<string, number>();
  let timers: NodeJS.Timeout[] = [];
  let closed = false;

  function start(): void {
    let heldSome = 0;
    const beat = setInterval(() => {
      const { count, sum } = roster.digest(instance);
      // A process without members beats on for one expiry period: a process that missed its last
      // leaves learns from the digest that it has none.
      if (count > 0) heldSome = Date.now();
      if (count > 0 || heldSome > Date.now() - settings.expiryMs) queue.push({ op: 'beat', count, sum });
    }, settings.heartbeatMs);
    const sweep = setInterval(sweepPages, Math.min(1_000, settings.heartbeatMs));
    beat.unref();
    sweep.unref();
    timers = [beat, sweep];
    // The others' members: every process that has some sends them.
    queue.push({ op: 'sync', target: null });
  }

  function sweepPages(): void {
    const expired = roster.expire(Date.now() - settings.expiryMs, instance);
    if (expired > 0)
      debug('%d push process(es) not heard from for %d ms: their members left', expired, settings.expiryMs);
    for (const viewing of viewings.values()) if (viewing.page.disposed) drop(viewing);
    for (const [origin, at] of asked) if (at < Date.now() - settings.expiryMs) asked.delete(origin);
  }

  /** Everything this process holds, for a process that asked, or in place of a queue too long. */
  function snapshot(): PresenceOp[] {
    const ops: PresenceOp[] = [{ op: 'reset' }];
    for (const pages of local.values()) {
      const { channel, id, data } = pages.values().next().value!;
      ops.push({ op: 'join', channel: channel!, id, data });
    }
    return ops;
  }

  // Messages to the pages of a channel: one encoding for all of them.

  function tell(channel: string, type: 'join' | 'leave', id: string, data: string): void {
    const pages = watchers.get(channel);
    if (pages === undefined) return;
    const count = roster.size(channel);
    let member: Delivery | undefined;
    let counted: Delivery | undefined;
    for (const viewing of pages) {
      if (viewing.resync) continue;
      const listed = type === 'join' ? viewing.known.size < settings.maxMembers : viewing.known.has(id);
      if (listed) {
        if (type === 'join') viewing.known.add(id);
        else viewing.known.delete(id);
        member ??= encode(
          `{"name":"presence","channel":${JSON.stringify(channel)},"type":"${type}","member":{"id":"${id}","data":${data}},"count":${count}}`,
        );
        enqueue(viewing, member);
      } else {
        counted ??= encode(`{"name":"presence","channel":${JSON.stringify(channel)},"type":"count","count":${count}}`);
        enqueue(viewing, counted);
      }
    }
  }

  function enqueue(viewing: Viewing, delivery: Delivery): void {
    if (viewing.queue.length >= maxQueued) {
      viewing.queue = [];
      viewing.resync = true;
    } else {
      viewing.queue.push(delivery);
    }
    viewing.page.holder?.ready();
  }

  /** The `here` of a page, from the roster as it is now; the members listed become those its client knows. */
  function here(viewing: Viewing): Delivery {
    const channel = viewing.channel!;
    viewing.known = new Set();
    let members = '';
    for (const [id, data] of roster.members(channel)) {
      if (viewing.known.size >= settings.maxMembers) break;
      viewing.known.add(id);
      members += `${members === '' ? '' : ','}{"id":"${id}","data":${data}}`;
    }
    return encode(
      `{"name":"presence","channel":${JSON.stringify(channel)},"type":"here","members":[${members}],"self":"${viewing.id}","count":${roster.size(channel)}}`,
    );
  }

  /** Whether a page has presence messages to hand over. */
  function waiting(viewing: Viewing): boolean {
    return (
      viewing.farewell !== undefined || (viewing.channel !== undefined && (viewing.resync || viewing.queue.length > 0))
    );
  }

  function side(viewing: Viewing) {
    return {
      get ready() {
        return waiting(viewing);
      },
      take(into: Delivery[]) {
        if (viewing.farewell !== undefined) {
          into.push(
            encode(
              `{"name":"presence","channel":${JSON.stringify(viewing.farewell)},"type":"here","members":[],"count":0}`,
            ),
          );
          viewing.farewell = undefined;
        }
        if (viewing.channel === undefined) return;
        if (viewing.resync) {
          into.push(here(viewing));
          viewing.resync = false;
          viewing.told = false;
          viewing.queue = [];
          return;
        }
        if (viewing.queue.length === 0) return;
        for (const delivery of viewing.queue) into.push(delivery);
        viewing.queue = [];
        viewing.told = true;
      },
    };
  }

  // A page's membership.

  function join(viewing: Viewing): void {
    if (viewing.present || viewing.channel === undefined) return;
    viewing.present = true;
    const { channel, id, data } = viewing;
    const member = `${channel}\u0000${id}`;
    let pages = local.get(member);
    if (pages === undefined) {
      local.set(member, (pages = new Set()));
      roster.add(instance, channel, id, data);
      queue.push({ op: 'join', channel, id, data });
    }
    pages.add(viewing);
    let channelPages = watchers.get(channel);
    if (channelPages === undefined) watchers.set(channel, (channelPages = new Set()));
    channelPages.add(viewing);
    viewing.resync = true;
    viewing.queue = [];
    viewing.page.holder?.ready();
  }

  function leave(viewing: Viewing): void {
    clearTimeout(viewing.grace);
    viewing.grace = undefined;
    if (!viewing.present || viewing.channel === undefined) return;
    viewing.present = false;
    const { channel, id } = viewing;
    const channelPages = watchers.get(channel);
    channelPages?.delete(viewing);
    if (channelPages?.size === 0) watchers.delete(channel);
    const member = `${channel}\u0000${id}`;
    const pages = local.get(member);
    pages?.delete(viewing);
    if (pages?.size === 0) {
      local.delete(member);
      roster.remove(instance, channel, id);
      queue.push({ op: 'leave', channel, id });
    }
  }

  function drop(viewing: Viewing): void {
    leave(viewing);
    viewing.evaluation += 1;
    viewings.delete(viewing.page);
  }

  /** Runs the page's presence function; joins, or moves, the page as it says. */
  async function evaluate(viewing: Viewing): Promise<void> {
    const evaluation = ++viewing.evaluation;
    const { ctx } = viewing.page.mailbox;
    const fn = ctx.route === undefined ? undefined : functions.get(ctx.route);
    let spec: { channel: string; data: string } | undefined;
    try {
      const returned = fn === undefined ? undefined : fn(ctx as PushContext<never, never>);
      spec = checkSpec(isThenable(returned) ? await returned : returned, ctx.route);
    } catch (error) {
      onError(error, `running the presence function of route "${ctx.route}"`);
      spec = undefined;
    }
    if (evaluation !== viewing.evaluation || closed) return;
    const id = spec === undefined ? '' : memberId(spec.channel, viewing.page);
    if (viewing.channel === spec?.channel && viewing.id === id && viewing.data === spec?.data) return;
    const was = viewing.channel;
    leave(viewing);
    if (was !== undefined && was !== spec?.channel) viewing.farewell = was;
    viewing.channel = spec?.channel;
    viewing.id = id;
    viewing.data = spec?.data ?? 'null';
    const { holder } = viewing.page;
    if (holder === undefined) return;
    join(viewing);
    if (waiting(viewing)) holder.ready();
  }

  /** A member id: keyed with the secret, so that browsers never see an identity. Anonymous pages are members each. */
  function memberId(channel: string, page: Page): string {
    const { identity } = page.claims;
    const who =
      identity === null || identity === undefined ? `page:${page.id}` : `identity:${JSON.stringify(identity)}`;
    return createHmac('sha256', secret).update(`presence\u0000${channel}\u0000${who}`).digest('base64url').slice(0, 22);
  }

  // Following the pages.

  function held(page: Page, holder: Holder): void {
    let viewing = viewings.get(page);
    if (viewing === undefined) {
      const route = page.mailbox.ctx.route;
      if (closed || route === undefined || !functions.has(route)) return;
      viewing = {
        page,
        channel: undefined,
        id: '',
        data: 'null',
        present: false,
        known: new Set(),
        queue: [],
        resync: false,
        farewell: undefined,
        told: false,
        holder,
        grace: undefined,
        evaluation: 0,
      };
      viewings.set(page, viewing);
      page.side = side(viewing);
      void evaluate(viewing);
      return;
    }
    clearTimeout(viewing.grace);
    viewing.grace = undefined;
    // What the previous connection was handed may not have reached the client: it gets the list anew.
    if (viewing.holder !== holder && viewing.told) {
      viewing.resync = true;
      viewing.queue = [];
    }
    viewing.holder = holder;
    join(viewing);
    if (waiting(viewing)) holder.ready();
  }

  function released(page: Page): void {
    const viewing = viewings.get(page);
    if (viewing === undefined || !viewing.present) return;
    clearTimeout(viewing.grace);
    if (settings.leaveDelayMs === 0) return leave(viewing);
    viewing.grace = setTimeout(() => {
      viewing.grace = undefined;
      if (page.holder === undefined || page.disposed) leave(viewing);
    }, settings.leaveDelayMs);
    viewing.grace.unref();
  }

  // What other processes say.

  function apply(origin: string, op: PresenceOp): void {
    switch (op.op) {
      case 'join':
        return roster.add(origin, op.channel, op.id, op.data);
      case 'leave':
        return roster.remove(origin, op.channel, op.id);
      case 'reset':
        return roster.reset(origin);
      case 'gone':
        return roster.forget(origin);
      case 'beat': {
        const { count, sum } = roster.digest(origin);
        if (count === op.count && sum === op.sum) return;
        // This view of `origin` drifted (an entry was lost, or this process started after it): ask it
        // for its members, once per expiry period at most.
        const now = Date.now();
        if ((asked.get(origin) ?? 0) > now - settings.expiryMs) return;
        asked.set(origin, now);
        debug('presence of %s: %d members here, %d there; asking it for them', origin, count, op.count);
        return queue.push({ op: 'sync', target: origin });
      }
      case 'sync':
        if (op.target === instance || (op.target === null && local.size > 0))
          for (const each of snapshot()) queue.push(each);
        return;
    }
  }

  return {
    register(route, fn) {
      if (typeof route !== 'string' || route === '')
        throw new TypeError('presence(): the route name must be a non-empty string');
      if (typeof fn !== 'function')
        throw new TypeError(`presence("${route}"): the presence function must be a function`);
      if (functions.has(route)) throw new TypeError(`presence("${route}"): this route has a presence function already`);
      const first = functions.size === 0;
      functions.set(route, fn);
      if (first && !closed) start();
    },
    track(pages) {
      return {
        ...pages,
        async attach(claims, from, binding, holder) {
          const attached = await pages.attach(claims, from, binding, holder);
          if (functions.size > 0 && attached.page.holder === holder) held(attached.page, holder);
          return attached;
        },
        detach(page, holder) {
          const holding = page.holder === holder;
          pages.detach(page, holder);
          if (holding) released(page);
        },
        async revalidate(page) {
          await pages.revalidate(page);
          const viewing = viewings.get(page);
          if (viewing !== undefined) await evaluate(viewing);
        },
      };
    },
    receive(change) {
      if (functions.size === 0 || closed) return;
      const entry = readPresence(change);
      if (entry === undefined) return debug('malformed presence entry %O', change.after);
      if (entry.origin === instance) return;
      roster.heard(entry.origin);
      for (const op of entry.ops) apply(entry.origin, op);
    },
    members(channel) {
      const members: PresenceMember[] = [];
      for (const [id, data] of roster.members(channel)) members.push({ id, data: JSON.parse(data) as unknown });
      return { count: members.length, members };
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const timer of timers) clearInterval(timer);
      for (const viewing of viewings.values()) clearTimeout(viewing.grace);
      if (local.size > 0) {
        local.clear();
        queue.push({ op: 'gone' });
      }
      await queue.drain(1_000);
    },
  };
}

/** A presence message as the wire carries it: no cursor (presence is not part of the change log's order). */
function encode(json: string): Delivery {
  return { cursor: undefined, json };
}

export type { PresenceMessage };
