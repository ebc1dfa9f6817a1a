// The examples of docs/presence.md and the README's Presence section, type-checked by `npm run
// typecheck` (never run): what the docs show compiles against the real types.

import Router from '@koa/router';
import { expectTypeOf } from 'expect-type';
import { createPush } from '../../adapters/koa/index.ts';
import { connect, type PresenceDetail } from '../../client/index.ts';

interface Viewer {
  readonly name: string;
  readonly username: string;
  readonly teamId: number;
  readonly listIds: readonly number[];
}

const push = createPush({
  secret: 'a secret of at least thirty-two bytes, for types',
  router: new Router(),
  identify: () => 7 as number | null,
  authenticate: async (id): Promise<Viewer | null> =>
    id === null ? null : { name: 'Alice', username: 'alice', teamId: 1, listIds: [7] },
});

// docs/presence.md, "Declaring presence".
push.presence('todos', ({ viewer }) =>
  viewer === null ? null : { channel: `team:${viewer.teamId}:todos`, data: { name: viewer.username } },
);
push.presence('list', ({ viewer, params }) =>
  viewer?.listIds.includes(Number(params['id']))
    ? { channel: `list:${params['id']}`, data: { name: viewer.name } }
    : null,
);
expectTypeOf(push.members('list:7').members[0]!.id).toEqualTypeOf<string>();

// The browser side: member data typed by the event map's `presence` entry.
const client = connect<{ presence: { name: string } }>({ token: 'token' });
client.on('presence', (detail, message, event) => {
  expectTypeOf(detail).toEqualTypeOf<PresenceDetail<{ name: string }>>();
  expectTypeOf(detail.member?.data.name).toEqualTypeOf<string | undefined>();
  expectTypeOf(message.type).toEqualTypeOf<'here' | 'join' | 'leave' | 'count'>();
  expectTypeOf(event.detail.self).toEqualTypeOf<string | undefined>();
});
// Without a declaration, member data is unknown.
document.addEventListener('serverpush:presence', (event) => {
  expectTypeOf(event.detail.members[0]!.data).toEqualTypeOf<unknown>();
  expectTypeOf(event.message.channel).toEqualTypeOf<string>();
});
// `presence` is the event map's entry for presence, not a change event's payload.
// @ts-expect-error: a presence listener gets a PresenceDetail, not the member data.
client.on('presence', (detail: { name: string }) => detail);
