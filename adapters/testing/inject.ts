// Requests to a Node request listener without a port: each request gets a pair of in-memory
// streams, one end handed to an `http.Server` that never listens (as a new connection), the other
// to `http.request()` as its socket. Both ends parse and write real HTTP/1.1, so headers, cookies,
// status codes and bodies behave as they would on the network.

import { createServer, type IncomingHttpHeaders, type RequestListener, request } from 'node:http';
import { Duplex } from 'node:stream';

/** One request to send in-process. */
export interface InjectRequest {
  readonly method: string;
  /** The path with its query string. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | undefined;
  /** Gives the request up: the server sees its client leave (the response's `close`). */
  readonly signal?: AbortSignal | undefined;
}

/** A response read whole. */
export interface InjectResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** Sends requests to `listener` in-process; see the file comment. */
export type Inject = (request: InjectRequest) => Promise<InjectResponse>;

/** Makes the in-process request function of `listener` (e.g. a Koa app's `callback()`). */
export function injector(listener: () => RequestListener): Inject {
  // Never listening, it holds no handle and no timer: nothing to close.
  const server = createServer((req, res) => listener()(req, res));
  return ({ method, path, headers, body, signal }) =>
    new Promise((resolve, reject) => {
      const [client, served] = streamPair();
      server.emit('connection', served);
      const outgoing = request(
        { method, path, headers, createConnection: () => client, ...(signal === undefined ? {} : { signal }) },
        (incoming) => {
          const chunks: Buffer[] = [];
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.on('error', reject);
          incoming.on('end', () =>
            resolve({
              status: incoming.statusCode ?? 0,
              headers: incoming.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });
}

/** Two connected duplex streams: what one writes, the other reads; destroying one ends both. */
function streamPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const other = (self: Duplex) => (ends[0] === self ? ends[1]! : ends[0]!);
  const make = () => {
    const end: Duplex = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        other(end).push(chunk);
        callback();
      },
      final(callback) {
        other(end).push(null);
        callback();
      },
      destroy(error, callback) {
        const peer = other(end);
        if (!peer.destroyed) peer.destroy();
        callback(error);
      },
    });
    return end;
  };
  ends.push(make(), make());
  return [ends[0]!, ends[1]!];
}
