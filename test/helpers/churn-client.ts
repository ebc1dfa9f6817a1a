// A client for churn tests: one page, followed over the one-page protocol of any transport, that
// reconnects with its last cursor wherever it is told to, and may leave its old connection open and
// unread (half-open, as after a network change) instead of closing it.

import { Agent, request } from 'node:http';
import type { Message } from '../../core/types.ts';
import { WebSocket } from 'ws';

/** What a churn client saw: the payload ids of its change messages, in order, and anything else. */
export interface ChurnRecord {
  readonly ids: number[];
  readonly refreshes: string[];
  readonly errors: string[];
}

/** A transport the churn client speaks. */
export type ChurnTransport = 'long-poll' | 'sse' | 'websocket';

interface Link {
  /** Stops listening; `halfOpen` leaves the connection open and unread instead of closing it. */
  drop(halfOpen: boolean): void;
}

const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

/** Follows the page of `token`, recording into `record`; `id` reads a payload's sequence number. */
export function churnClient(token: string, record: ChurnRecord, id: (data: unknown) => number) {
  let cursor: string | undefined;
  let link: Link | undefined;
  const halfOpen: Array<() => void> = [];

  function take(messages: readonly Message[], live: () => boolean) {
    if (!live()) return;
    for (const message of messages) {
      if (message.name === 'refresh') {
        record.refreshes.push((message as { reason: string }).reason);
        continue;
      }
      if (!('cursor' in message)) continue;
      record.ids.push(id(message.data));
      cursor = message.cursor;
    }
  }

  function query(): string {
    return `token=${encodeURIComponent(token)}${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
  }

  function longPoll(base: string): Link {
    let live = true;
    let current: ReturnType<typeof request> | undefined;
    const poll = () => {
      if (!live) return;
      current = request(`${base}/long-poll?${query()}`, { agent }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => {
          if (!live) return;
          if (response.statusCode === 200) take((JSON.parse(body) as { messages: Message[] }).messages, () => live);
          else if (response.statusCode !== 204) record.errors.push(`long-poll ${response.statusCode} ${body}`);
          setImmediate(poll);
        });
      });
      current.on('error', () => live && setTimeout(poll, 20));
      current.end();
    };
    poll();
    return {
      drop(leaveOpen) {
        live = false;
        if (!leaveOpen) current?.destroy();
        else halfOpen.push(() => current?.destroy());
      },
    };
  }

  function sse(base: string): Link {
    let live = true;
    const outgoing = request(`${base}/sse?${query()}`, { agent: false }, (response) => {
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').find((line) => line.startsWith('data: '));
          if (data !== undefined) take((JSON.parse(data.slice(6)) as { messages: Message[] }).messages, () => live);
        }
      });
      response.on('error', () => {});
    });
    outgoing.on('error', () => {});
    outgoing.end();
    return {
      drop(leaveOpen) {
        live = false;
        if (!leaveOpen) return void outgoing.destroy();
        // Unread: the socket stops reading, and the server's writes pile up unacknowledged.
        outgoing.once('response', (response) => response.pause());
        outgoing.socket?.pause();
        halfOpen.push(() => outgoing.destroy());
      },
    };
  }

  function websocket(base: string): Link {
    let live = true;
    const socket = new WebSocket(`${base.replace(/^http/, 'ws')}/websocket?${query()}`);
    socket.on('message', (data) => take((JSON.parse(String(data)) as { messages: Message[] }).messages, () => live));
    socket.on('error', () => {});
    return {
      drop(leaveOpen) {
        live = false;
        if (!leaveOpen) return void socket.terminate();
        (socket as unknown as { _socket?: { pause(): void } })._socket?.pause();
        halfOpen.push(() => socket.terminate());
      },
    };
  }

  return {
    /** Connects to `base` over `transport`, leaving the previous connection (closed, or half-open). */
    connect(base: string, transport: ChurnTransport, leaveOldOpen = false) {
      link?.drop(leaveOldOpen);
      link = transport === 'long-poll' ? longPoll(base) : transport === 'sse' ? sse(base) : websocket(base);
    },
    /** Closes everything, half-open connections included. */
    close() {
      link?.drop(false);
      for (const destroy of halfOpen.splice(0)) destroy();
    },
  };
}
