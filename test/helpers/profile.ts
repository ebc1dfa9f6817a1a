// One browser profile's Web Locks and BroadcastChannel, shared by the jsdom tabs of a test: what
// the browser client needs to share one connection between tabs. Locks are granted in request
// order and released when their callback's promise settles, as navigator.locks does; channels
// deliver to every other channel of the same name, after the current task, as browsers do.

import type { ChannelLike, LockManagerLike } from '../../client/index.ts';

/** The shared parts of a browser profile, to hand each tab's client as globals. */
export interface Profile {
  readonly locks: LockManagerLike;
  readonly BroadcastChannel: new (name: string) => ChannelLike;
  /** Who holds each lock now, as the index of the request that got it. */
  holder(name: string): number | undefined;
}

/** Creates an empty profile. */
export function browserProfile(): Profile {
  const queues = new Map<string, Array<{ id: number; grant: () => void }>>();
  const held = new Map<string, number>();
  const channels = new Map<string, Set<Channel>>();
  let requests = 0;

  function next(name: string): void {
    if (held.has(name)) return;
    const waiting = queues.get(name)?.shift();
    waiting?.grant();
  }

  const locks: LockManagerLike = {
    request(name, options, callback) {
      const id = (requests += 1);
      return new Promise((resolve, reject) => {
        const entry = {
          id,
          grant() {
            held.set(name, id);
            const settle = () => {
              held.delete(name);
              queueMicrotask(() => next(name));
            };
            Promise.resolve(callback()).then(
              (value) => {
                settle();
                resolve(value);
              },
              (error: unknown) => {
                settle();
                reject(error);
              },
            );
          },
        };
        const queue = queues.get(name) ?? [];
        queues.set(name, queue);
        queue.push(entry);
        options.signal?.addEventListener('abort', () => {
          const at = queue.indexOf(entry);
          if (at < 0) return;
          queue.splice(at, 1);
          reject(new Error('AbortError'));
        });
        next(name);
      });
    },
  };

  class Channel implements ChannelLike {
    onmessage: ((event: MessageEvent) => void) | null = null;
    private readonly name: string;
    private closed = false;
    constructor(name: string) {
      this.name = name;
      const set = channels.get(name) ?? new Set<Channel>();
      channels.set(name, set);
      set.add(this);
    }
    postMessage(message: unknown): void {
      if (this.closed) throw new Error('InvalidStateError: the channel is closed');
      const data = structuredClone(message);
      for (const other of channels.get(this.name) ?? []) {
        if (other === this) continue;
        setTimeout(() => other.deliver(data), 0);
      }
    }
    close(): void {
      this.closed = true;
      channels.get(this.name)?.delete(this);
    }
    private deliver(data: unknown): void {
      if (!this.closed) this.onmessage?.({ data } as MessageEvent);
    }
  }

  return { locks, BroadcastChannel: Channel, holder: (name) => held.get(name) };
}
