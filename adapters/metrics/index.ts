// `serverpush/metrics`: a push process's metrics in the Prometheus text format, through prom-client
// (an optional peer: `npm install prom-client`), loaded when `metrics()` is first called. The
// metrics are an observer of the push instance (`push.observe()`): a process that never calls
// `metrics()` pays nothing for them.

/**
 * `metrics()`: a push process's metrics in the Prometheus text format (needs `prom-client`).
 *
 * @module serverpush/metrics
 */

import type { Histogram, Registry } from 'prom-client';
import { errorCodes, type ErrorCode } from '../../core/errors.ts';
import { type ConnectionKind, connectionKinds, type PushSnapshot, serializerKinds } from '../../core/observe.ts';
import type { Push } from '../../core/push.ts';
import type { RefreshReason } from '../../core/types.ts';
import { loadPromClient } from './load.ts';

/** Options of `metrics()`. */
export interface MetricsOptions {
  /**
   * The prom-client `Registry` to register the metrics in: prom-client's global `register` puts them
   * beside the app's own (and `collectDefaultMetrics()`'s). Default: a new registry of their own.
   */
  readonly registry?: Registry | undefined;
  /**
   * The start of every metric name: letters, digits, `_` and `:`, not a digit first. Two push
   * instances in one process that share a registry need different prefixes. Default: `'serverpush_'`.
   */
  readonly prefix?: string | undefined;
  /**
   * The buckets of `serverpush_delivery_latency_seconds`, in seconds, increasing.
   * Default: `[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]`.
   */
  readonly latencyBuckets?: readonly number[] | undefined;
  /** The buckets of `serverpush_batch_messages`, increasing. Default: `[1, 2, 5, 10, 20, 50, 100, 200, 500]`. */
  readonly batchBuckets?: readonly number[] | undefined;
}

/** The part of a Koa context (or any like it) the scrape handler writes. */
export interface ScrapeContext {
  type: string;
  body: unknown;
}

/**
 * A push instance's metrics: a Koa middleware that answers a scrape with them, plus the registry
 * they live in.
 */
export interface PushMetrics {
  /** Answers a scrape: the registry's metrics in the Prometheus text format. */
  (ctx: ScrapeContext): Promise<void>;
  /** The registry the metrics are registered in. */
  readonly registry: Registry;
  /** The registry's metrics in the Prometheus text format. */
  text(): Promise<string>;
  /** Stops observing the push instance and removes the metrics from the registry. */
  close(): void;
}

const defaults = {
  prefix: 'serverpush_',
  latencyBuckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  batchBuckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
} as const;

const refreshReasons: readonly RefreshReason[] = [
  'history',
  'epoch',
  'overflow',
  'slow',
  'expired',
  'revalidate',
  'disconnect',
  'unavailable',
];

/**
 * Registers the metrics of `push` (this process's) in a prom-client registry and returns the scrape
 * handler. Throws a `TypeError` naming a bad option, and an `Error` saying `npm install
 * prom-client` when prom-client is missing.
 *
 * @example
 * import { metrics } from 'serverpush/metrics';
 * router.get('/metrics', metrics(push)); // Prometheus scrapes http://host:port/metrics
 * // Beside the app's own metrics, in prom-client's global registry:
 * import { register, collectDefaultMetrics } from 'prom-client';
 * collectDefaultMetrics();
 * router.get('/metrics', metrics(push, { registry: register }));
 */
export function metrics(push: Push<never> | Push<unknown>, options: MetricsOptions = {}): PushMetrics {
  if (typeof push?.observe !== 'function' || typeof push.snapshot !== 'function')
    throw new TypeError('metrics(): the first argument must be a push instance (createPush())');
  if (typeof options !== 'object' || options === null) throw new TypeError('metrics(): the options must be an object');
  for (const key of Object.keys(options)) {
    if (!['registry', 'prefix', 'latencyBuckets', 'batchBuckets'].includes(key))
      throw new TypeError(
        `metrics(): unknown option \`${key}\`; known: registry, prefix, latencyBuckets, batchBuckets`,
      );
  }
  const prefix = options.prefix ?? defaults.prefix;
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix))
    throw new TypeError(
      `The \`prefix\` option must start a Prometheus metric name (letters, digits, _ and :, not a digit first), got ${JSON.stringify(prefix)}`,
    );
  const latencyBuckets = buckets(options.latencyBuckets ?? defaults.latencyBuckets, 'latencyBuckets');
  const batchBuckets = buckets(options.batchBuckets ?? defaults.batchBuckets, 'batchBuckets');
  const client = loadPromClient();
  const registry = options.registry ?? new client.Registry();
  if (!isRegistry(registry))
    throw new TypeError(
      "The `registry` option must be a prom-client Registry (`new Registry()`, or prom-client's `register`)",
    );

  // The gauges read one snapshot per scrape: every collect() of a scrape starts before any awaits.
  let snapshotting: Promise<PushSnapshot> | undefined;
  const snapshot = () => {
    if (snapshotting === undefined) {
      snapshotting = push.snapshot();
      void snapshotting.finally(() => (snapshotting = undefined)).catch(() => {});
    }
    return snapshotting;
  };

  const registered: string[] = [];
  function register<M>(make: (registers: Registry[]) => M, name: string): M {
    if (registry.getSingleMetric(name) !== undefined) {
      for (const made of registered) registry.removeSingleMetric(made);
      throw new TypeError(
        `metrics(): the registry has a metric named ${name} already (another push instance's metrics?): pass another \`prefix\` or registry`,
      );
    }
    const metric = make([registry]);
    registered.push(name);
    return metric;
  }
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    register((registers) => new client.Counter<L>({ name: prefix + name, help, labelNames, registers }), prefix + name);
  const histogram = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    bucketList: readonly number[],
  ) =>
    register(
      (registers) =>
        new client.Histogram<L>({ name: prefix + name, help, labelNames, buckets: [...bucketList], registers }),
      prefix + name,
    );

  register(
    (registers) =>
      new client.Gauge({
        name: `${prefix}connections`,
        help: 'Open connections (held polls, streams, sockets), by transport.',
        labelNames: ['transport'],
        registers,
        async collect() {
          const { connections } = await snapshot();
          for (const kind of connectionKinds) this.set({ transport: kind }, connections[kind]);
        },
      }),
    `${prefix}connections`,
  );
  register(
    (registers) =>
      new client.Gauge({
        name: `${prefix}pages`,
        help: 'Pages this process serves.',
        registers,
        async collect() {
          this.set((await snapshot()).pages);
        },
      }),
    `${prefix}pages`,
  );
  register(
    (registers) =>
      new client.Gauge({
        name: `${prefix}subscriptions`,
        help: "Update specs of this process's pages in its index.",
        registers,
        async collect() {
          this.set((await snapshot()).subscriptions);
        },
      }),
    `${prefix}subscriptions`,
  );
  register(
    (registers) =>
      new client.Gauge({
        name: `${prefix}log_lag_changes`,
        help: 'Changes in the change log this process has not routed yet (NaN when the log cannot count them or did not answer).',
        registers,
        async collect() {
          this.set((await snapshot()).log.lag ?? Number.NaN);
        },
      }),
    `${prefix}log_lag_changes`,
  );
  const changesRead = counter('changes_read_total', 'Changes the change log handed this process.');
  const deliveries = counter('deliveries_total', 'Change messages written to connections, by transport.', [
    'transport',
  ]);
  const refreshes = counter('refreshes_total', 'Pages told to refresh, by reason.', ['reason']);
  const serializerCalls = counter('serializer_calls_total', 'Serializer runs, by kind of serializer.', ['kind']);
  const serializerErrors = counter('serializer_errors_total', 'Serializers that threw, by kind of serializer.', [
    'kind',
  ]);
  const authorizeDrops = counter('authorize_drops_total', 'Changes `authorize` dropped for a page.');
  const slowDisconnects = counter(
    'slow_disconnects_total',
    'Connections ended because their reader could not keep up, by transport.',
    ['transport'],
  );
  const rejected = counter('rejected_requests_total', 'Requests refused with an error code.', ['code']);
  const internalErrors = counter('internal_errors_total', 'Internal errors reported to onError.');
  const latency = histogram(
    'delivery_latency_seconds',
    'Time from a change entering the change log to its message being written to a connection, by transport.',
    ['transport'],
    latencyBuckets,
  );
  const batches = histogram('batch_messages', 'Messages in one frame written to a connection.', [], batchBuckets);

  // Every label value from the start, so that rate() sees a series before its first increment.
  for (const kind of connectionKinds) {
    deliveries.labels(kind).inc(0);
    slowDisconnects.labels(kind).inc(0);
    latency.zero({ transport: kind });
  }
  for (const reason of refreshReasons) refreshes.labels(reason).inc(0);
  for (const kind of serializerKinds) {
    serializerCalls.labels(kind).inc(0);
    serializerErrors.labels(kind).inc(0);
  }
  for (const code of Object.keys(errorCodes) as ErrorCode[]) rejected.labels(code).inc(0);

  const stop = push.observe({
    changeRead: () => changesRead.inc(),
    frameWritten: (transport, frame, now) => writtenFrame(transport, frame, now),
    refreshed: (reason) => refreshes.inc({ reason }),
    serializerCalled: (kind) => serializerCalls.inc({ kind }),
    serializerFailed: (kind) => serializerErrors.inc({ kind }),
    authorizeDropped: () => authorizeDrops.inc(),
    connectionClosed: (transport, slow) => slow && slowDisconnects.inc({ transport }),
    rejected: (code) => rejected.inc({ code }),
    errorReported: () => internalErrors.inc(),
  });

  function writtenFrame(transport: ConnectionKind, frame: Parameters<typeof countFrame>[0], now: number) {
    const { messages, changes } = countFrame(frame, now, latency, transport);
    batches.observe(messages);
    if (changes > 0) deliveries.inc({ transport }, changes);
  }

  const text = () => registry.metrics();
  const scrape = async (ctx: ScrapeContext) => {
    ctx.type = registry.contentType;
    ctx.body = await text();
  };
  return Object.assign(scrape, {
    registry,
    text,
    close() {
      stop();
      for (const name of registered.splice(0)) registry.removeSingleMetric(name);
    },
  });
}

/** Counts a frame's messages and change messages, observing each change's time from append to now. */
function countFrame(
  frame: ReadonlyArray<{
    readonly deliveries: ReadonlyArray<{ readonly cursor: string | undefined; readonly at?: number | undefined }>;
  }>,
  now: number,
  latency: Histogram<'transport'>,
  transport: ConnectionKind,
): { messages: number; changes: number } {
  let messages = 0;
  let changes = 0;
  let observe: ((seconds: number) => void) | undefined;
  for (const batch of frame) {
    for (const delivery of batch.deliveries) {
      messages += 1;
      if (delivery.cursor === undefined) continue;
      changes += 1;
      if (delivery.at === undefined) continue;
      observe ??= latency.labels(transport).observe;
      observe(Math.max(0, now - delivery.at) / 1_000);
    }
  }
  return { messages, changes };
}

/** Checks a bucket list: numbers, finite, increasing, at least one. */
function buckets(value: unknown, option: string): number[] {
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every(
      (bound, at) => typeof bound === 'number' && Number.isFinite(bound) && (at === 0 || bound > value[at - 1]),
    )
  )
    throw new TypeError(`The \`${option}\` option must be a non-empty array of increasing finite numbers`);
  return [...value];
}

/** Whether `value` is a prom-client `Registry` (of any copy of prom-client: not by `instanceof`). */
function isRegistry(value: unknown): value is Registry {
  const registry = value as Partial<Registry> | null;
  return (
    typeof registry === 'object' &&
    registry !== null &&
    typeof registry.registerMetric === 'function' &&
    typeof registry.getSingleMetric === 'function' &&
    typeof registry.removeSingleMetric === 'function' &&
    typeof registry.metrics === 'function'
  );
}
