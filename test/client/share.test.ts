// Tabs of one browser sharing one connection: one tab leads and holds the connection, the others
// hand it their page and get their own messages back; when the leader goes, another takes over
// and every page resumes from its own cursor. Run in jsdom tabs of one fake browser profile
// (../helpers/profile.ts) against the real push server, once per transport.

import test, { type ExecutionContext } from 'ava';
import { JSDOM, VirtualConsole } from 'jsdom';
import { connect, type ChangeMessage, type PushClientError } from '../../client/index.ts';
import { PushError } from '../../core/errors.ts';
import type { Transport } from '../../core/transport.ts';
import type { TransportName } from '../../core/types.ts';
import { jsonp } from '../../transports/jsonp.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { sse } from '../../transports/sse.ts';
import { websocket } from '../../transports/websocket.ts';
import { countedGlobals } from '../helpers/counted-globals.ts';
import type { DomWindow } from '../helpers/jsdom.ts';
import { browserProfile, type Profile } from '../helpers/profile.ts';
import { until } from '../helpers/until.ts';
import { pushServer } from '../transports/conformance.ts';

const backoff = { initialMs: 40, maxMs: 100 } as const;

type Server = Awaited<ReturnType<typeof pushServer>>;

/** A tab of `profile` with the page of `who`, connected over `name`; what it heard, by title. */
async function openTab(
  t: ExecutionContext,
  server: Server,
  profile: Profile | undefined,
  name: TransportName,
  who: string,
  token?: string,
) {
  const window = new JSDOM('<!doctype html><html><head></head><body></body></html>', {
    url: `${server.url}/mine?who=${who}`,
    runScripts: 'dangerously',
    resources: 'usable',
    virtualConsole: new VirtualConsole(),
  }).window as unknown as DomWindow;
  t.teardown(() => window.close());
  const counted = countedGlobals(
    window,
    profile === undefined ? {} : { locks: profile.locks, BroadcastChannel: profile.BroadcastChannel },
  );
  const client = connect({
    token: token ?? (await server.pageOf(who)),
    base: server.base,
    transports: [name],
    backoff,
    globals: counted.globals,
  });
  t.teardown(() => client.close());
  const heard: ChangeMessage[] = [];
  client.on('mine', (_data, message) => heard.push(message));
  const errors: PushClientError[] = [];
  client.on('error', (error) => errors.push(error));
  return {
    window,
    client,
    heard,
    errors,
    titles: () => heard.map((m) => (m.data as { title: string; for: string }).title),
  };
}

const transports = {
  'long-poll': () => longPoll({ timeoutMs: 500 }),
  sse: () => sse({ heartbeatMs: 500, retryMs: 100 }),
  websocket: () => websocket({ heartbeatMs: 500 }),
  jsonp: () => jsonp({ timeoutMs: 500 }),
} as const;

for (const [name, transport] of Object.entries(transports) as Array<
  [TransportName, () => ReturnType<typeof longPoll>]
>) {
  test(`connect() over ${name} in five tabs of one browser shares one connection, and each tab gets its own page's changes`, async (t) => {
    const server = await pushServer(t, [transport()]);
    const profile = browserProfile();
    const who = ['alice', 'bob', 'carol', 'dan', 'erin'];
    const tabs: Array<Awaited<ReturnType<typeof openTab>>> = [];
    for (const viewer of who) tabs.push(await openTab(t, server, profile, name, viewer));
    await until(() => tabs.every((tab) => tab.client.state === 'connected'));
    t.deepEqual(
      tabs.map((tab) => tab.client.mode),
      ['shared', 'shared', 'shared', 'shared', 'shared'],
    );
    await server.publishOwned(...who.map((viewer) => [viewer, `for ${viewer}`] as const));
    await until(() => tabs.every((tab) => tab.heard.length === 1));
    t.deepEqual(
      tabs.map((tab) => tab.titles()),
      who.map((viewer) => [`for ${viewer}`]),
    );
    t.deepEqual(
      tabs.map((tab) => (tab.heard[0]!.data as { for: string }).for),
      who,
      'each serialized for its own viewer',
    );
    await until(() => server.push.stats().connections === 1);
    t.is(server.push.stats().pages, 5);
  });

  test(`connect() over ${name}: when the leading tab closes another takes over, and every page resumes from its own cursor`, async (t) => {
    const server = await pushServer(t, [transport()]);
    const profile = browserProfile();
    const tabs: Array<Awaited<ReturnType<typeof openTab>>> = [];
    for (const viewer of ['alice', 'bob', 'carol']) tabs.push(await openTab(t, server, profile, name, viewer));
    await until(() => tabs.every((tab) => tab.client.state === 'connected'));
    await server.publishOwned(['alice', 'a1'], ['bob', 'b1'], ['carol', 'c1']);
    await until(() => tabs.every((tab) => tab.heard.length === 1));
    // The first tab leads: it connected first. Close it as a tab goes away.
    tabs[0]!.window.dispatchEvent(new tabs[0]!.window.Event('pagehide'));
    await server.publishOwned(['bob', 'b2'], ['carol', 'c2']);
    await until(() => tabs[1]!.heard.length === 2 && tabs[2]!.heard.length === 2, 3_000);
    await server.publishOwned(['bob', 'b3'], ['carol', 'c3']);
    await until(() => tabs[1]!.heard.length === 3 && tabs[2]!.heard.length === 3);
    t.deepEqual(tabs[1]!.titles(), ['b1', 'b2', 'b3']);
    t.deepEqual(tabs[2]!.titles(), ['c1', 'c2', 'c3']);
    await until(() => server.push.stats().connections === 1);
  });

  test(`connect() over ${name}: a tab whose token is refused stops alone, and the other tabs go on`, async (t) => {
    const server = await pushServer(t, [transport()]);
    const profile = browserProfile();
    const alice = await openTab(t, server, profile, name, 'alice');
    await until(() => alice.client.state === 'connected');
    const forged = await openTab(t, server, profile, name, 'mallory', 'eyJ2IjoxfQ.AAAA');
    await until(() => forged.client.state === 'closed');
    t.like(forged.errors[0], { code: 'SERVERPUSH_ERR_BAD_TOKEN', status: 401 });
    await server.publishOwned(['alice', 'still here']);
    await until(() => alice.heard.length === 1);
    t.is(alice.client.state, 'connected');
  });
}

test('connect() with share: false, or without Web Locks, connects each tab on its own', async (t) => {
  const server = await pushServer(t, [transports['long-poll']()]);
  const lone = await openTab(t, server, undefined, 'long-poll', 'alice');
  t.is(lone.client.mode, 'single');
  await until(() => lone.client.state === 'connected');
});

test('connect() in a tab past the pages one connection may carry connects that tab on its own', async (t) => {
  const server = await pushServer(t, [transports.websocket()], { maxPagesPerConnection: 2 });
  const profile = browserProfile();
  const tabs: Array<Awaited<ReturnType<typeof openTab>>> = [];
  for (const viewer of ['alice', 'bob', 'carol']) tabs.push(await openTab(t, server, profile, 'websocket', viewer));
  await until(() => tabs.every((tab) => tab.client.state === 'connected') && tabs[2]!.client.mode === 'single');
  t.deepEqual(
    tabs.map((tab) => tab.client.mode),
    ['shared', 'shared', 'single'],
  );
  await server.publishOwned(['alice', 'a'], ['bob', 'b'], ['carol', 'c']);
  await until(() => tabs.every((tab) => tab.heard.length === 1));
  t.deepEqual(
    tabs.map((tab) => tab.titles()),
    [['a'], ['b'], ['c']],
  );
  t.is(server.push.stats().connections, 2);
});

test('connect() in a tab whose page the shared connection refused with Retry-After rejoins it after that wait', async (t) => {
  const inner = transports['long-poll']();
  let refusals = 0;
  const bobAdds: number[] = [];
  // Bob's page is refused once, as a push process at its maxPages would refuse it.
  const refusing: Transport = {
    name: inner.name,
    handle: (request, push) =>
      inner.handle(request, {
        ...push,
        open(sink) {
          const connection = push.open(sink);
          return Object.assign(Object.create(connection) as typeof connection, {
            add(key: string, token: string, cursor: string | undefined) {
              if (token === bobToken) bobAdds.push(Date.now());
              if (token === bobToken && refusals++ === 0) {
                return Promise.reject(
                  new PushError('SERVERPUSH_ERR_BUSY', 'this push process serves 1 pages (maxPages); retry later', {
                    retryAfter: 1,
                  }),
                );
              }
              return connection.add(key, token, cursor);
            },
          });
        },
      }),
  };
  const server = await pushServer(t, [refusing]);
  const bobToken = await server.pageOf('bob');
  const profile = browserProfile();
  const alice = await openTab(t, server, profile, 'long-poll', 'alice');
  await until(() => alice.client.state === 'connected');
  const bob = await openTab(t, server, profile, 'long-poll', 'bob', bobToken);
  await until(() => refusals === 1);
  await server.publishOwned(['alice', 'a1'], ['bob', 'b1']);
  await until(() => bob.heard.length === 1, 5_000);

  t.deepEqual(alice.titles(), ['a1']);
  t.deepEqual(bob.titles(), ['b1'], 'the refused page came back and resumed from its cursor');
  t.is(bob.client.mode, 'shared');
  t.deepEqual(bob.errors, [], 'a refusal with Retry-After is not reported as an error');
  t.true(bobAdds[1]! - bobAdds[0]! >= 950, 'asked for again after the second the server named');
});
