// The transport conformance suite: the same behaviour asked of every transport, through a driver
// that speaks that transport's wire format. Each `test/transports/<name>.test.ts` runs it once.

import test, { type ExecutionContext } from 'ava';
import Router from '@koa/router';
import Koa from 'koa';
import { createPush, type KoaPush } from '../../adapters/koa/index.ts';
import type { ChangeLog } from '../../core/change-log.ts';
import { memoryLog } from '../../core/memory-log.ts';
import type { Transport } from '../../core/transport.ts';
import type { ChangeInput, ChangeMessage, Message } from '../../core/types.ts';
import { secret } from '../helpers/push.ts';
import { listen } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';
import type { MuxConnection, MuxDriver, MuxFrame, MuxPage } from './drivers/mux.ts';

/** What a driver reads from a connection: a batch of messages, or the error the server answered. */
export type Received =
  | { readonly messages: readonly Message[] }
  | { readonly error: { readonly status: number; readonly code: string; readonly message: string } };

/** One open connection of a driver. */
export interface DriverConnection {
  /** The next non-empty batch of messages or the server's error; rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<Received>;
  /** Closes the connection from the client's side. */
  close(): Promise<void>;
}

/** Speaks one transport's wire format, as a minimal client would. */
export interface Driver {
  /** The transport's name, as registered. */
  readonly name: string;
  /** Opens a connection for the page's token, resuming after `cursor` when given. */
  open(base: string, token: string, cursor?: string): DriverConnection;
}

/** A push server with every given transport, an update spec for `/items`, and a way to render pages. */
export async function pushServer(
  t: ExecutionContext,
  transports: readonly Transport[],
  options: {
    maxCount?: number;
    origins?: string[];
    attach?: boolean;
    log?: ChangeLog;
    maxPagesPerConnection?: number;
    maxConnectionsPerAddress?: number;
    /** Koa's own error log (a client's broken request body, say) off. */
    silent?: boolean;
  } = {},
) {
  const router = new Router();
  const push: KoaPush = createPush({
    secret,
    router,
    transports,
    log: options.log ?? memoryLog(options.maxCount === undefined ? {} : { maxCount: options.maxCount }),
    origins: options.origins,
    ...(options.maxPagesPerConnection === undefined ? {} : { maxPagesPerConnection: options.maxPagesPerConnection }),
    ...(options.maxConnectionsPerAddress === undefined
      ? {}
      : { maxConnectionsPerAddress: options.maxConnectionsPerAddress }),
    // `/mine?who=alice` is alice's page.
    identify: (ctx) => ctx.query['who'] ?? null,
  });
  t.teardown(() => push.close());
  router.get('items', '/items', (ctx) => {
    ctx.body = ctx.state.serverpush.token;
  });
  router.get('mine', '/mine', (ctx) => {
    ctx.body = ctx.state.serverpush.token;
  });
  push.updates('items', () => [{ name: 'item', model: 'items', data: { title: 'title' } }]);
  // A viewer's own items, serialized for that viewer.
  push.updates('mine', (ctx) => [
    {
      name: 'mine',
      model: 'items',
      params: { owner: String(ctx.identity) },
      serializer: (viewer, row) => ({ title: row['title'], for: viewer.identity }),
    },
  ]);
  let ids = 0;
  const app = new Koa().use(push.routes()).use(push.middleware()).use(router.routes());
  if (options.silent === true) app.silent = true;
  const { url, server } = await listen(t, app.callback());
  if (options.attach !== false) push.attach(server);
  return {
    url,
    server,
    base: `${url}/serverpush`,
    push,
    /** Renders `/items` and returns its page token. */
    page: async () => (await fetch(`${url}/items`)).text(),
    /** Renders `/mine` for `who` and returns its page token. */
    pageOf: async (who: string) => (await fetch(`${url}/mine?who=${who}`)).text(),
    /** Publishes one item per `[owner, title]`. */
    publishOwned: (...items: Array<readonly [owner: string, title: string]>) =>
      push.publish(
        items.map(([owner, title]): ChangeInput => {
          ids += 1;
          return {
            model: 'items',
            op: 'insert',
            id: 1_000 + ids,
            after: { id: 1_000 + ids, owner, title },
            before: null,
          };
        }),
      ),
    publish: (...titles: string[]) =>
      push.publish(
        titles.map(
          (title, index): ChangeInput => ({
            model: 'items',
            op: 'insert',
            id: index + 1,
            after: { id: index + 1, title },
            before: null,
          }),
        ),
      ),
  };
}

const titles = (received: Received) =>
  'messages' in received
    ? received.messages.map((m) => ('data' in m ? (m.data as { title: string }).title : m.name))
    : received;
const lastCursor = (received: Received) => {
  const messages = 'messages' in received ? (received.messages.filter((m) => 'cursor' in m) as ChangeMessage[]) : [];
  return messages.at(-1)?.cursor;
};

/** Runs the conformance suite for `driver` against a push server offering `transport`. */
export function conformance(driver: Driver, transport: () => Transport): void {
  const title = (what: string) => `${driver.name} conformance: ${what}`;
  const opened = (t: ExecutionContext, base: string, token: string, cursor?: string) => {
    const connection = driver.open(base, token, cursor);
    t.teardown(() => connection.close());
    return connection;
  };

  test(title('delivers a change'), async (t) => {
    const server = await pushServer(t, [transport()]);
    const connection = opened(t, server.base, await server.page());
    const received = connection.next();
    await until(() => server.push.stats().waiting === 1);
    await server.publish('first');
    t.deepEqual(titles(await received), ['first']);
  });

  test(title('replays the changes since the page rendered, then since a cursor'), async (t) => {
    const server = await pushServer(t, [transport()]);
    const token = await server.page();
    await server.publish('one', 'two');
    const first = opened(t, server.base, token);
    const received = await first.next();
    t.deepEqual(titles(received), ['one', 'two']);
    await first.close();
    const cursorOfOne = ('messages' in received ? (received.messages[0] as ChangeMessage) : undefined)?.cursor;
    const resumed = opened(t, server.base, token, cursorOfOne);
    t.deepEqual(titles(await resumed.next()), ['two']);
  });

  test(title('sends refresh for a cursor older than the log keeps'), async (t) => {
    const server = await pushServer(t, [transport()], { maxCount: 2 });
    const token = await server.page();
    await server.publish('a', 'b', 'c');
    t.deepEqual(await opened(t, server.base, token).next(), { messages: [{ name: 'refresh', reason: 'history' }] });
  });

  test(title('sends nothing twice across a reconnect'), async (t) => {
    const server = await pushServer(t, [transport()]);
    const token = await server.page();
    const first = opened(t, server.base, token);
    const next = first.next();
    await until(() => server.push.stats().waiting === 1);
    await server.publish('before');
    const received = await next;
    t.deepEqual(titles(received), ['before']);
    await first.close();
    await server.publish('while away');
    const second = opened(t, server.base, token, lastCursor(received));
    t.deepEqual(titles(await second.next()), ['while away']);
    const after = second.next();
    await until(() => server.push.stats().waiting === 1);
    await server.publish('after');
    t.deepEqual(titles(await after), ['after']);
  });

  test(title('answers a bad token 401'), async (t) => {
    const server = await pushServer(t, [transport()]);
    const received = await opened(t, server.base, 'eyJ2IjoxfQ.AAAA').next();
    t.deepEqual(received, {
      error: { status: 401, code: 'SERVERPUSH_ERR_BAD_TOKEN', message: 'the page token signature does not verify' },
    });
  });

  test(title('answers a malformed cursor 400'), async (t) => {
    const server = await pushServer(t, [transport()]);
    const received = await opened(t, server.base, await server.page(), 'not-a-cursor').next();
    t.deepEqual(received, {
      error: { status: 400, code: 'SERVERPUSH_ERR_BAD_CURSOR', message: 'cursor "not-a-cursor" is malformed' },
    });
  });

  test(title('closes cleanly: the server holds nothing for a client that left'), async (t) => {
    const server = await pushServer(t, [transport()]);
    const connection = opened(t, server.base, await server.page());
    const received = connection.next();
    await until(() => server.push.stats().waiting === 1);
    await server.publish('x');
    await received;
    await connection.close();
    await until(() => server.push.stats().waiting === 0);
    t.is(server.push.stats().waiting, 0);
  });
}

/** The payloads of a page's messages in a frame: `title` for whom, or the message name. */
const owned = (frame: MuxFrame, key: string) =>
  (frame.pages[key] ?? []).map((m) => ('data' in m ? (m.data as { title: string; for: string }) : m.name));

/** Reads frames until `predicate` holds of everything read, within `ms`; returns everything read. */
async function readUntil(
  connection: MuxConnection,
  predicate: (read: MuxFrame[]) => boolean,
  ms = 5_000,
): Promise<MuxFrame[]> {
  const read: MuxFrame[] = [];
  const deadline = Date.now() + ms;
  while (!predicate(read)) read.push(await connection.next(Math.max(1, deadline - Date.now())));
  return read;
}

const merged = (read: readonly MuxFrame[], key: string) => read.flatMap((frame) => owned(frame, key));

/** Runs the many-page conformance suite for `driver` against a push server offering `transport`. */
export function muxConformance(driver: MuxDriver, transport: () => Transport): void {
  const title = (what: string) => `${driver.name} many pages: ${what}`;
  const opened = (t: ExecutionContext, base: string, pages: readonly MuxPage[]) => {
    const connection = driver.open(base, pages);
    t.teardown(() => connection.close());
    return connection;
  };

  test(title("each page receives only its own viewer's changes, serialized for that viewer"), async (t) => {
    const server = await pushServer(t, [transport()]);
    const connection = opened(t, server.base, [
      { key: 'a', token: await server.pageOf('alice') },
      { key: 'b', token: await server.pageOf('bob') },
    ]);
    setTimeout(() => void server.publishOwned(['alice', 'one'], ['bob', 'two'], ['alice', 'three']), 100);
    const read = await readUntil(
      connection,
      (frames) => merged(frames, 'a').length === 2 && merged(frames, 'b').length === 1,
    );
    t.deepEqual(merged(read, 'a'), [
      { title: 'one', for: 'alice' },
      { title: 'three', for: 'alice' },
    ]);
    t.deepEqual(merged(read, 'b'), [{ title: 'two', for: 'bob' }]);
  });

  test(title('a page with a bad token is refused by its key, and the others go on'), async (t) => {
    const server = await pushServer(t, [transport()]);
    const connection = opened(t, server.base, [
      { key: 'a', token: await server.pageOf('alice') },
      { key: 'x', token: 'eyJ2IjoxfQ.AAAA' },
    ]);
    const refused = await readUntil(connection, (frames) => frames.some((frame) => frame.errors['x'] !== undefined));
    t.deepEqual(refused.find((frame) => frame.errors['x'])?.errors['x'], {
      status: 401,
      code: 'SERVERPUSH_ERR_BAD_TOKEN',
      message: 'the page token signature does not verify',
    });
    setTimeout(() => void server.publishOwned(['alice', 'still here']), 50);
    const read = await readUntil(connection, (frames) => merged(frames, 'a').length === 1);
    t.deepEqual(merged(read, 'a'), [{ title: 'still here', for: 'alice' }]);
  });

  test(title("a page added to the live connection gets its replay from its token's cursor"), async (t) => {
    const server = await pushServer(t, [transport()]);
    const connection = opened(t, server.base, [{ key: 'a', token: await server.pageOf('alice') }]);
    setTimeout(() => void server.publishOwned(['alice', 'first']), 50);
    await readUntil(connection, (frames) => merged(frames, 'a').length === 1);
    const bobs = await server.pageOf('bob');
    await server.publishOwned(['bob', 'before bob connected']);
    connection.add({ key: 'b', token: bobs });
    const read = await readUntil(connection, (frames) => merged(frames, 'b').length === 1);
    t.deepEqual(merged(read, 'b'), [{ title: 'before bob connected', for: 'bob' }]);
    t.deepEqual(merged(read, 'a'), [], 'alice got nothing twice');
  });

  test(title('each page resumes from its own cursor on a new connection: nothing lost, nothing twice'), async (t) => {
    const server = await pushServer(t, [transport()]);
    const pages = [
      { key: 'a', token: await server.pageOf('alice') },
      { key: 'b', token: await server.pageOf('bob') },
    ];
    const first = opened(t, server.base, pages);
    setTimeout(() => void server.publishOwned(['alice', 'one'], ['bob', 'two']), 50);
    const read = await readUntil(
      first,
      (frames) => merged(frames, 'a').length === 1 && merged(frames, 'b').length === 1,
    );
    await first.close();
    await server.publishOwned(['alice', 'while away'], ['bob', 'also while away']);
    const cursorOf = (key: string) => {
      const messages = read.flatMap((frame) => frame.pages[key] ?? []);
      const last = messages.at(-1);
      return last !== undefined && 'cursor' in last ? last.cursor : undefined;
    };
    const second = opened(
      t,
      server.base,
      pages.map((page) => ({ ...page, cursor: cursorOf(page.key) })),
    );
    const again = await readUntil(
      second,
      (frames) => merged(frames, 'a').length === 1 && merged(frames, 'b').length === 1,
    );
    t.deepEqual(merged(again, 'a'), [{ title: 'while away', for: 'alice' }]);
    t.deepEqual(merged(again, 'b'), [{ title: 'also while away', for: 'bob' }]);
  });
}
