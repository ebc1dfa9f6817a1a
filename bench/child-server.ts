// What a bench's push server does in a process of its own: it listens on a loopback port, tells the
// bench its URL, and answers over IPC: `memory` (RSS and heap after a GC, `push.stats()`, open file
// descriptors) and `publish` (n changes, `gapMs` apart, made by `change(seq)`).

import { readdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChangeInput } from '../core/types.ts';

/** The part of a push instance a child server needs. */
interface Publisher {
  stats(): object;
  publish(change: ChangeInput): Promise<unknown>;
}

/** Listens on 127.0.0.1 and serves the bench's IPC requests until the process is killed. */
export function serveBench(server: Server, push: Publisher, change: (seq: number) => ChangeInput, gapMs: number): void {
  server.listen(0, '127.0.0.1', () =>
    process.send?.({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
  );
  let seq = 0;
  process.on('message', async (message: { cmd: string; n?: number }) => {
    if (message.cmd === 'memory') {
      for (let i = 0; i < 3; i += 1) (globalThis as { gc?: () => void }).gc?.();
      const { rss, heapUsed } = process.memoryUsage();
      process.send?.({ rss, heapUsed, stats: push.stats(), fds: readdirSync('/proc/self/fd').length });
    } else if (message.cmd === 'publish') {
      for (let i = 0; i < (message.n ?? 1); i += 1) {
        seq += 1;
        await push.publish(change(seq));
        await new Promise((resolve) => setTimeout(resolve, gapMs));
      }
      process.send?.({ published: seq });
    }
  });
}
