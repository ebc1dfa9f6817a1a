// The client side of bench/fanout.ts, in a process of its own: connects N clients of one kind,
// says "ready", then records the latency of every delivery and prints a JSON summary.
//
//   tsx bench/fanout-clients.ts <kind> <url[,url…]> <clients> <expected changes> [tokens file]
//
// With several URLs, client i connects to URL i mod n, as a load balancer would spread them. With a
// tokens file (one page token a line), clients take their tokens from it instead of `GET /page`.

import { readFileSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { io } from 'socket.io-client';
import WebSocket from 'ws';

const [kind = '', urlList = '', clientsArg = '0', expectedArg = '0', tokensFile] = process.argv.slice(2);
const urls = urlList.split(',');
const url = urls[0] ?? '';
const tokens = tokensFile === undefined ? undefined : readFileSync(tokensFile, 'utf8').split('\n').filter(Boolean);
const clients = Number(clientsArg);
const expected = Number(expectedArg);
const latencies: number[] = [];
let received = 0;
let lastAt = 0;
const stops: Array<() => void> = [];
const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
const now = () => performance.timeOrigin + performance.now();

function delivered(payload: { sentAt: number }) {
  const at = now();
  latencies.push(at - payload.sentAt);
  received += 1;
  lastAt = at;
  if (received === clients * expected) finish();
}

function finish() {
  latencies.sort((a, b) => a - b);
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  process.stdout.write(`${JSON.stringify({ received, lastAt, p50: pick(0.5), p99: pick(0.99) })}\n`);
  for (const stop of stops) stop();
  setTimeout(() => process.exit(0), 200).unref();
}

type Batch = { messages: Array<{ cursor?: string; data?: { sentAt: number } }> };
function onBatch(batch: Batch): string | undefined {
  let cursor: string | undefined;
  for (const message of batch.messages) {
    if (message.data !== undefined) delivered(message.data);
    if (message.cursor !== undefined) cursor = message.cursor;
  }
  return cursor;
}

async function serverpushClient(token: string, origin: string): Promise<void> {
  const base = `${origin}/serverpush`;
  if (kind === 'long-poll') {
    // Plain node:http with keep-alive, as socket.io-client's polling uses, so the figures compare
    // servers rather than HTTP client libraries.
    let stopped = false;
    stops.push(() => (stopped = true));
    let cursor: string | undefined;
    let first = true;
    const poll = () => {
      if (stopped) return;
      const query = new URLSearchParams(cursor === undefined ? { token } : { token, cursor });
      get(`${base}/long-poll?${query}`, { agent }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => {
          if (first) {
            first = false;
            connected();
          }
          if (response.statusCode === 200) cursor = onBatch(JSON.parse(body) as Batch) ?? cursor;
          poll();
        });
      }).on('error', () => {});
    };
    poll();
    return;
  }
  if (kind === 'sse') {
    const controller = new AbortController();
    stops.push(() => controller.abort());
    const response = await fetch(`${base}/sse?token=${token}`, { signal: controller.signal });
    connected();
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      const reader = response.body!.getReader();
      try {
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
          buffer += decoder.decode(chunk.value, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const event = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = event
              .split('\n')
              .filter((line) => line.startsWith('data:'))
              .map((line) => line.slice(5).trimStart())
              .join('\n');
            if (data !== '') onBatch(JSON.parse(data) as Batch);
          }
        }
      } catch {
        // aborted at the end
      }
    })();
    return;
  }
  if (kind === 'websocket') {
    const socket = new WebSocket(`${base.replace(/^http/, 'ws')}/websocket?token=${token}`);
    stops.push(() => socket.terminate());
    socket.on('message', (frame) => onBatch(JSON.parse(String(frame)) as Batch));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    connected();
    return;
  }
  throw new Error(`unknown kind ${kind}`);
}

function socketIoClient(transport: 'polling' | 'websocket'): Promise<void> {
  const socket = io(url, { transports: [transport], forceNew: true, reconnection: false });
  stops.push(() => socket.close());
  socket.on('change', (payload: { sentAt: number }) => delivered(payload));
  return new Promise((resolve) =>
    socket.once('connect', () => {
      connected();
      resolve();
    }),
  );
}

let ready = 0;
function connected() {
  ready += 1;
  if (ready === clients) process.stdout.write('ready\n');
}

// Connect in slices so the server is not hit by a thousand handshakes at once.
for (let start = 0; start < clients; start += 100) {
  await Promise.all(
    Array.from({ length: Math.min(100, clients - start) }, async (_, offset) => {
      if (kind.startsWith('socket.io-')) return socketIoClient(kind === 'socket.io-polling' ? 'polling' : 'websocket');
      const index = start + offset;
      const origin = urls[index % urls.length]!;
      const token = tokens?.[index] ?? (await (await fetch(`${origin}/page`)).text());
      return serverpushClient(token, origin);
    }),
  );
}
setTimeout(() => {
  process.stderr.write(`fanout-clients ${kind}: timed out with ${received} of ${clients * expected}\n`);
  finish();
}, 120_000).unref();
