// The pages a push process serves: one entry per page (keyed by the page id in its token) holding
// its mailbox and its subscriptions in the hub. Opening a page subscribes it and replays the log
// since its cursor; an idle page is swept.

import createDebug from 'debug';
import type { ChangeLog } from './change-log.ts';
import { createHub, matchesChange, type Subscription } from './hub.ts';
import { Mailbox, type MailboxOptions } from './mailbox.ts';
import type { CompiledSpec } from './serialize.ts';
import type { PageClaims } from './token.ts';
import type { Change, PushContext } from './types.ts';
import type { Viewers } from './viewer.ts';

const debug = createDebug('serverpush:pages');

/** What a subscription in the hub points back to: the page's mailbox, and which of its specs. */
export interface Owner {
  readonly mailbox: Mailbox;
  readonly spec: CompiledSpec;
  readonly order: number;
}

interface Page {
  /** Resolves once the page's specs are subscribed and its history replayed. */
  opening: Promise<Mailbox> | undefined;
  mailbox: Mailbox | undefined;
  subscriptions: Subscription<Owner>[];
}

/** The page registry of one push instance. */
export interface Pages {
  /** The page's mailbox; opened anew (`fresh`) when there is none that can serve `from`. */
  mailboxFor(
    claims: PageClaims,
    from: string,
    binding: string | undefined,
  ): Promise<{ mailbox: Mailbox; fresh: boolean }>;
  /** Hands a change to the mailboxes whose subscriptions it matches. */
  route(change: Change): void;
  /** Re-runs the viewer's update functions for `mailbox` and puts its new specs into the hub. */
  revalidate(mailbox: Mailbox): Promise<void>;
  /** The open mailboxes that `filter` selects (not ended ones). */
  select(filter: (mailbox: Mailbox) => boolean): Mailbox[];
  /** Forgets mailboxes idle for longer than `idleMs` with nobody waiting. */
  sweep(idleMs: number): void;
  /** Answers the waiting requests of every page and forgets every page (shutdown). */
  releaseAll(): void;
  stats(): { readonly pages: number; readonly subscriptions: number; readonly waiting: number };
}

/** Creates the page registry of a push instance. */
export function createPages<Viewer>(log: ChangeLog, viewers: Viewers<Viewer>, options: MailboxOptions): Pages {
  const hub = createHub<Owner>();
  const pages = new Map<string, Page>();

  /** Puts a mailbox's specs into the hub, in place of any it had. */
  function subscribe(page: Page, mailbox: Mailbox): Subscription<Owner>[] {
    for (const subscription of page.subscriptions) hub.remove(subscription);
    page.subscriptions = mailbox.specs.map(
      (spec, order): Subscription<Owner> => ({
        model: spec.model,
        equalities: spec.equalities,
        predicate: spec.predicate,
        owner: { mailbox, spec, order },
      }),
    );
    for (const subscription of page.subscriptions) hub.add(subscription);
    return page.subscriptions;
  }

  async function open(page: Page, claims: PageClaims, from: string, binding: string | undefined): Promise<Mailbox> {
    const { ctx, specs } = await viewers.specsFor(claims, binding);
    const mailbox = new Mailbox(claims, ctx as PushContext<unknown>, specs, from, options, binding);
    page.mailbox = mailbox;
    // Subscribe before reading history: a change appended meanwhile arrives by both ways, and the
    // mailbox keeps one copy of each cursor.
    const owned = subscribe(page, mailbox);
    const history = await log.since(from);
    if (!history.ok) {
      mailbox.end({ name: 'refresh', reason: history.reason });
    } else {
      for (const change of history.changes) {
        const matching = owned.filter((subscription) => matchesChange(subscription, change)).map((s) => s.owner.spec);
        if (matching.length > 0) mailbox.deliver(change, matching, new Map());
      }
    }
    debug('page %s on %s: %d specs, from %s', claims.page, claims.path, specs.length, from);
    return mailbox;
  }

  function dispose(id: string) {
    const page = pages.get(id);
    if (page === undefined) return;
    for (const subscription of page.subscriptions) hub.remove(subscription);
    pages.delete(id);
  }

  function mailboxes(): Mailbox[] {
    return [...pages.values()].flatMap((page) => (page.mailbox === undefined ? [] : [page.mailbox]));
  }

  return {
    async mailboxFor(claims, from, binding) {
      const held = pages.get(claims.page);
      if (held !== undefined) {
        const mailbox = await held.opening?.catch(() => undefined);
        if (mailbox?.canServe(from) === true && pages.get(claims.page) === held) return { mailbox, fresh: false };
        if (pages.get(claims.page) === held) dispose(claims.page);
      }
      const page: Page = { opening: undefined, mailbox: undefined, subscriptions: [] };
      const opening = open(page, claims, from, binding);
      page.opening = opening;
      pages.set(claims.page, page);
      opening.catch(() => pages.get(claims.page) === page && dispose(claims.page));
      return { mailbox: await opening, fresh: true };
    },

    route(change) {
      const byMailbox = new Map<Mailbox, Owner[]>();
      for (const { owner } of hub.match(change)) {
        const owners = byMailbox.get(owner.mailbox);
        if (owners === undefined) byMailbox.set(owner.mailbox, [owner]);
        else owners.push(owner);
      }
      if (byMailbox.size === 0) return;
      // One map per change: viewers whose specs allow sharing get one serialization between them.
      const shared = new Map<string, Promise<unknown>>();
      for (const [mailbox, owners] of byMailbox) {
        owners.sort((a, b) => a.order - b.order);
        mailbox.deliver(
          change,
          owners.map((owner) => owner.spec),
          shared,
        );
      }
    },

    async revalidate(mailbox) {
      const { ctx, specs } = await viewers.specsFor(mailbox.claims, mailbox.binding);
      const page = pages.get(mailbox.page);
      if (mailbox.ended || page?.mailbox !== mailbox) return;
      mailbox.reset(ctx as PushContext<unknown>, specs);
      subscribe(page, mailbox);
    },

    select(filter) {
      return mailboxes().filter((mailbox) => !mailbox.ended && filter(mailbox));
    },

    sweep(idleMs) {
      const oldest = Date.now() - idleMs;
      for (const [id, page] of pages) {
        const { mailbox } = page;
        if (mailbox !== undefined && mailbox.waiting === 0 && mailbox.lastSeen < oldest) dispose(id);
      }
    },

    releaseAll() {
      for (const mailbox of mailboxes()) mailbox.release();
      for (const id of [...pages.keys()]) dispose(id);
    },

    stats() {
      let waiting = 0;
      let count = 0;
      for (const mailbox of mailboxes()) {
        waiting += mailbox.waiting;
        count += 1;
      }
      return { pages: count, subscriptions: hub.size, waiting };
    },
  };
}
