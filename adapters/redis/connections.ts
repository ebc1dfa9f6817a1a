// The Redis log's connections: the client its commands go through, the reader's own, and how their
// failures are reported: a clear error when Redis cannot be reached at start, then one warning per
// outage and one when Redis is back, naming its host and port and the connection's errno.

import type { Debugger } from 'debug';
import type { Redis } from 'ioredis';
import { createOutage, describeError } from '../../core/tail.ts';

/** What `connect()` needs besides the client. */
export interface ConnectionsOptions {
  /** Whether the log made the client (then it closes it, and hears its errors). */
  readonly owned: boolean;
  readonly startTimeoutMs: number;
  /** Ends the outage warning: what happens meanwhile. */
  readonly meanwhile: string;
  readonly warn: (message: string) => void;
  readonly debug: Debugger;
  /** Whether appends still fail: Redis is not back until they pass (a full Redis refuses writes only). */
  readonly appendsFail: () => boolean;
}

/** The log's connections to Redis. */
export interface Connections {
  /** Every command but the blocking read. */
  readonly client: Redis;
  /** The blocking read's own connection. */
  readonly reader: Redis;
  /** Redis as messages name it: `Redis at 127.0.0.1:6379`. */
  readonly service: string;
  /** Resolves with the first answer of Redis, or rejects with a clear error after `startTimeoutMs` and closes. */
  started<T>(first: Promise<T>): Promise<T>;
  /** A command failed. */
  failed(error: unknown): void;
  /** A command succeeded. */
  answered(): void;
  /** Closes the reader, and the client if the log made it. */
  close(): Promise<void>;
}

/** How long a failure without an errno waits for the connection's error before it is warned of, in ms. */
const explainMs = 1_000;

/**
 * Opens the reader's connection beside `client` and watches both.
 *
 * @example
 * const connections = connect(new Redis(url), { owned: true, startTimeoutMs: 5_000, meanwhile: 'retrying', warn: console.warn, debug, appendsFail: () => false });
 * const head = await connections.started(connections.client.ping());
 */
export function connect(client: Redis, options: ConnectionsOptions): Connections {
  const { owned, startTimeoutMs, debug } = options;
  const service = serviceOf(client);
  // A read cut by a lost connection must fail at once (not be sent again after the reconnect), so
  // the loop can check what Redis kept before it reads on.
  const reader = client.duplicate({
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: true,
  });
  const outage = createOutage({ service, meanwhile: options.meanwhile, warn: options.warn, debug });
  // Until the log is open, a failure is the start's error, not a warning.
  let open = false;
  // The newest error of a connection (ECONNREFUSED and the like): it says more than a failed command.
  let connectionError: Error | undefined;
  // A command failed for a lost connection, which tells no errno: the warning waits a moment for
  // the reconnect's error, which does (a connection back by then was a blip, logged under DEBUG).
  let unexplained: NodeJS.Timeout | undefined;

  function failed(error: unknown) {
    if (!open) return;
    if (connectionError === undefined && !outage.failing && !hasCode(error)) {
      debug('a command failed: %O', error);
      unexplained ??= setTimeout(() => {
        unexplained = undefined;
        outage.fail(connectionError ?? error);
      }, explainMs);
      unexplained.unref();
      return;
    }
    clearTimeout(unexplained);
    unexplained = undefined;
    outage.fail(connectionError ?? error);
  }

  function back() {
    if (reader.status !== 'ready' || client.status !== 'ready') return;
    clearTimeout(unexplained);
    unexplained = undefined;
    outage.recover();
  }

  const connectionOnError = (error: Error) => {
    connectionError = error;
    failed(error);
  };
  const connectionOnReady = () => {
    connectionError = undefined;
    back();
  };
  reader.on('error', connectionOnError).on('ready', connectionOnReady);
  // The error events of a client of yours are yours: listening would silence ioredis's own report.
  if (owned) client.on('error', connectionOnError);
  client.on('ready', connectionOnReady);

  async function close() {
    clearTimeout(unexplained);
    reader.disconnect();
    if (owned) await client.quit().catch(() => client.disconnect());
  }

  return {
    client,
    reader,
    service,
    async started(first) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), startTimeoutMs);
      });
      let failure: Error;
      try {
        const answer = await Promise.race([first, late]);
        if (answer !== 'late') {
          open = true;
          return answer;
        }
        const cause = connectionError ?? new Error('no answer');
        failure = new Error(
          `redisLog(): cannot reach ${service} within ${startTimeoutMs} ms (${describeError(cause)})`,
          {
            cause,
          },
        );
      } catch (error) {
        // Redis answered with an error of its own (NOAUTH, WRONGTYPE), or the client gave up on it.
        const refused = error instanceof Error && error.name === 'ReplyError';
        const cause = refused ? error : (connectionError ?? error);
        const what = refused ? 'cannot open the log on' : 'cannot reach';
        failure = new Error(`redisLog(): ${what} ${service} (${describeError(cause)})`, { cause });
      } finally {
        clearTimeout(timer);
      }
      first.catch(() => {});
      reader.disconnect();
      if (owned) client.disconnect();
      throw failure;
    },
    failed,
    answered() {
      if (!options.appendsFail()) back();
    },
    close,
  };
}

/** Redis as the log's messages name it: its host and port (never the URL, which may hold a password). */
function serviceOf(client: Redis): string {
  const { host, port, path, sentinels, name } = client.options;
  if (typeof path === 'string' && path !== '') return `Redis at ${path}`;
  if (Array.isArray(sentinels) && sentinels.length > 0) return `Redis "${name ?? 'mymaster'}" (through sentinels)`;
  return `Redis at ${host ?? 'localhost'}:${port ?? 6379}`;
}

function hasCode(error: unknown): boolean {
  return typeof (error as { code?: unknown } | undefined)?.code === 'string';
}
