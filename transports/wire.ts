// The wire format shared by the transports (docs/protocol.md): which pages a request names, and
// how a frame of messages is written. One page per connection, the first protocol: `token` and
// `cursor` parameters, frames `{"messages":[…]}`. Many pages per connection: `p` parameters (or
// WebSocket `add` frames), frames `{"pages":{"<key>":[…]},"errors":{"<key>":{…}}}`.

import type { Delivery } from '../core/delivery.ts';
import { type Failure, PushError } from '../core/errors.ts';
import type { PageBatch } from '../core/transport.ts';

/** A page a client asks for: its key on the connection, its token, and the cursor it has. */
export interface PageAsk {
  readonly key: string;
  readonly token: string;
  readonly cursor: string | undefined;
}

/** The key of the only page of a connection in the one-page protocol. */
export const singleKey = '';

/** What a page key may be: chosen by the client, short, URL- and JSON-safe. */
export const keyPattern = /^[A-Za-z0-9_-]{1,16}$/;

/** The parameters of a query string, decoded; repeated ones in order. */
export class Query {
  // Names and values, alternating: a query has a few parameters, and a poll parses one each time.
  private readonly pairs: string[] = [];

  constructor(query: string) {
    let at = 0;
    while (at < query.length) {
      let end = query.indexOf('&', at);
      if (end < 0) end = query.length;
      if (end > at) {
        const equals = query.indexOf('=', at);
        const split = equals < 0 || equals > end ? end : equals;
        this.pairs.push(decode(query.slice(at, split)), split === end ? '' : decode(query.slice(split + 1, end)));
      }
      at = end + 1;
    }
  }

  /** The first value of `name`, or `undefined`. */
  get(name: string): string | undefined {
    for (let at = 0; at < this.pairs.length; at += 2) if (this.pairs[at] === name) return this.pairs[at + 1];
    return undefined;
  }

  /** Every value of `name`. */
  all(name: string): readonly string[] {
    const values: string[] = [];
    for (let at = 0; at < this.pairs.length; at += 2) if (this.pairs[at] === name) values.push(this.pairs[at + 1]!);
    return values;
  }
}

function decode(text: string): string {
  if (!text.includes('%') && !text.includes('+')) return text;
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw new PushError('SERVERPUSH_ERR_BAD_REQUEST', 'the query string is malformed');
  }
}

/**
 * The pages a request names. `p=<key>~<cursor>~<token>` (the cursor may be empty) for each page
 * of a connection that carries many, with `cursors` (from `Last-Event-ID`) taking precedence; or,
 * in the one-page protocol, `token` and `cursor` (or `cursor` from `Last-Event-ID`). Throws
 * `SERVERPUSH_ERR_BAD_REQUEST` for a malformed or repeated key.
 */
export function pagesOf(
  query: Query,
  cursors?: ReadonlyMap<string, string>,
): { readonly many: boolean; readonly pages: PageAsk[] } {
  const specs = query.all('p');
  if (specs.length === 0) {
    const cursor = cursors?.get(singleKey) ?? query.get('cursor');
    return {
      many: false,
      pages: [{ key: singleKey, token: query.get('token') ?? '', cursor: cursor === '' ? undefined : cursor }],
    };
  }
  const pages: PageAsk[] = [];
  const seen = new Set<string>();
  for (const spec of specs) {
    const first = spec.indexOf('~');
    const second = first < 0 ? -1 : spec.indexOf('~', first + 1);
    const key = spec.slice(0, first);
    if (second < 0 || !keyPattern.test(key) || seen.has(key)) {
      throw new PushError(
        'SERVERPUSH_ERR_BAD_REQUEST',
        'each `p` parameter must be <key>~<cursor>~<token> with a distinct key of 1 to 16 characters [A-Za-z0-9_-]',
      );
    }
    seen.add(key);
    const cursor = cursors?.get(key) ?? spec.slice(first + 1, second);
    pages.push({ key, token: spec.slice(second + 1), cursor: cursor === '' ? undefined : cursor });
  }
  return { many: true, pages };
}

// One-page frames that carry a single delivery are the same for every page that shares it: written
// once, however many connections send them.
const singleFrames = new WeakMap<Delivery, string>();

/** The one-page frame of a batch: `{"messages":[…]}`. */
export function messagesFrame(deliveries: readonly Delivery[]): string {
  if (deliveries.length === 1) {
    const delivery = deliveries[0]!;
    let frame = singleFrames.get(delivery);
    if (frame === undefined) {
      frame = `{"messages":[${delivery.json}]}`;
      singleFrames.set(delivery, frame);
    }
    return frame;
  }
  let body = '{"messages":[';
  for (let at = 0; at < deliveries.length; at += 1)
    body += at === 0 ? deliveries[at]!.json : `,${deliveries[at]!.json}`;
  return `${body}]}`;
}

/** The many-page frame of batches and refused pages: `{"pages":{…},"errors":{…}}`, either part left out when empty. */
export function pagesFrame(batches: readonly PageBatch[], errors: ReadonlyMap<string, Failure> = new Map()): string {
  const parts: string[] = [];
  if (batches.length > 0) {
    let pages = '';
    for (const batch of batches) {
      let list = '';
      for (const delivery of batch.deliveries) list += list === '' ? delivery.json : `,${delivery.json}`;
      pages += `${pages === '' ? '' : ','}${JSON.stringify(batch.key)}:[${list}]`;
    }
    parts.push(`"pages":{${pages}}`);
  }
  if (errors.size > 0) {
    const refused: Record<string, { status: number; code: string; message: string; retryAfter?: number }> = {};
    for (const [key, { status, error }] of errors) refused[key] = { status, ...error };
    parts.push(`"errors":${JSON.stringify(refused)}`);
  }
  return `{${parts.join(',')}}`;
}
