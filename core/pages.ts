// The pages a push process serves, one entry per page (keyed by the page id in its token): its
// mailbox, its subscriptions in the hub, and the connection that holds it now. A page is served
// from its mailbox while the client's cursor is one the mailbox can continue from; otherwise it is
// opened anew from the change log at that cursor. A page no connection holds is forgotten after a
// while, or as soon as its mailbox would overflow: its client, when it comes back, is served from
// the log.

import createDebug from 'debug';
import type { ChangeLog } from './change-log.ts';
import type { Delivery } from './delivery.ts';
import { traceChange } from './debug-change.ts';
import { PushError } from './errors.ts';
import { createHub, matchesChange, type Subscription } from './hub.ts';
import { Mailbox, routing, type MailboxHooks, type MailboxOptions } from './mailbox.ts';
import type { CompiledSpec } from './serialize.ts';
import type { PageClaims } from './token.ts';
import type { Change, PushContext, RefreshReason } from './types.ts';
import type { Viewers } from './viewer.ts';

const debug = createDebug('serverpush:pages');

/** How often a page may be served anew from the log, a minute, for a client behind what it was sent. */
const replaysPerMinute = 20;

/** Whoever holds a page: a connection, and the page's key on it. */
export interface Holder {
  /** Called when the page has deliveries ready to take. */
  ready(): void;
  /** Called when a newer connection took the page. */
  lost(): void;
}

/** Messages a page receives besides its changes (presence): handed over in the same frames, before them. */
export interface SideMessages {
  readonly ready: boolean;
  take(into: Delivery[]): void;
}

/** One page this process serves. */
export interface Page {
  readonly id: string;
  readonly claims: PageClaims;
  /** The value the page presented for its bound token, for `authenticate` on revalidation. */
  readonly binding: string | undefined;
  /** Set once its specs are subscribed and its history replayed. */
  readonly mailbox: Mailbox;
  /** The connection holding it now; `undefined` between two polls, or once its stream closed. */
  holder: Holder | undefined;
  /** When it was last let go of, ms since the epoch. */
  idleSince: number;
  /** Set when it was forgotten: holders let go of it, and its client is served anew. */
  disposed: boolean;
  /** Whether its history since the client's cursor has been read (the page is open). */
  replayed: boolean;
  /** The routing of the change last routed to it, to tell a page matched through several specs. */
  routing: unknown;
  /** Its presence messages, when its route declares presence (./presence.ts). */
  side: SideMessages | undefined;
}

interface Entry {
  readonly opening: Promise<Page>;
  page: Page | undefined;
  subscriptions: Subscription<Owner>[];
}

/** What a subscription in the hub points back to. */
interface Owner {
  readonly page: Page;
  readonly spec: CompiledSpec;
  readonly order: number;
  /** `[spec]`, made once: most changes match one spec of a page. */
  readonly alone: readonly CompiledSpec[];
}

/** The page registry of one push instance. */
export interface Pages {
  /**
   * Gives `holder` the page of `claims`, served from `from` (which the client acknowledges having):
   * the page open here when its mailbox can continue from `from`, else the page opened anew from the
   * log at `from` (`fresh`). The page's previous holder loses it.
   */
  attach(
    claims: PageClaims,
    from: string,
    binding: string | undefined,
    holder: Holder,
  ): Promise<{ page: Page; fresh: boolean }>;
  /** Lets go of `page` if `holder` still holds it. */
  detach(page: Page, holder: Holder): void;
  /** Hands a change to the mailboxes whose subscriptions it matches. */
  route(change: Change): void;
  /** Re-runs the viewer's update functions for `page` and puts its new specs into the hub. */
  revalidate(page: Page): Promise<void>;
  /** Ends `page` with a refresh. */
  end(page: Page, reason: RefreshReason): void;
  /** The open pages `filter` selects (not ended ones). */
  select(filter: (page: Page) => boolean): Page[];
  /** Forgets the pages nobody has held for `idleMs`. */
  sweep(idleMs: number): void;
  /** Forgets every page (shutdown). */
  clear(): void;
  stats(): { readonly pages: number; readonly subscriptions: number };
}

/** Creates the page registry of a push instance. */
export function createPages<Viewer>(
  log: ChangeLog,
  viewers: Viewers<Viewer>,
  options: MailboxOptions,
  maxPages = 100_000,
): Pages {
  const hub = createHub<Owner>();
  const entries = new Map<string, Entry>();
  /** When each page was last opened anew from the log for a client behind it, for the replay budget. */
  const reopened = new Map<string, number[]>();
  const hooks: MailboxHooks<object> = {
    ready: (page) => (page as Page).holder?.ready(),
    overflow: (page) => overflow(page as Page),
  };

  /** Puts a page's specs into the hub, in place of any it had. */
  function subscribe(entry: Entry, page: Page): Subscription<Owner>[] {
    for (const subscription of entry.subscriptions) hub.remove(subscription);
    entry.subscriptions = page.mailbox.specs.map(
      (spec, order): Subscription<Owner> => ({
        model: spec.model,
        equalities: spec.equalities,
        predicate: spec.predicate,
        owner: { page, spec, order, alone: [spec] },
      }),
    );
    for (const subscription of entry.subscriptions) hub.add(subscription);
    return entry.subscriptions;
  }

  function open(claims: PageClaims, from: string, binding: string | undefined): Entry {
    const entry: Entry = { opening: undefined as never, page: undefined, subscriptions: [] };
    const opening = (async () => {
      const { ctx, specs } = await viewers.specsFor(claims, binding);
      const page = {
        id: claims.page,
        claims,
        binding,
        holder: undefined,
        idleSince: Date.now(),
        disposed: false,
        replayed: false,
        routing: undefined,
        side: undefined,
      } as Omit<Page, 'mailbox'> as Page;
      (page as { mailbox: Mailbox }).mailbox = new Mailbox(
        ctx as PushContext<unknown>,
        specs,
        from,
        options,
        page,
        hooks,
      );
      entry.page = page;
      options.observation?.sink?.pageOpened?.(ctx);
      // Subscribe before reading history: a change appended meanwhile arrives by both ways, and the
      // mailbox keeps one copy of each cursor.
      const owned = subscribe(entry, page);
      const history = await log.since(from);
      if (!history.ok) {
        page.mailbox.end(history.reason);
      } else {
        for (const change of history.changes) {
          const matching = owned.filter((subscription) => matchesChange(subscription, change)).map((s) => s.owner.spec);
          if (matching.length > 0) page.mailbox.deliver(change, matching, routing());
        }
      }
      page.replayed = true;
      debug('page %s on %s: %d specs, from %s', claims.page, claims.path, specs.length, from);
      return page;
    })();
    (entry as { opening: Promise<Page> }).opening = opening;
    entries.set(claims.page, entry);
    opening.catch(() => entries.get(claims.page) === entry && dispose(claims.page));
    return entry;
  }

  /** Counts a re-opening of `id` from the log; throws `SERVERPUSH_ERR_LIMIT` past the budget. */
  function spendReplay(id: string): void {
    const now = Date.now();
    const times = (reopened.get(id) ?? []).filter((at) => at > now - 60_000);
    if (times.length >= replaysPerMinute) {
      throw new PushError(
        'SERVERPUSH_ERR_LIMIT',
        `a page may resume from behind what it was sent ${replaysPerMinute} times a minute`,
        {
          retryAfter: Math.ceil((times[0]! + 60_000 - now) / 1_000),
        },
      );
    }
    times.push(now);
    reopened.delete(id);
    reopened.set(id, times);
    // The oldest go first: the budget is kept for the pages seen lately.
    if (reopened.size > maxPages) reopened.delete(reopened.keys().next().value!);
  }

  // More changes wait than a page may hold. A page nobody holds is forgotten (its client, when it
  // comes back, is served from the log); one whose history alone is too long, or whose connection
  // cannot take them, is told to refresh.
  function overflow(page: Page) {
    if (page.holder === undefined && page.replayed) {
      debug('page %s: too many changes while nobody held it; forgotten until its client comes back', page.id);
      dispose(page.id);
    } else {
      page.mailbox.end('overflow');
    }
  }

  function dispose(id: string) {
    const entry = entries.get(id);
    if (entry === undefined) return;
    for (const subscription of entry.subscriptions) hub.remove(subscription);
    entries.delete(id);
    if (entry.page !== undefined) entry.page.disposed = true;
    options.observation?.sink?.pageDisposed?.(entry.page?.mailbox.ctx);
  }

  function pages(): Page[] {
    const open: Page[] = [];
    for (const entry of entries.values()) if (entry.page !== undefined) open.push(entry.page);
    return open;
  }

  return {
    async attach(claims, from, binding, holder) {
      for (let tries = 0; ; tries += 1) {
        let entry = entries.get(claims.page);
        let fresh = false;
        if (entry === undefined) {
          if (entries.size >= maxPages) {
            throw new PushError(
              'SERVERPUSH_ERR_BUSY',
              `this push process serves ${maxPages} pages (maxPages); retry later`,
              { retryAfter: 5 },
            );
          }
          entry = open(claims, from, binding);
          fresh = true;
        }
        const page = await entry.opening;
        // Forgotten or replaced while it opened: look again (a bounded number of times).
        if (page.disposed || entries.get(claims.page) !== entry) {
          if (tries < 3) continue;
          throw new Error(`page ${claims.page} was replaced while it opened, 3 times`);
        }
        const { mailbox } = page;
        if (mailbox.ended === undefined && options.compare(from, mailbox.written) < 0) {
          // The client lacks changes the page handed to an earlier connection: serve it from the log,
          // a few times a minute at most (a client alternating two cursors would make the process
          // read the log for each request).
          spendReplay(claims.page);
          debug('page %s resumes from %s, behind %s: opened anew', claims.page, from, mailbox.written);
          dispose(claims.page);
          continue;
        }
        if (mailbox.ended === undefined) mailbox.acknowledge(from);
        const previous = page.holder;
        page.holder = holder;
        if (previous !== undefined && previous !== holder) previous.lost();
        // Held again: the changes that waited unserialized while nobody held it are serialized now.
        mailbox.hold(true);
        if (mailbox.hasReady) holder.ready();
        return { page, fresh };
      }
    },

    detach(page, holder) {
      if (page.holder !== holder) return;
      page.holder = undefined;
      page.idleSince = Date.now();
      page.mailbox.hold(false);
    },

    route(change) {
      const matched = hub.match(change);
      const sink = options.observation?.sink;
      if (matched.length === 0) {
        sink?.changeRouted?.(change, 0, 0);
        traceChange(change, 0, 0)?.seal();
        return;
      }
      // One routing per change: viewers whose specs allow sharing get one serialization between
      // them, and pages that share a serialization share its encoded message.
      const shared = routing();
      // Most pages match through one spec; the few matched through several are grouped.
      let repeated: Set<Page> | undefined;
      let pageCount = 0;
      for (const { owner } of matched) {
        if (owner.page.routing === shared) (repeated ??= new Set()).add(owner.page);
        else {
          owner.page.routing = shared;
          pageCount += 1;
        }
      }
      const trace = traceChange(change, pageCount, matched.length);
      shared.trace = trace;
      const groups = repeated === undefined ? undefined : new Map<Page, Owner[]>();
      for (const { owner } of matched) {
        const { page } = owner;
        // Until its history is read, a page takes live changes as replayed ones: compared, not appended.
        if (groups === undefined || !repeated!.has(page))
          page.mailbox.deliver(change, owner.alone, shared, page.replayed);
        else groups.set(page, [...(groups.get(page) ?? []), owner]);
      }
      for (const [page, owners] of groups ?? []) {
        owners.sort((a, b) => a.order - b.order);
        page.mailbox.deliver(
          change,
          owners.map((owner) => owner.spec),
          shared,
          page.replayed,
        );
      }
      trace?.seal();
      sink?.changeRouted?.(change, pageCount, matched.length);
    },

    async revalidate(page) {
      const { ctx, specs } = await viewers.specsFor(page.claims, page.binding);
      const entry = entries.get(page.id);
      if (page.mailbox.ended !== undefined || entry?.page !== page) return;
      page.mailbox.reset(ctx as PushContext<unknown>, specs);
      subscribe(entry, page);
    },

    end(page, reason) {
      page.mailbox.end(reason);
    },

    select(filter) {
      return pages().filter((page) => page.mailbox.ended === undefined && filter(page));
    },

    sweep(idleMs) {
      const oldest = Date.now() - idleMs;
      for (const page of pages()) {
        if (page.holder === undefined && page.idleSince < oldest) dispose(page.id);
      }
    },

    clear() {
      for (const id of [...entries.keys()]) dispose(id);
    },

    stats() {
      return { pages: entries.size, subscriptions: hub.size };
    },
  };
}
