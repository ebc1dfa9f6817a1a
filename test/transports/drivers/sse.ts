// Server-Sent Events, as a minimal client speaks it: a streaming fetch whose body is parsed into
// events by hand, so that tests see the wire as a browser would (comments, ids, `retry:`).

import type { Message } from '../../../core/types.ts';
import type { Driver, Received } from '../conformance.ts';

/** The lines of one event (everything up to a blank line), and when its last line arrived. */
export interface SseBlock {
  /** Comment lines, without the colon and the one space after it. */
  readonly comments: readonly string[];
  readonly id?: string;
  /** The `data:` lines joined with line feeds, as EventSource joins them. */
  readonly data?: string;
  readonly retry?: string;
  readonly event?: string;
  /** `performance.now()` when the blank line that ended the block arrived. */
  readonly at: number;
}

/**
 * Parses an event stream into blocks, following the EventSource parsing rules: lines end at CRLF,
 * CR or LF; `field: value` loses one space after the colon; a line starting with a colon is a
 * comment. https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
 */
export async function* sseBlocks(body: ReadableStream<Uint8Array>): AsyncGenerator<SseBlock> {
  const decoder = new TextDecoder();
  let buffer = '';
  let block: { comments: string[]; data?: string[]; fields: Record<string, string> } = { comments: [], fields: {} };
  const reader = body.getReader();
  for (;;) {
    const chunk = await reader.read();
    if (chunk.done) return;
    buffer += decoder.decode(chunk.value, { stream: true });
    for (;;) {
      const end = buffer.search(/[\r\n]/);
      // A CR at the end of the buffer may be half of a CRLF.
      if (end === -1 || (buffer[end] === '\r' && end === buffer.length - 1)) break;
      const line = buffer.slice(0, end);
      buffer = buffer.slice(buffer.startsWith('\r\n', end) ? end + 2 : end + 1);
      if (line === '') {
        const { comments, data, fields } = block;
        if (comments.length > 0 || data !== undefined || Object.keys(fields).length > 0) {
          yield {
            comments,
            ...fields,
            ...(data === undefined ? {} : { data: data.join('\n') }),
            at: performance.now(),
          };
        }
        block = { comments: [], fields: {} };
        continue;
      }
      const colon = line.indexOf(':');
      const name = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (name === '') block.comments.push(value);
      else if (name === 'data') (block.data ??= []).push(value);
      else block.fields[name] = value;
    }
  }
}

/** The data of an event, as the server frames it: a batch of messages, or an error. */
type EventData = { messages: Message[] } | { status: number; error: { code: string; message: string } };

export const sseDriver: Driver = {
  name: 'sse',
  open(base, token, cursor) {
    const controller = new AbortController();
    const query = new URLSearchParams(cursor === undefined ? { token } : { token, cursor });
    const opened = fetch(`${base}/sse?${query}`, {
      signal: controller.signal,
      headers: { Accept: 'text/event-stream' },
    }).then(async (response): Promise<{ refused: Received } | { blocks: AsyncIterator<SseBlock> }> => {
      if (response.status !== 200 || response.body === null) {
        const body = (await response.json()) as { error: { code: string; message: string } };
        return { refused: { error: { status: response.status, ...body.error } } };
      }
      return { blocks: sseBlocks(response.body)[Symbol.asyncIterator]() };
    });
    // Closing before the first `next()` aborts the fetch, which nobody else awaits.
    opened.catch(() => undefined);

    async function read(): Promise<Received> {
      const stream = await opened;
      if ('refused' in stream) return stream.refused;
      for (;;) {
        const block = await stream.blocks.next();
        if (block.done === true) throw new Error('the server ended the stream');
        if (block.value.data === undefined) continue;
        const data = JSON.parse(block.value.data) as EventData;
        if ('error' in data) return { error: { status: data.status, ...data.error } };
        if (data.messages.length > 0) return { messages: data.messages };
      }
    }

    return {
      async next(timeoutMs = 5_000) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no messages within ${timeoutMs} ms`)), timeoutMs);
        });
        try {
          return await Promise.race([read(), timeout]);
        } finally {
          clearTimeout(timer);
        }
      },
      async close() {
        controller.abort();
      },
    };
  },
};
