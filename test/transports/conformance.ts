// The transport conformance suite: the same behaviour asked of every transport, through a driver
// that speaks that transport's wire format. Each `test/transports/<name>.test.ts` runs it once.

import test, { type ExecutionContext } from 'ava';
import Router from '@koa/router';
import Koa from 'koa';
import { createPush, type KoaPush } from '../../adapters/koa/index.ts';
import { memoryLog } from '../../core/memory-log.ts';
import type { Transport } from '../../core/transport.ts';
import type { ChangeInput, ChangeMessage, Message } from '../../core/types.ts';
import { secret } from '../helpers/push.ts';
import { listen } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';

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
  options: { maxCount?: number; origins?: string[]; attach?: boolean } = {},
) {
  const router = new Router();
  const push: KoaPush = createPush({
    secret,
    router,
    transports,
    log: memoryLog(options.maxCount === undefined ? {} : { maxCount: options.maxCount }),
    origins: options.origins,
  });
  t.teardown(() => push.close());
  router.get('items', '/items', (ctx) => {
    ctx.body = ctx.state.serverpush.token;
  });
  push.updates('items', () => [{ name: 'item', model: 'items', data: { title: 'title' } }]);
  const app = new Koa().use(push.routes()).use(push.middleware()).use(router.routes());
  const { url, server } = await listen(t, app.callback());
  if (options.attach !== false) push.attach(server);
  return {
    url,
    server,
    base: `${url}/serverpush`,
    push,
    /** Renders `/items` and returns its page token. */
    page: async () => (await fetch(`${url}/items`)).text(),
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
