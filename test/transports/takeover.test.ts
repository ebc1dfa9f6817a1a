// A page whose stream was left open and unread (a half-open connection after a network change)
// while the same page goes on over long-poll from its true cursor: every change reaches the
// long-poll once, in order, because a stream's writes are never taken as received.

import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { connect } from 'node:net';
import type { ChangeMessage, Message } from '../../core/types.ts';
import { longPoll } from '../../transports/long-poll.ts';
import { sse } from '../../transports/sse.ts';
import { websocket } from '../../transports/websocket.ts';
import { pushServer } from './conformance.ts';

/** Opens a WebSocket of the one-page protocol on a raw TCP socket that never reads. */
async function unreadSocket(t: ExecutionContext, base: string, token: string) {
  const { host } = new URL(base);
  const [hostname = '', port = ''] = host.split(':');
  const socket = connect(Number(port), hostname);
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');
  socket.write(
    `GET /serverpush/websocket?token=${encodeURIComponent(token)} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\n` +
      'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  await once(socket, 'data');
  socket.pause();
}

/** Opens an SSE stream of the one-page protocol whose body is never read. */
async function unreadStream(t: ExecutionContext, base: string, token: string) {
  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const response = await fetch(`${base}/sse?token=${encodeURIComponent(token)}`, { signal: controller.signal });
  t.is(response.status, 200);
}

/** Long-polls the page from `cursor` until `count` changes arrived (bounded), publishing as it goes. */
async function followByLongPoll(base: string, token: string, count: number, publishSome: () => Promise<void>) {
  const received: ChangeMessage[] = [];
  let cursor: string | undefined;
  for (let polls = 0; received.length < count && polls < 500; polls += 1) {
    await publishSome();
    const query = new URLSearchParams(cursor === undefined ? { token } : { token, cursor });
    const response = await fetch(`${base}/long-poll?${query}`);
    if (response.status === 204) continue;
    const { messages } = (await response.json()) as { messages: Message[] };
    for (const message of messages) {
      if (!('cursor' in message)) throw new Error(`unexpected ${JSON.stringify(message)}`);
      received.push(message);
      cursor = message.cursor;
    }
  }
  return received;
}

for (const [kind, leaveOpen] of [
  ['a WebSocket', unreadSocket],
  ['an SSE stream', unreadStream],
] as const) {
  test(`a page continuing over long-poll from its true cursor, while ${kind} of it is left open and unread, gets every change once, in order`, async (t) => {
    const server = await pushServer(t, [
      websocket({ heartbeatMs: 60_000 }),
      sse({ heartbeatMs: 60_000 }),
      longPoll({ timeoutMs: 100 }),
    ]);
    const token = await server.page();
    await leaveOpen(t, server.base, token);
    let published = 0;
    const publishSome = async () => {
      if (published >= 300) return;
      const titles = Array.from({ length: 30 }, (_, i) => `t${published + i + 1}`);
      published += titles.length;
      await server.push.publish(
        titles.map((title, i) => ({
          model: 'items',
          op: 'insert',
          id: published - 30 + i + 1,
          after: { id: published - 30 + i + 1, title },
          before: null,
        })),
      );
    };
    // Changes the stream is handed (and that never reach anyone) before the long-poll starts.
    await publishSome();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const received = await followByLongPoll(server.base, token, 300, publishSome);
    t.deepEqual(
      received.map((message) => (message.data as { title: string }).title),
      Array.from({ length: 300 }, (_, i) => `t${i + 1}`),
    );
  });
}
