// The many-page protocol, as a minimal client speaks it on each transport: the pages of a
// connection as `p=<key>~<cursor>~<token>` parameters (or WebSocket `add` frames), frames
// `{"pages":{…},"errors":{…}}`, each page's cursor sent back as its acknowledgement.

import { WebSocket } from 'ws';
import type { Message } from '../../../core/types.ts';
import { parseScript } from './jsonp.ts';
import { sseBlocks } from './sse.ts';

/** A page on a shared connection: its key, its token, and the cursor its client has. */
export interface MuxPage {
  readonly key: string;
  readonly token: string;
  readonly cursor?: string | undefined;
}

/** A refusal of one page, as a frame names it. */
export interface MuxError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** One frame: messages by page key, refusals by page key. */
export interface MuxFrame {
  readonly pages: Readonly<Record<string, Message[]>>;
  readonly errors: Readonly<Record<string, MuxError>>;
}

/** An open shared connection. */
export interface MuxConnection {
  /** The next frame with messages or refusals; rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<MuxFrame>;
  /** Adds a page to the live connection. */
  add(page: MuxPage): void;
  close(): Promise<void>;
}

/** Speaks the many-page protocol of one transport. */
export interface MuxDriver {
  readonly name: string;
  open(base: string, pages: readonly MuxPage[]): MuxConnection;
}

/** A queue of frames and the cursors of the pages, shared by the drivers. */
function frames() {
  const queue: MuxFrame[] = [];
  const cursors = new Map<string, string | undefined>();
  let wake: (() => void) | undefined;
  let failure: string | undefined;
  return {
    cursors,
    tokens: new Map<string, string>(),
    push(raw: { pages?: Record<string, Message[]>; errors?: Record<string, MuxError> }) {
      const frame: MuxFrame = { pages: raw.pages ?? {}, errors: raw.errors ?? {} };
      for (const [key, messages] of Object.entries(frame.pages)) {
        for (const message of messages) if ('cursor' in message) cursors.set(key, message.cursor);
      }
      queue.push(frame);
      wake?.();
    },
    fail(reason: string) {
      failure = reason;
      wake?.();
    },
    async next(timeoutMs = 5_000): Promise<MuxFrame> {
      const deadline = Date.now() + timeoutMs;
      while (queue.length === 0 && failure === undefined && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      const frame = queue.shift();
      if (frame !== undefined) return frame;
      throw new Error(failure ?? `no frame within ${timeoutMs} ms`);
    },
  };
}

function pageParams(tokens: ReadonlyMap<string, string>, cursors: ReadonlyMap<string, string | undefined>): string {
  const query = new URLSearchParams();
  for (const [key, token] of tokens) query.append('p', `${key}~${cursors.get(key) ?? ''}~${token}`);
  return query.toString();
}

/** Long-poll or JSONP: one request at a time carrying every page; adding a page re-polls at once. */
function pollingDriver(name: 'long-poll' | 'jsonp'): MuxDriver {
  return {
    name,
    open(base, pages) {
      const state = frames();
      for (const page of pages) {
        state.tokens.set(page.key, page.token);
        state.cursors.set(page.key, page.cursor);
      }
      let controller = new AbortController();
      let closed = false;
      const loop = async () => {
        while (!closed) {
          controller = new AbortController();
          const callback = name === 'jsonp' ? '&callback=cb' : '';
          try {
            const response = await fetch(`${base}/${name}?${pageParams(state.tokens, state.cursors)}${callback}`, {
              signal: controller.signal,
            });
            if (response.status === 204) continue;
            const text = await response.text();
            const body = (name === 'jsonp' ? parseScript(text, 'cb') : JSON.parse(text)) as Parameters<
              typeof state.push
            >[0] & { messages?: unknown };
            if (body.pages === undefined && body.errors === undefined) continue;
            for (const key of Object.keys(body.errors ?? {})) state.tokens.delete(key);
            state.push(body);
          } catch (error) {
            if (!closed && !controller.signal.aborted) return state.fail(String(error));
          }
        }
      };
      void loop();
      return {
        next: state.next,
        add(page) {
          state.tokens.set(page.key, page.token);
          state.cursors.set(page.key, page.cursor);
          controller.abort();
        },
        async close() {
          closed = true;
          controller.abort();
        },
      };
    },
  };
}

export const longPollMux = pollingDriver('long-poll');
export const jsonpMux = pollingDriver('jsonp');

/** SSE: one stream carrying every page; adding a page reopens it with the pages' cursors. */
export const sseMux: MuxDriver = {
  name: 'sse',
  open(base, pages) {
    const state = frames();
    for (const page of pages) {
      state.tokens.set(page.key, page.token);
      state.cursors.set(page.key, page.cursor);
    }
    let controller = new AbortController();
    let closed = false;
    const stream = async () => {
      while (!closed) {
        controller = new AbortController();
        try {
          const response = await fetch(`${base}/sse?${pageParams(state.tokens, state.cursors)}`, {
            signal: controller.signal,
          });
          if (response.status !== 200) return state.fail(`sse answered ${response.status}`);
          for await (const block of sseBlocks(response.body!)) {
            if (block.data === undefined) continue;
            const body = JSON.parse(block.data) as Parameters<typeof state.push>[0];
            for (const key of Object.keys(body.errors ?? {})) state.tokens.delete(key);
            state.push(body);
          }
        } catch (error) {
          if (!closed && !controller.signal.aborted) return state.fail(String(error));
        }
      }
    };
    void stream();
    return {
      next: state.next,
      add(page) {
        state.tokens.set(page.key, page.token);
        state.cursors.set(page.key, page.cursor);
        controller.abort();
      },
      async close() {
        closed = true;
        controller.abort();
      },
    };
  },
};

/** WebSocket: `?mux=1`, pages added by `add` frames. */
export const websocketMux: MuxDriver = {
  name: 'websocket',
  open(base, pages) {
    const state = frames();
    const socket = new WebSocket(`${base.replace(/^http/, 'ws')}/websocket?mux=1`);
    const pending: MuxPage[] = [...pages];
    const send = (added: readonly MuxPage[]) =>
      socket.send(
        JSON.stringify({ add: added.map(({ key, token, cursor }) => ({ key, token, cursor: cursor ?? null })) }),
      );
    socket.on('open', () => send(pending.splice(0)));
    socket.on('message', (data) => state.push(JSON.parse(String(data)) as Parameters<typeof state.push>[0]));
    socket.on('close', (code, reason) => state.fail(`closed with ${code} ${String(reason)}`));
    socket.on('error', (error) => state.fail(error.message));
    return {
      next: state.next,
      add(page) {
        if (socket.readyState === WebSocket.OPEN) send([page]);
        else pending.push(page);
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

/** The many-page driver of each transport, by name. */
export const muxDrivers: Readonly<Record<string, MuxDriver>> = {
  'long-poll': longPollMux,
  jsonp: jsonpMux,
  sse: sseMux,
  websocket: websocketMux,
};
