// WebSocket, as a minimal client speaks it with the `ws` package: one socket, each text frame a
// batch, a close code of 4000 + status with the reason `CODE: message` for an error.

import { WebSocket } from 'ws';
import type { Message } from '../../../core/types.ts';
import type { Driver, Received } from '../conformance.ts';

/** The `{ status, code, message }` a close code in 4000–4999 and its reason stand for, or `undefined`. */
export function closeError(code: number, reason: string): Extract<Received, { error: unknown }>['error'] | undefined {
  if (code < 4000 || code > 4999) return undefined;
  const match = /^(SERVERPUSH_ERR_[A-Z0-9_]+): (.*)$/s.exec(reason);
  return { status: code - 4000, code: match?.[1] ?? '', message: match?.[2] ?? reason };
}

/** `ws://…/websocket?token=…[&cursor=…]` for an `http://…` base. */
export function socketUrl(base: string, token: string, cursor?: string): string {
  const query = new URLSearchParams(cursor === undefined ? { token } : { token, cursor });
  return `${base.replace(/^http/, 'ws')}/websocket?${query}`;
}

export const websocketDriver: Driver = {
  name: 'websocket',
  open(base, token, cursor) {
    const socket = new WebSocket(socketUrl(base, token, cursor));
    const queue: Received[] = [];
    let wake: (() => void) | undefined;
    let ended: string | undefined;
    socket.on('message', (data) => {
      const { messages } = JSON.parse(String(data)) as { messages: Message[] };
      if (messages.length > 0) queue.push({ messages });
      wake?.();
    });
    socket.on('close', (code, reason) => {
      const error = closeError(code, String(reason));
      if (error !== undefined) queue.push({ error });
      ended = `closed with ${code} ${String(reason)}`;
      wake?.();
    });
    socket.on('error', (error) => {
      ended = error.message;
      wake?.();
    });
    return {
      async next(timeoutMs = 5_000) {
        const deadline = Date.now() + timeoutMs;
        while (queue.length === 0 && ended === undefined && Date.now() < deadline) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, deadline - Date.now());
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        const received = queue.shift();
        if (received !== undefined) return received;
        throw new Error(ended ?? `no messages within ${timeoutMs} ms`);
      },
      async close() {
        if (socket.readyState === WebSocket.CLOSED) return;
        const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
        socket.close();
        const timer = setTimeout(() => socket.terminate(), 1_000);
        await closed;
        clearTimeout(timer);
      },
    };
  },
};
