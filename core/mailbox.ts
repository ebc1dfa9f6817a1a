// A page's mailbox: the changes that concern the page and that no connection has been handed yet,
// in log order, each slot filled once its serializations settle. A slot leaves the mailbox when a
// connection takes it; what a client did not receive it asks for again by its cursor, and the page
// is then served from the log (see ./pages.ts). ("Session" means the app's login session only.)

import createDebug from 'debug';
import type { ChangeTrace } from './debug-change.ts';
import { changeDelivery, refreshDelivery, type Delivery } from './delivery.ts';
import { matchesRow } from './hub.ts';
import type { Rendered } from './fragment.ts';
import type { Observation } from './observe.ts';
import { isThenable, skipped, type CompiledSpec } from './serialize.ts';
import type { Change, ChangeMessage, Effect, PushContext, RefreshReason } from './types.ts';

const debug = createDebug('serverpush:mailbox');

/** What one change's routing shares between the pages it concerns. */
export interface Routing {
  /** Serializations (or their promises) by share key. */
  readonly serialized: Map<string, unknown>;
  /** Encoded messages by share key, name and effect. */
  readonly encoded: Map<string, Delivery>;
  /** Set while `DEBUG=serverpush:change` is on: what became of the change, page by page. */
  trace?: ChangeTrace | undefined;
}

/** A fresh routing, for one change. */
export function routing(): Routing {
  return { serialized: new Map(), encoded: new Map(), trace: undefined };
}

/** Decides whether the viewer may see a change at all; `false` or a throw drops it for the page. */
export type Authorize = (ctx: PushContext<unknown>, change: Change) => boolean | Promise<boolean>;

/** Options the push instance gives each mailbox. */
export interface MailboxOptions {
  readonly compare: (a: string, b: string) => number;
  /** Past this many changes waiting, `deliver()` reports an overflow instead of taking more. */
  readonly maxPending: number;
  /** Past this many bytes of messages waiting, the mailbox reports an overflow. */
  readonly maxPendingBytes: number;
  readonly authorize?: Authorize | undefined;
  /** Whoever watches the push instance (`push.observe()`). */
  readonly observation?: Observation | undefined;
}

/** What a mailbox tells its owner; one object for every mailbox of a push instance. */
export interface MailboxHooks<Owner> {
  /** Deliveries became ready to take. */
  ready(owner: Owner): void;
  /** More changes wait than `maxPending`. */
  overflow(owner: Owner): void;
}

interface Slot {
  readonly cursor: string;
  /**
   * The change's messages: one, several, or `null` for none (dropped by `authorize`, or every
   * serializer threw); `undefined` while a serializer or `authorize` is still settling.
   */
  out: Delivery | Delivery[] | null | undefined;
  /** Set while nobody holds the page: what to serialize once someone does. */
  deferred: { readonly change: Change; readonly specs: readonly CompiledSpec[]; readonly shared: Routing } | undefined;
  /** The bytes of its messages, once serialized. */
  bytes: number;
}

/** The changes waiting for one page. */
export class Mailbox {
  /** The viewer's context and the page's specs, as of the last (re)validation. */
  ctx: PushContext<unknown>;
  specs: readonly CompiledSpec[];
  /** The newest cursor handed to a connection or acknowledged by the client: nothing up to it is kept. */
  written: string;
  /** Set when the page was told to refresh: the last thing it receives. */
  ended: Delivery | undefined;
  private slots: Slot[] = [];
  /** Slots before this index were taken (kept until compaction, so taking is O(1)). */
  private first = 0;
  /**
   * Whether `written` may be ahead of the changes this process's tail has routed (it came from a
   * client, which may have got it from another process) or the history read from the log may be
   * ahead of the tail: then a live change is compared with both. Once a live change is past them,
   * the tail's order alone places the next ones.
   */
  private mayLead = true;
  /**
   * Whether a connection holds the page. While none does, changes are kept but not serialized: a
   * page no client reads costs no serializer calls until one comes back.
   */
  private holding = false;
  /** The bytes of the serialized messages waiting. */
  private bytes = 0;
  private readonly options: MailboxOptions;
  /** Whom `hooks` are called for: the page (one object shared by every mailbox, not closures each). */
  private readonly owner: object;
  private readonly hooks: MailboxHooks<object>;

  constructor(
    ctx: PushContext<unknown>,
    specs: readonly CompiledSpec[],
    from: string,
    options: MailboxOptions,
    owner: object,
    hooks: MailboxHooks<object>,
  ) {
    this.ctx = ctx;
    this.specs = specs;
    this.written = from;
    this.options = options;
    this.owner = owner;
    this.hooks = hooks;
  }

  /** Deliveries became ready to take. */
  private ready(): void {
    this.hooks.ready(this.owner);
  }

  /** More changes wait than `maxPending`. */
  private overflow(): void {
    this.hooks.overflow(this.owner);
  }

  /** How many changes wait. */
  get size(): number {
    return this.slots.length - this.first;
  }

  /** Whether the oldest waiting change is still being serialized (nothing after it can go before it). */
  get settling(): boolean {
    return this.first < this.slots.length && this.slots[this.first]!.out === undefined;
  }

  /** Whether something is ready to take. */
  get hasReady(): boolean {
    return this.ended !== undefined || (this.first < this.slots.length && this.slots[this.first]!.out !== undefined);
  }

  /**
   * Takes a slot for `change` and fills it with the messages of the matching `specs`, in order.
   * Changes up to `written`, or held already, are ignored, so replay and live delivery may overlap.
   * `live` changes come from the tail, in log order, after the page's history was read: each is
   * newer than every slot, so it is placed without comparing cursors.
   */
  deliver(change: Change, specs: readonly CompiledSpec[], shared: Routing, live = false): void {
    if (this.ended !== undefined) return;
    const { compare } = this.options;
    let at = this.slots.length;
    if (!live || this.mayLead) {
      if (compare(change.cursor, this.written) <= 0) return;
      while (at > this.first && compare(this.slots[at - 1]!.cursor, change.cursor) >= 0) {
        if (this.slots[at - 1]!.cursor === change.cursor) return;
        at -= 1;
      }
      // Past everything the page holds, history included: from here the tail's order places the
      // next ones. One the history already held says nothing of those after it.
      if (live && at === this.slots.length) this.mayLead = false;
    }
    if (this.slots.length - this.first >= this.options.maxPending) return this.overflow();
    const slot: Slot = { cursor: change.cursor, out: undefined, deferred: undefined, bytes: 0 };
    if (at === this.slots.length) this.slots.push(slot);
    else this.slots.splice(at, 0, slot);
    if (this.holding) {
      shared.trace?.begin();
      this.fill(slot, change, specs, shared);
    } else {
      shared.trace?.waiting();
      slot.deferred = { change, specs, shared };
    }
  }

  /**
   * Says whether a connection holds the page. Taken hold of, the changes that waited are serialized,
   * in order.
   */
  hold(holding: boolean): void {
    if (this.holding === holding) return;
    this.holding = holding;
    if (!holding) return;
    for (let at = this.first; at < this.slots.length; at += 1) {
      const slot = this.slots[at]!;
      const { deferred } = slot;
      if (deferred === undefined) continue;
      slot.deferred = undefined;
      // The change's debug line counted this page as waiting: what it gets now is not told twice.
      const { shared } = deferred;
      this.fill(
        slot,
        deferred.change,
        deferred.specs,
        shared.trace === undefined ? shared : { serialized: shared.serialized, encoded: shared.encoded },
      );
      // Filling may end the mailbox (too many bytes): then there is nothing left to fill.
      if (this.ended !== undefined) return;
    }
  }

  private fill(slot: Slot, change: Change, specs: readonly CompiledSpec[], shared: Routing): void {
    const allowed = this.authorized(change);
    if (isThenable(allowed)) {
      void Promise.resolve(allowed).then((yes) => this.serialize(slot, change, yes ? specs : [], shared));
      return;
    }
    this.serialize(slot, change, allowed ? specs : [], shared);
  }

  private serialize(slot: Slot, change: Change, specs: readonly CompiledSpec[], shared: Routing): void {
    if (specs.length === 1) {
      const payload = specs[0]!.serialize(change, shared.serialized);
      if (!isThenable(payload)) return this.settle(slot, change, specs, payload, shared);
      void Promise.resolve(payload).then((settled) => this.settle(slot, change, specs, settled, shared));
      return;
    }
    const payloads = specs.map((spec) => spec.serialize(change, shared.serialized));
    if (payloads.some(isThenable)) {
      void Promise.all(payloads).then((settled) => this.settle(slot, change, specs, settled, shared));
      return;
    }
    this.settle(slot, change, specs, payloads, shared);
  }

  private settle(slot: Slot, change: Change, specs: readonly CompiledSpec[], payloads: unknown, shared: Routing): void {
    // One spec: `payloads` is its payload, not in an array.
    let deliveries: Delivery | Delivery[] | null = null;
    const add = (delivery: Delivery) => {
      if (deliveries === null) deliveries = delivery;
      else if (Array.isArray(deliveries)) deliveries.push(delivery);
      else deliveries = [deliveries, delivery];
    };
    for (let index = 0; index < specs.length; index += 1) {
      const payload = specs.length === 1 ? payloads : (payloads as readonly unknown[])[index];
      if (payload === skipped) continue;
      const spec = specs[index]!;
      // Pages whose specs have one signature get one message: found without working out the effect.
      const { signature } = spec;
      const same = signature === undefined ? undefined : shared.encoded.get(signature);
      if (same !== undefined) {
        add(same);
        continue;
      }
      // A fragment's render decides the effect (a row its viewer may not see leaves); else the params do.
      const effect = spec.rendered ? (payload as Rendered).effect : effectOf(spec, change);
      const data = spec.rendered ? (payload as Rendered).data : payload;
      // Pages whose spec shares its serialization, name and effect share the encoded message too.
      const key = spec.encodingKeys?.[effect];
      let delivery = key === undefined ? undefined : shared.encoded.get(key);
      if (delivery === undefined) {
        const message: ChangeMessage = {
          cursor: change.cursor,
          name: spec.name,
          op: change.op,
          effect,
          model: change.model,
          id: change.id,
          data,
        };
        delivery = changeDelivery(message, change.at);
        if (key !== undefined) shared.encoded.set(key, delivery);
      }
      if (signature !== undefined) shared.encoded.set(signature, delivery);
      add(delivery);
    }
    slot.out = deliveries;
    // No specs left means `authorize` said no; specs that gave nothing were dropped by their serializers.
    if (specs.length === 0) this.options.observation?.sink?.authorizeDropped?.(this.ctx);
    shared.trace?.settle(specs.length === 0 ? 'authorize' : deliveries === null ? 'serializer' : 'delivered');
    if (deliveries !== null) {
      const list: readonly Delivery[] = Array.isArray(deliveries) ? deliveries : [deliveries];
      for (const delivery of list) slot.bytes += delivery.json.length;
      this.bytes += slot.bytes;
      if (this.bytes > this.options.maxPendingBytes) return this.overflow();
    }
    // A slot that produced nothing (dropped by authorize, every serializer threw) is taken empty.
    if (this.hasReady) this.ready();
  }

  private authorized(change: Change): boolean | Promise<boolean> {
    const { authorize } = this.options;
    if (authorize === undefined) return true;
    const dropped = (error: unknown) => {
      debug('authorize threw for a page of %s, dropping the change: %O', this.ctx.path, error);
      return false;
    };
    try {
      const allowed = authorize(this.ctx, change);
      return isThenable(allowed) ? Promise.resolve(allowed).then((yes) => yes === true, dropped) : allowed === true;
    } catch (error) {
      return dropped(error);
    }
  }

  /** Takes the viewer's context and specs from a revalidation; changes from now on use them. */
  reset(ctx: PushContext<unknown>, specs: readonly CompiledSpec[]): void {
    this.ctx = ctx;
    this.specs = specs;
  }

  /** Ends the page with a refresh: the only thing it hands out from now on. */
  end(reason: RefreshReason): void {
    if (this.ended !== undefined) return;
    this.ended = refreshDelivery(reason);
    this.slots = [];
    this.first = 0;
    this.bytes = 0;
    this.ready();
  }

  /** Drops every change up to `cursor`: the client has them. */
  acknowledge(cursor: string): void {
    const { compare } = this.options;
    if (compare(cursor, this.written) > 0) {
      this.written = cursor;
      this.mayLead = true;
    }
    while (this.first < this.slots.length && compare(this.slots[this.first]!.cursor, this.written) <= 0)
      this.first += 1;
    this.compact();
  }

  /**
   * Takes the ready deliveries, oldest first, up to the first change still being serialized, and
   * moves `written` past them; after a refresh, the refresh alone.
   */
  take(into: Delivery[]): void {
    if (this.ended !== undefined) {
      into.push(this.ended);
      return;
    }
    while (this.first < this.slots.length) {
      const slot = this.slots[this.first]!;
      const { out } = slot;
      if (out === undefined) break;
      if (Array.isArray(out)) for (const delivery of out) into.push(delivery);
      else if (out !== null) into.push(out);
      // A change that gave this page nothing moves nothing: the client's cursor will not be past
      // it, and a client that comes back at its cursor is still served from here, not the log.
      if (out !== null) this.written = slot.cursor;
      this.bytes -= slot.bytes;
      this.first += 1;
    }
    this.compact();
  }

  private compact(): void {
    if (this.first === this.slots.length) {
      this.slots = [];
      this.first = 0;
    } else if (this.first > 64 && this.first * 2 > this.slots.length) {
      this.slots = this.slots.slice(this.first);
      this.first = 0;
    }
  }
}

/** Whether the row entered the spec's filter, stayed in it, or left it. */
function effectOf(spec: CompiledSpec, change: Change): Effect {
  const after = change.after !== null && matchesRow(spec, change.after);
  const before = change.before !== null && change.before !== undefined && matchesRow(spec, change.before);
  if (after && before) return 'update';
  return after ? 'enter' : 'leave';
}
