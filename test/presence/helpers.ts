// Helpers of the presence tests: push servers on real ports around one change log, and tabs that
// long-poll a page as the browser client would, keeping the member list its presence messages make.

import Router from '@koa/router';
import type { ExecutionContext } from 'ava';
import Koa from 'koa';
import { createPush, type KoaPush } from '../../adapters/koa/index.ts';
import type { ChangeLog } from '../../core/change-log.ts';
import type { PresenceOptions } from '../../core/presence-spec.ts';
import type { Change, ChangeInput, PresenceMessage } from '../../core/types.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { createPresenceState, type PresenceDetail } from '../../client/presence.ts';
import { secret } from '../helpers/push.ts';
import { listen } from '../helpers/server.ts';

/** Who each identity is in these tests: a name and a team. */
export const people: Record<string, { name: string; team: number }> = {
  alice: { name: 'Alice', team: 1 },
  bob: { name: 'Bob', team: 1 },
  dave: { name: 'Dave', team: 1 },
  erin: { name: 'Erin', team: 1 },
  carol: { name: 'Carol', team: 2 },
  /** Moves to team 2 in the revalidation test. */
  frank: { name: 'Frank', team: 1 },
};

/** A push server of the tests: the route `list` (`/lists/:id`), present in `team:<team>:list:<id>`; carol is refused the lists of team 1. */
export interface TestServer {
  readonly push: KoaPush<{ name: string; team: number } | null, string>;
  readonly url: string;
  /** A page token of `/lists/<list>` for `identity`. */
  token(identity: string, list?: number): Promise<string>;
}

/** Starts a push server on a real port, with long-poll, around `log`; closed when the test ends. */
export async function testServer(
  t: ExecutionContext,
  log: ChangeLog,
  presence: PresenceOptions = {},
): Promise<TestServer> {
  const router = new Router();
  router.get('list', '/lists/:id', (ctx) => {
    ctx.body = 'a list';
  });
  const push = createPush({
    secret,
    router,
    log,
    transports: [longPoll({ timeoutMs: 5_000 })],
    authenticate: (identity: string) => people[identity] ?? null,
    presence: { leaveDelayMs: 500, ...presence },
  });
  push.presence('list', ({ viewer, params }) =>
    viewer === null ? null : { channel: `team:${viewer.team}:list:${params['id']}`, data: { name: viewer.name } },
  );
  const app = new Koa();
  app.use(push.routes());
  const { url } = await listen(t, app.callback());
  t.teardown(() => push.close());
  return {
    push,
    url,
    async token(identity, list = 1) {
      return push.token({ path: `/lists/${list}`, query: '', identity, languages: ['en'], cursor: await log.head() });
    },
  };
}

/**
 * A tab: one page long-polled as the client does, keeping its presence messages and, through the
 * browser client's own presence state, the events a page would dispatch and its member list.
 */
export class Tab {
  readonly messages: PresenceMessage[] = [];
  /** The `serverpush:presence` details the page would dispatch. */
  readonly events: PresenceDetail[] = [];
  /** Member id to data, as the messages so far make it. */
  readonly list = new Map<string, unknown>();
  count = 0;
  self: string | undefined;
  private readonly state = createPresenceState();
  private cursor: string | undefined;
  private stopped = false;
  private abort = new AbortController();
  private readonly loop: Promise<void>;

  constructor(
    private readonly base: string,
    private readonly token: string,
  ) {
    this.loop = this.run();
  }

  /** The names in the member list. */
  names(): string[] {
    return [...this.list.values()].map((data) => (data as { name: string }).name).sort();
  }

  /** The events of `type` about the member named `name`. */
  about(type: 'join' | 'leave', name: string): PresenceDetail[] {
    return this.events.filter((e) => e.type === type && (e.member?.data as { name?: string })?.name === name);
  }

  /** Stops polling, as a tab that closes: the request in flight is aborted. */
  async close(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    for (let polls = 0; !this.stopped && polls < 10_000; polls += 1) {
      const query = new URLSearchParams({ token: this.token });
      if (this.cursor !== undefined) query.set('cursor', this.cursor);
      let response: Response;
      try {
        response = await fetch(`${this.base}/serverpush/long-poll?${query}`, { signal: this.abort.signal });
        if (response.status === 204) continue;
        if (response.status !== 200) throw new Error(`${response.status} ${await response.text()}`);
        const { messages } = (await response.json()) as { messages: Array<{ name: string; cursor?: string }> };
        for (const message of messages) {
          if (message.name === 'presence') this.take(message as PresenceMessage);
          else if (typeof message.cursor === 'string') this.cursor = message.cursor;
        }
      } catch (error) {
        if (this.stopped) return;
        // A push server that went away: try again shortly, as the client does.
        await new Promise((resolve) => setTimeout(resolve, 100));
        void error;
      }
    }
  }

  private take(message: PresenceMessage): void {
    this.messages.push(message);
    for (const detail of this.state.apply(message)) {
      this.events.push(detail);
      this.count = detail.count;
      this.self = detail.self;
      this.list.clear();
      for (const member of detail.members) this.list.set(member.id, member.data);
    }
  }
}

/**
 * A change log that can be cut off from a process: between `cut()` and `mend()`, nothing it appends
 * reaches the log, as if the process had died (or lost its link to the log).
 */
export function severable(log: ChangeLog): ChangeLog & { cut(): void; mend(): void } {
  let cut = false;
  return {
    append: (changes: readonly ChangeInput[]): Promise<Change[]> => (cut ? Promise.resolve([]) : log.append(changes)),
    head: () => log.head(),
    since: (cursor) => log.since(cursor),
    check: (cursor) => log.check(cursor),
    compare: (a, b) => log.compare(a, b),
    tail: (listener, onGap) => log.tail(listener, onGap),
    close: async () => {},
    cut() {
      cut = true;
    },
    mend() {
      cut = false;
    },
  };
}
