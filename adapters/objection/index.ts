// The Objection ORM adapter: a model mixin whose static query hooks report every committed row
// change, and the `OrmAdapter` that hands those changes to serverpush.

import createDebug from 'debug';
import type { Knex } from 'knex';
import type { MaybeCompositeId, Model, StaticHookArguments } from 'objection';
import type { ChangeLog } from '../../core/change-log.ts';
import type { ChangeInput, ChangeSink, Id, Op, OrmAdapter, Row } from '../../core/types.ts';
import { createCommitQueue } from '../knex/commit-queue.ts';

const debug = createDebug('serverpush:objection');

/** Options of `objection()`. */
export interface ObjectionOptions {
  /**
   * Turns a model instance, read back from the database inside the statement's transaction,
   * into the `before` or `after` row of a change. Default: `(model) => model.$toJson()`, so rows
   * are keyed by model property name, with `$formatJson()` and virtual attributes applied.
   */
  readonly toRow?: ((model: Model) => Row) | undefined;
}

const defaults = {
  toRow: (model: Model): Row => model.$toJson(),
} satisfies Required<ObjectionOptions>;

/** A change as the hooks record it: model instances, turned into rows per attached adapter. */
interface Pending {
  readonly model: string;
  readonly op: Op;
  readonly id: Id;
  readonly before: Model | null;
  readonly after: Model | null;
}

/** A change log that appends inside the caller's transaction, like `knexLog()`: a transactional outbox. */
interface Outbox {
  appendWithin(trx: Knex, changes: readonly ChangeInput[]): Promise<void>;
}

interface Subscriber {
  readonly sink: ChangeSink;
  readonly toRow: (model: Model) => Row;
  /** When the attached log is an outbox, changes go to it within the statement's transaction, not to `sink`. */
  readonly outbox: Outbox | undefined;
}

// Module-level, so that every model made pushable reports to every attached adapter, whichever
// module made it pushable.
const subscribers = new Set<Subscriber>();
const pushables = new WeakSet<object>();
const committed = createCommitQueue(deliver);

type HookArgs = StaticHookArguments<Model>;
type ModelClass = typeof Model;

/**
 * Makes a model class report its inserts, updates, patches and deletes, whether they run on an
 * instance (`$query().patch()`) or on a query builder (`query().patch().where()`,
 * `.increment()`, `.deleteById()`…), to every adapter made by `objection()` and attached.
 *
 * It works through objection's static query hooks `beforeUpdate`, `afterUpdate`,
 * `beforeDelete`, `afterDelete` and `afterInsert`. A subclass that defines one of them must call
 * the parent's (`await super.beforeUpdate(args)`) and return what the parent's after-hook returned.
 * Writes that bypass objection (knex queries, `toKnexQuery()`) are not seen, and neither is an
 * insert whose `returning()` leaves out the id column (it is logged).
 *
 * Rows are read back with statements of their own, in the statement's transaction: outside a
 * transaction, a concurrent write to the same row can show in its before or after row. Ids are
 * reported as the driver returns them: node-postgres returns `bigint` (`bigIncrements()`) ids as
 * strings, which keeps ids past 2^53 exact.
 *
 * @example
 * class Counter extends pushable(Model) {
 *   static override tableName = 'counters';
 * }
 * await Counter.query().increment('hits', 1).where('id', 1); // reports an update of counter 1
 */
export function pushable<M extends ModelClass>(ModelClass: M): M {
  if (isPushable(ModelClass)) return ModelClass;
  const Base: ModelClass = ModelClass;

  class Pushable extends Base {
    static override async beforeUpdate(args: HookArgs): Promise<void> {
      await super.beforeUpdate(args);
      await readBefore(this, args);
    }

    static override async afterUpdate(args: HookArgs): Promise<unknown> {
      const result: unknown = await super.afterUpdate(args);
      await report(this, args, 'update');
      return result;
    }

    static override async beforeDelete(args: HookArgs): Promise<void> {
      await super.beforeDelete(args);
      await readBefore(this, args);
    }

    static override async afterDelete(args: HookArgs): Promise<unknown> {
      const result: unknown = await super.afterDelete(args);
      await report(this, args, 'delete');
      return result;
    }

    static override async afterInsert(args: HookArgs): Promise<unknown> {
      const result: unknown = await super.afterInsert(args);
      await report(this, args, 'insert');
      return result;
    }
  }

  pushables.add(Pushable);
  // The subclass adds no public members, so it is used as the class it extends. A class
  // expression over `M` itself is not allowed: TypeScript mixins need an `any[]` constructor.
  return Pushable as unknown as M;
}

/**
 * Makes the ORM adapter for Objection. Model names are table names. Every attached adapter
 * receives every change of every `pushable()` model: the hooks report to one module-level list.
 *
 * A change made outside a transaction is sent right after its statement; one made inside a
 * transaction (also a nested one) is sent when the outermost transaction commits, in statement
 * order and as one batch, and is dropped if that transaction, or the savepoint it was made in,
 * rolls back, also when PostgreSQL answers the COMMIT of a transaction that a failed statement
 * aborted with a rollback. A failing sink is logged under `serverpush:objection` and never fails
 * the query.
 *
 * When `attach()` is given a log with `appendWithin()` (`knexLog()`), the adapter is a
 * transactional outbox: each statement's changes are appended right after it, with its own
 * transaction, so they commit with the write or not at all, and the log delivers them once
 * committed. Inside a transaction, failing to read the changed rows or to append them fails the
 * statement (the transaction then cannot commit the write without its changes); outside one it
 * is logged, as the write has committed already: write in transactions for the guarantee. Logs
 * sharing an `appendWithin()` (one knex and table) get each change once.
 *
 * @example
 * const adapter = objection();
 * const detach = adapter.attach(async (changes) => {
 *   for (const { model, op, id } of changes) console.log(model, op, id);
 * });
 */
export function objection(options: ObjectionOptions = {}): OrmAdapter {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('objection() options must be an object');
  }
  const toRow = options.toRow ?? defaults.toRow;
  if (typeof toRow !== 'function') throw new TypeError('options.toRow must be a function');

  return {
    modelName,
    attach(sink: ChangeSink, log?: ChangeLog): () => void {
      if (typeof sink !== 'function') throw new TypeError('attach() expects a sink function');
      const subscriber: Subscriber = { sink, toRow, outbox: outboxOf(log) };
      subscribers.add(subscriber);
      return () => {
        subscribers.delete(subscriber);
      };
    },
  };
}

function modelName(model: unknown): string {
  if (typeof model === 'string' && model !== '') return model;
  if (isModelClass(model)) {
    const table = tableNameOf(model);
    if (!isPushable(model)) debug('%s is not pushable(): its changes are not reported', table);
    return table;
  }
  throw new TypeError(
    `modelName() expects an Objection model class or a model name, got ${describe(model)}`,
  );
}

// Before-rows travel from the before-hook to the after-hook on the query's context. The key is an
// enumerable symbol because objection replaces a query's context with a copy (Object.assign) when
// it starts a child query in between, as `patchAndFetchById()` does. The queue is first in, first
// out, for the queries of objection's graph operations, which share one context.
const BEFORE: unique symbol = Symbol('serverpush:before');

interface QueueHolder {
  [BEFORE]?: Array<Promise<readonly Model[] | null>>;
}

async function readBefore(modelClass: ModelClass, args: HookArgs): Promise<void> {
  const rows =
    subscribers.size === 0
      ? Promise.resolve(null)
      : args.asFindQuery().then(
          (models) => models,
          (error: unknown) => {
            debug('%s: could not read the rows before the change: %O', modelClass.name, error);
            return null;
          },
        );
  ((args.context as QueueHolder)[BEFORE] ??= []).push(rows);
  await rows;
}

// Throws only when an outbox takes the changes inside a transaction, so that the write cannot
// commit without them. Elsewhere the statement has run for good, and failing now would tell the
// caller it did not.
async function report(modelClass: ModelClass, args: HookArgs, op: Op): Promise<void> {
  try {
    const changes = await changesOf(modelClass, args, op, tableNameOf(modelClass));
    committed.add(args.transaction, changes);
    await appendToOutboxes(args.transaction, changes);
  } catch (error) {
    const outboxed = args.transaction.isTransaction === true && [...subscribers].some((s) => s.outbox !== undefined);
    if (outboxed) throw error;
    debug('%s: could not report the changed rows: %O', modelClass.name, error);
  }
}

async function appendToOutboxes(trx: Knex, changes: readonly Pending[]): Promise<void> {
  if (changes.length === 0) return;
  const done = new Set<Outbox['appendWithin']>();
  for (const { outbox, toRow } of subscribers) {
    if (outbox === undefined || done.has(outbox.appendWithin)) continue;
    done.add(outbox.appendWithin);
    await outbox.appendWithin(trx, inputsOf(changes, toRow));
  }
}

function outboxOf(log: ChangeLog | undefined): Outbox | undefined {
  return log !== undefined && 'appendWithin' in log && typeof log.appendWithin === 'function' ? (log as ChangeLog & Outbox) : undefined;
}

async function changesOf(
  modelClass: ModelClass,
  args: HookArgs,
  op: Op,
  model: string,
): Promise<Pending[]> {
  const result: unknown[] = Array.isArray(args.result) ? args.result : [];
  if (op === 'insert') {
    if (subscribers.size === 0) return [];
    const ids = result.filter(isModelInstance).map((instance): MaybeCompositeId => instance.$id());
    const missing = ids.filter((id) => !isCompleteId(id)).length;
    if (missing > 0) {
      debug('%s: %d insert(s) not reported: returning() left out the id column', model, missing);
    }
    const after = await readByIds(modelClass, args.transaction, ids);
    return [...after.values()].map((row) => {
      return { model, op, id: toId(row.$id()), before: null, after: row };
    });
  }

  const before = await (args.context as QueueHolder)[BEFORE]?.shift();
  if (before === undefined) {
    const hook = op === 'update' ? 'beforeUpdate' : 'beforeDelete';
    debug('%s: %s did not run: does an override skip super.%s()?', model, hook, hook);
  }
  // Zero affected rows; the count is absent when the statement used `returning`.
  if (!before?.length || result[0] === 0) return [];
  if (op === 'delete') {
    return before.map((row) => ({ model, op, id: toId(row.$id()), before: row, after: null }));
  }
  // By the ids found before the change: re-running the WHERE could miss rows it changed.
  const after = await readByIds(modelClass, args.transaction, before.map((row) => row.$id()));
  return before.flatMap((row) => {
    const id = toId(row.$id());
    const now = after.get(keyOf(id));
    return now ? [{ model, op, id, before: row, after: now }] : [];
  });
}

const idsPerRead = 500;

async function readByIds(
  modelClass: ModelClass,
  trx: Knex,
  ids: readonly MaybeCompositeId[],
): Promise<Map<string, Model>> {
  const rows = new Map<string, Model>();
  for (let start = 0; start < ids.length; start += idsPerRead) {
    const chunk = ids.slice(start, start + idsPerRead).filter(isCompleteId);
    for (const row of await modelClass.query(trx).findByIds(chunk)) {
      rows.set(keyOf(toId(row.$id())), row);
    }
  }
  return rows;
}

function deliver(changes: readonly Pending[]): void {
  for (const subscriber of subscribers) {
    if (subscriber.outbox === undefined) void send(subscriber, changes);
  }
}

// Runs the sink synchronously up to its first await, so sinks see batches in statement order.
async function send({ sink, toRow }: Subscriber, changes: readonly Pending[]): Promise<void> {
  try {
    await sink(inputsOf(changes, toRow));
  } catch (error) {
    debug('could not deliver %d change(s): %O', changes.length, error);
  }
}

function inputsOf(changes: readonly Pending[], toRow: (model: Model) => Row): ChangeInput[] {
  return changes.map(({ model, op, id, before, after }) => ({
    model,
    op,
    id,
    before: before && toRow(before),
    after: after && toRow(after),
  }));
}

function tableNameOf(modelClass: ModelClass): string {
  const table: unknown = modelClass.tableName;
  if (typeof table !== 'string' || table === '') {
    throw new TypeError(`model class ${modelClass.name} has no static tableName`);
  }
  return table;
}

function isModelClass(value: unknown): value is ModelClass {
  const flag = typeof value === 'function' && 'isObjectionModelClass' in value;
  return flag && value.isObjectionModelClass === true;
}

function isModelInstance(value: unknown): value is Model {
  return typeof value === 'object' && value !== null && typeof (value as Model).$id === 'function';
}

function isPushable(modelClass: unknown): boolean {
  for (let c = modelClass; typeof c === 'function'; c = Object.getPrototypeOf(c)) {
    if (pushables.has(c)) return true;
  }
  return false;
}

function isCompleteId(id: MaybeCompositeId | undefined): id is MaybeCompositeId {
  return Array.isArray(id) ? id.every((part) => part != null) : id != null;
}

function toId(value: unknown): Id {
  const part = (v: unknown) => (typeof v === 'number' || typeof v === 'string' ? v : String(v));
  return Array.isArray(value) ? value.map(part) : part(value);
}

function keyOf(id: Id): string {
  return JSON.stringify(id);
}

function describe(value: unknown): string {
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'string') return 'an empty string';
  return value === null ? 'null' : typeof value;
}
