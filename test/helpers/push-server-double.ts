// A test double of the push server's long-poll endpoint, over real HTTP on port 0: it holds
// each poll until the test answers it, in order, the way docs/protocol.md says the server does.

import type { ExecutionContext } from 'ava';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChangeMessage, Message } from '../../core/types.ts';

/** One long-poll request as the server double received it. */
export interface Poll {
  readonly token: string | null;
  /** `undefined` when the request had no `cursor` parameter. */
  readonly cursor: string | undefined;
  /** Resolves if the client closes the request before it is answered. */
  readonly aborted: Promise<void>;
}

/** How the server double answers the oldest poll it holds (or the next one to arrive). */
export type Answer =
  | { readonly status: 200; readonly messages: readonly Message[] }
  | { readonly status: number; readonly body?: unknown }
  | 'drop';

export interface PushServerDouble {
  /** `http://127.0.0.1:<port>`: the page's origin too, so XHR is same-origin. */
  readonly origin: string;
  /** `origin + '/serverpush'`. */
  readonly base: string;
  /** Every poll received so far, in order. */
  readonly polls: readonly Poll[];
  /** Resolves with poll number `index` (0 for the first) once it has arrived. */
  poll(index: number): Promise<Poll>;
  /** Answers with `200 { messages }`. */
  send(...messages: Message[]): void;
  /** Answers with `204`: nothing happened within the hold time. */
  nothing(): void;
  /** Answers with an error status and a JSON body, or none. */
  fail(status: number, body?: unknown): void;
  /** Destroys the connection without an answer: a network error for the client. */
  drop(): void;
}

/** Starts a push server double on port 0, closed at teardown. */
export async function createPushServerDouble(t: ExecutionContext): Promise<PushServerDouble> {
  const polls: Poll[] = [];
  const held: ServerResponse[] = [];
  const answers: Answer[] = [];
  const arrivals: Array<() => void> = [];

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' || url.pathname !== '/serverpush/long-poll') {
      res.writeHead(404).end();
      return;
    }
    const aborted = new Promise<void>((resolve) => {
      res.on('close', () => {
        if (!res.writableEnded) resolve();
      });
    });
    polls.push({
      token: url.searchParams.get('token'),
      cursor: url.searchParams.get('cursor') ?? undefined,
      aborted,
    });
    for (const arrived of arrivals.splice(0)) arrived();
    held.push(res);
    flush();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  function flush(): void {
    while (held.length > 0 && answers.length > 0) {
      write(held.shift()!, answers.shift()!);
    }
  }

  function answer(reply: Answer): void {
    answers.push(reply);
    flush();
  }

  return {
    origin,
    base: `${origin}/serverpush`,
    polls,
    async poll(index) {
      while (polls.length <= index) await new Promise<void>((resolve) => arrivals.push(resolve));
      return polls[index]!;
    },
    send: (...messages) => answer({ status: 200, messages }),
    nothing: () => answer({ status: 204 }),
    fail: (status, body) => answer(body === undefined ? { status } : { status, body }),
    drop: () => answer('drop'),
  };
}

function write(res: ServerResponse, answer: Answer): void {
  if (answer === 'drop') {
    res.socket?.destroy();
    return;
  }
  const body = 'messages' in answer ? { messages: answer.messages } : answer.body;
  if (body === undefined) {
    res.writeHead(answer.status, { 'cache-control': 'no-store' }).end();
    return;
  }
  res
    .writeHead(answer.status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    .end(JSON.stringify(body));
}

/** A change message with the fields the tests do not care about filled in. */
export function change(cursor: string, name: string, data: unknown): ChangeMessage {
  return { cursor, name, op: 'update', effect: 'update', model: 'counters', id: 1, data };
}
