// One page, many streams: each newer connection of a page takes it over, and a stream left with
// no page it holds ends (SSE: a 409 event; WebSocket: close 4409), so one token holds one stream.

import test from 'ava';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { sse } from '../../transports/sse.ts';
import { websocket } from '../../transports/websocket.ts';
import { until } from '../helpers/until.ts';
import { pushServer } from './conformance.ts';
import { sseBlocks } from './drivers/sse.ts';
import { socketUrl } from './drivers/websocket.ts';

test('sse() ends a stream whose page a newer stream took, with a 409 event: one token holds one stream', async (t) => {
  const server = await pushServer(t, [sse({ heartbeatMs: 60_000 })]);
  const token = await server.page();
  const ended: Array<Promise<string[]>> = [];
  const seen: string[][] = [];
  const controllers: AbortController[] = [];
  for (let i = 0; i < 20; i += 1) {
    const controller = new AbortController();
    controllers.push(controller);
    t.teardown(() => controller.abort());
    const response = await fetch(`${server.base}/sse?token=${token}`, { signal: controller.signal });
    const data: string[] = [];
    seen.push(data);
    ended.push(
      (async () => {
        try {
          for await (const block of sseBlocks(response.body!)) if (block.data !== undefined) data.push(block.data);
        } catch {
          // aborted at teardown
        }
        return data;
      })(),
    );
  }
  await until(() => server.push.stats().connections === 1);
  const first = await ended[0]!;
  t.deepEqual(
    first.map((data) => JSON.parse(data)),
    [
      {
        status: 409,
        error: { code: 'SERVERPUSH_ERR_SUPERSEDED', message: 'a newer connection of this page took it over' },
      },
    ],
  );
  await server.publish('to the newest');
  const newest = seen[seen.length - 1]!;
  await until(() => newest.length === 1);
  t.deepEqual(
    newest.map(
      (data) => (JSON.parse(data) as { messages: Array<{ data: { title: string } }> }).messages[0]!.data.title,
    ),
    ['to the newest'],
  );
});

test('websocket() closes a socket whose page a newer socket took with 4409', async (t) => {
  const server = await pushServer(t, [websocket({ heartbeatMs: 60_000 })]);
  const token = await server.page();
  const older = new WebSocket(socketUrl(server.base, token));
  t.teardown(() => older.terminate());
  await once(older, 'open');
  await until(() => server.push.stats().connections === 1);
  const closed = once(older, 'close').then(([code, reason]) => [code, String(reason)]);
  const newer = new WebSocket(socketUrl(server.base, token));
  t.teardown(() => newer.terminate());
  await once(newer, 'open');
  t.deepEqual(await closed, [4409, 'SERVERPUSH_ERR_SUPERSEDED: a newer connection of this page took it over']);
  t.is(server.push.stats().connections, 1);
});
