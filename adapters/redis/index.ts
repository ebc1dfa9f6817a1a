// The change log in Redis: a stream shared by every push process, on any number of machines, with an
// epoch beside it so that cursors from before a loss of data are answered with refresh.

/**
 * `redisLog()`: the change log in a Redis stream (needs `ioredis`).
 *
 * @module serverpush/redis
 */

import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import createDebug from 'debug';
import { Redis } from 'ioredis';
import type { ChangeLog, SinceResult } from '../../core/change-log.ts';
import { createTails } from '../../core/tail.ts';
import { stringifyRow } from '../../core/json.ts';
import { optionalFunction, positiveInteger } from '../../core/options.ts';
import type { Change, ChangeInput } from '../../core/types.ts';
import { createAppender, type Appended, type BufferBounds, type ScanFrom } from './appender.ts';
import { connect } from './connections.ts';
import {
  changeOf,
  compareIds,
  comparePositions,
  entryOf,
  epochOf,
  list,
  pair,
  position,
  type Entry,
  type Position,
} from './entries.ts';

const debug = createDebug('serverpush:redis');

/** Options of `redisLog()`. */
export interface RedisLogOptions {
  /** An ioredis client of yours; `close()` leaves it open. Give this or `url`. Default: none. */
  readonly redis?: Redis | undefined;
  /** The Redis server's URL (`redis://` or `rediss://`), for a client of the log's own. Default: none. */
  readonly url?: string | undefined;
  /** The stream's key; the epoch lives at `<key>:epoch`. Default: `'serverpush:changes'`. */
  readonly key?: string | undefined;
  /** How many changes the stream keeps, at least (trimming is approximate). Default: `100_000`. */
  readonly maxLength?: number | undefined;
  /** How long one blocking read waits for new changes before it checks the epoch, in ms. Default: `5_000`. */
  readonly blockMs?: number | undefined;
  /** How long `redisLog()` waits for Redis to answer before it fails, in ms. Default: `5_000`. */
  readonly startTimeoutMs?: number | undefined;
  /**
   * How many changes may wait to be appended while Redis fails; past it the oldest are given up and
   * every page refreshes (a new epoch). Default: `1_000`.
   */
  readonly maxBuffered?: number | undefined;
  /** How many bytes of changes (as JSON) may wait to be appended while Redis fails. Default: `1_048_576`. */
  readonly maxBufferedBytes?: number | undefined;
  /**
   * How long an append is tried again while Redis fails, in ms; past it the change is given up and
   * every page refreshes (a new epoch). Default: `30_000`.
   */
  readonly maxBufferedMs?: number | undefined;
  /**
   * Receives the one-line warnings: Redis failed (once per outage), is back (once), changes were
   * given up. Default: `console.warn`. `DEBUG=serverpush:redis` logs the full errors besides.
   */
  readonly onWarning?: ((message: string) => void) | undefined;
}

// The Lua script that runs every operation (./script.lua), read once.
const script = readFileSync(new URL('./script.lua', import.meta.url), 'utf8');
const scriptSha = createHash('sha1').update(script).digest('hex');

/**
 * Creates a change log kept in a Redis stream (Redis 5 or later), shared by every push process that
 * opens the same `key`; pages refresh when Redis loses the stream. See
 * docs/deployment.md#change-log-in-redis.
 *
 * @example
 * const push = createPush({ secret, router, orm: objection(), log: await redisLog({ url: 'redis://127.0.0.1:6379' }) });
 */
export function redisLog(options: RedisLogOptions): Promise<ChangeLog> {
  const { redis, url } = options;
  if (redis === undefined && url === undefined)
    throw new TypeError('The `redis` option or the `url` option is required');
  if (redis !== undefined && url !== undefined)
    throw new TypeError('Give the `redis` option or the `url` option, not both');
  if (redis !== undefined && (typeof redis?.duplicate !== 'function' || typeof redis.xread !== 'function')) {
    throw new TypeError('The `redis` option must be an ioredis client');
  }
  if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) {
    throw new TypeError('The `url` option must be a redis:// or rediss:// URL');
  }
  const key = options.key ?? 'serverpush:changes';
  if (typeof key !== 'string' || key === '') throw new TypeError('The `key` option must be a non-empty string');
  const settings: Settings = {
    key,
    maxLength: positiveInteger(options.maxLength ?? 100_000, 'maxLength'),
    blockMs: positiveInteger(options.blockMs ?? 5_000, 'blockMs'),
    startTimeoutMs: positiveInteger(options.startTimeoutMs ?? 5_000, 'startTimeoutMs'),
    bounds: {
      maxBuffered: positiveInteger(options.maxBuffered ?? 1_000, 'maxBuffered'),
      maxBufferedBytes: positiveInteger(options.maxBufferedBytes ?? 1_048_576, 'maxBufferedBytes'),
      maxBufferedMs: positiveInteger(options.maxBufferedMs ?? 30_000, 'maxBufferedMs'),
    },
    warn: optionalFunction(options.onWarning, 'onWarning') ?? warnOnConsole,
  };
  return open(redis ?? new Redis(url!), redis === undefined, settings);
}

interface Settings {
  readonly key: string;
  readonly maxLength: number;
  readonly blockMs: number;
  readonly startTimeoutMs: number;
  readonly bounds: BufferBounds;
  readonly warn: (message: string) => void;
}

async function open(redis: Redis, owned: boolean, settings: Settings): Promise<ChangeLog> {
  const { key, maxLength, blockMs, bounds } = settings;
  const connections = connect(redis, {
    owned,
    startTimeoutMs: settings.startTimeoutMs,
    meanwhile: `retrying; appends wait up to ${bounds.maxBufferedMs} ms`,
    warn: settings.warn,
    debug,
    appendsFail: () => appender.failing,
  });
  const { client, reader, service, failed } = connections;
  const tails = createTails();
  const stopping = new AbortController();
  // The reader's waits end when the log closes, even on a client that waits for Redis forever.
  const stopped = new Promise<never>((_, reject) =>
    stopping.signal.addEventListener('abort', () => reject(new Error('closed'))),
  );
  stopped.catch(() => {});
  let current: { epoch: string; start: string };
  // Cursors of the current epoch below `floor` are refused: the reader missed changes after them.
  let floor: Position | undefined;
  let confirming: Promise<void> = Promise.resolve();
  let confirmedAt = 0;
  // The newest entry this process knows of (read, or appended by it): where a retried append looks
  // for what an earlier try of it wrote.
  let newest: ScanFrom = { epoch: '', id: '0-0' };
  const know = (epoch: string, id: string) => {
    if (epoch !== newest.epoch || compareIds(id, newest.id) > 0) newest = { epoch, id };
  };

  async function run(connection: Redis, op: string, ...args: string[]): Promise<unknown> {
    const argv = [op, randomBytes(5).toString('hex'), ...args];
    try {
      return await connection.evalsha(scriptSha, 2, key, `${key}:epoch`, ...argv);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return connection.eval(script, 2, key, `${key}:epoch`, ...argv);
    }
  }

  // Asks Redis for the epoch (or, with `verify`, whether the entry the reader read last is still
  // there) and adopts its answer. Calls are chained, so each answer is newer than the one before.
  function confirm(connection = client, ...verify: string[]): Promise<void> {
    const next = confirming.then(async () =>
      adopt(await run(connection, verify.length > 0 ? 'verify' : 'epoch', ...verify)),
    );
    confirming = next.catch(failed);
    return next;
  }

  // An answer showed another epoch than this process's: find out which holds now. The answer
  // itself stands either way, so a failure here is no failure of the call that asked.
  async function learn(epoch: string) {
    if (epoch !== current.epoch) await confirm().catch(() => {});
  }

  function adopt(value: unknown) {
    const [epoch, start] = epochOf(value);
    if (epoch === current.epoch) return;
    debug('epoch %s is now %s, starting after %s', current.epoch, epoch, start);
    current = { epoch, start };
    floor = undefined;
    // Pages waiting on this process hold cursors of the old epoch: tell them now, not at their next poll.
    tails.gap('epoch');
  }

  const [value, head] = pair(await connections.started(run(client, 'head')));
  const [epoch, start] = epochOf(value);
  current = { epoch, start };
  know(epoch, head);

  function deliver(change: Change, previous: string, lastId: string) {
    if (compareIds(previous, lastId) > 0) {
      debug('entries after %s were trimmed before they were read', lastId);
      const missed = position(`${current.epoch}.${previous}`);
      if (floor === undefined || comparePositions(missed, floor) > 0) floor = missed;
    }
    tails.deliver(change);
  }

  async function read(from: string) {
    let readerEpoch = current.epoch;
    let lastId = from;
    let recovering = false;
    while (!stopping.signal.aborted) {
      try {
        if (recovering) await Promise.race([confirm(reader, readerEpoch, lastId), stopped]);
        recovering = false;
        if (readerEpoch !== current.epoch) [readerEpoch, lastId] = [current.epoch, current.start];
        const reply = await reader.xread('COUNT', 1_000, 'BLOCK', blockMs, 'STREAMS', key, lastId);
        if (reply === null) {
          await Promise.race([confirm(reader), stopped]);
          connections.answered();
          continue;
        }
        for (const [id, fields] of reply[0]?.[1] ?? []) {
          if (readerEpoch !== current.epoch) break;
          const entry = entryOf(id, fields);
          if (entry !== undefined && (entry.epoch !== current.epoch || compareIds(entry.previous, lastId) < 0)) {
            // A new epoch, or an entry that follows less than was read: Redis came back with an
            // older copy of the stream. Either way, Redis says which epoch holds.
            await Promise.race([
              confirm(reader, ...(entry.epoch === current.epoch ? [readerEpoch, lastId] : [])),
              stopped,
            ]);
            if (readerEpoch !== current.epoch) break;
          }
          if (entry === undefined || entry.epoch !== current.epoch) {
            debug('skipped entry %s of the stream: not a change of this epoch', id);
          } else {
            deliver(entry.change, entry.previous, lastId);
          }
          lastId = id;
          know(readerEpoch, id);
        }
        connections.answered();
      } catch (error) {
        if (stopping.signal.aborted) break;
        failed(error);
        recovering = true;
        await delay(250, undefined, { signal: stopping.signal }).catch(() => {});
      }
    }
  }

  const appender = createAppender(
    {
      async send(batch): Promise<Appended> {
        const { id, json, scanFrom, retry } = batch;
        const mode = retry ? 'retry' : 'first';
        const reply = list(
          await run(client, 'append', String(maxLength), id, mode, scanFrom.epoch, scanFrom.id, ...json),
        );
        await learn(epochOf(reply[0])[0]);
        if (reply[1] !== 'ok') return 'unsure';
        const epoch = String(reply[2]);
        const ids = reply.slice(3).map(String);
        know(epoch, ids.at(-1)!);
        return { epoch, ids };
      },
      async rotate() {
        const from = current.epoch;
        adopt(await run(client, 'rotate', from));
        debug('started a new epoch after epoch %s lost changes', from);
      },
      newest: () => newest,
      failed,
      succeeded: connections.answered,
      gaveUp(what, error) {
        debug('%s: %O', what, error);
        settings.warn(`serverpush: ${what}`);
      },
    },
    bounds,
    service,
  );

  const reading = read(head);

  return {
    async append(inputs: readonly ChangeInput[]) {
      if (inputs.length === 0) return [];
      const json = inputs.map(({ model, op, id, after, before }) =>
        stringifyRow({ model, op, id, after, before: before ?? null }),
      );
      const { epoch, ids } = await appender.append(json);
      return json.map((text, index) => changeOf(epoch, ids[index]!, text));
    },
    async head() {
      const [value, id] = pair(await run(client, 'head'));
      const [epoch] = epochOf(value);
      await learn(epoch);
      return `${epoch}.${id}`;
    },
    async since(cursor: string): Promise<SinceResult> {
      const { epoch, ms, seq } = position(cursor);
      const reply = list(await run(client, 'since', epoch, `${ms}-${seq}`, `${ms}-${seq + 1}`));
      await learn(epochOf(reply[0])[0]);
      if (reply[1] === 'history' || reply[1] === 'epoch') return { ok: false, reason: reply[1] };
      const changes: Change[] = [];
      for (const [id, fields] of reply[2] as Entry[]) {
        const entry = entryOf(id, fields);
        if (entry?.epoch !== epoch) return { ok: false, reason: 'epoch' };
        changes.push(entry.change);
      }
      return { ok: true, changes };
    },
    check(cursor: string) {
      const parsed = position(cursor);
      if (parsed.epoch !== current.epoch) {
        // Perhaps another process saw a new epoch first: look, at most once a second.
        if (Date.now() - confirmedAt >= 1_000) {
          confirmedAt = Date.now();
          void confirm().catch(() => {});
        }
        return false;
      }
      return floor === undefined || comparePositions(parsed, floor) >= 0;
    },
    compare(a: string, b: string) {
      const x = position(a);
      const y = position(b);
      if (x.epoch === y.epoch) return comparePositions(x, y);
      // Cursors of an older epoch sort after the current one's: a page of the old epoch takes no
      // change of the new one, and a client of the new epoch is not served by an old page.
      if (x.epoch === current.epoch) return -1;
      if (y.epoch === current.epoch) return 1;
      return x.epoch < y.epoch ? -1 : 1;
    },
    tail: tails.tail,
    async close() {
      if (stopping.signal.aborted) return;
      stopping.abort();
      tails.clear();
      reader.disconnect();
      // Buffered changes get the time the bounds give them, then are given up.
      await appender.close(bounds.maxBufferedMs);
      await reading;
      await connections.close();
    },
  };
}

function warnOnConsole(message: string) {
  console.warn(message);
}
