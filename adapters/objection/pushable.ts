// The model mixin: objection's static query hooks read the rows a statement changes, before and
// after, and hand the changes to the adapters attached for the statement's knex (./registry.ts).

import createDebug from 'debug';
import type { Knex } from 'knex';
import type { MaybeCompositeId, Model, StaticHookArguments } from 'objection';
import type { ChangeInput, Id, Op, Row } from '../../core/types.ts';
import { audienceOf, type Audience, type Pending, type Subscriber } from './registry.ts';
import { columnKindsOf, type ColumnKinds } from './rows.ts';

const debug = createDebug('serverpush:objection');

const pushables = new WeakSet<object>();

type HookArgs = StaticHookArguments<Model>;
type ModelClass = typeof Model;

/**
 * Makes a model class report its inserts, updates, patches and deletes, through instances and
 * query builders alike, to the `objection()` adapters attached for the knex they run on. A
 * subclass that overrides a static query hook must call `super`'s; see docs/adapters.md#pushable.
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
    audienceOf(args.transaction) === undefined
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
  const audience = audienceOf(args.transaction);
  if (audience === undefined || audience.subscribers.size === 0) {
    // Nobody attached for this knex: the after-hook still owes the before-hook its queue entry.
    if (op !== 'insert') await (args.context as QueueHolder)[BEFORE]?.shift();
    return;
  }
  try {
    const table = tableNameOf(modelClass);
    const found = await changesOf(modelClass, args, op, table);
    const kinds =
      found.length === 0 ? undefined : await columnKindsOf(audience.kinds, modelClass, table, args.transaction);
    const changes = found.map((change): Pending => ({ ...change, kinds: kinds! }));
    audience.committed.add(args.transaction, changes);
    await appendToOutboxes(audience, args.transaction, changes);
  } catch (error) {
    const outboxed =
      args.transaction.isTransaction === true && [...audience.subscribers].some((s) => s.outbox !== undefined);
    if (outboxed) throw error;
    debug('%s: could not report the changed rows: %O', modelClass.name, error);
  }
}

async function appendToOutboxes(audience: Audience, trx: Knex, changes: readonly Pending[]): Promise<void> {
  if (changes.length === 0) return;
  const done = new Set<Subscriber['outbox']>();
  for (const { outbox, toRow } of audience.subscribers) {
    if (outbox === undefined || done.has(outbox)) continue;
    done.add(outbox);
    await outbox.appendWithin(trx, inputsOf(changes, toRow));
  }
}

async function changesOf(
  modelClass: ModelClass,
  args: HookArgs,
  op: Op,
  model: string,
): Promise<Array<Omit<Pending, 'kinds'>>> {
  const result: unknown[] = Array.isArray(args.result) ? args.result : [];
  if (op === 'insert') {
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
  const after = await readByIds(
    modelClass,
    args.transaction,
    before.map((row) => row.$id()),
  );
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

/** Turns recorded changes into the changes a sink receives, with the adapter's `toRow`. */
export function inputsOf(changes: readonly Pending[], toRow: (model: Model, kinds: ColumnKinds) => Row): ChangeInput[] {
  return changes.map(({ model, op, id, before, after, kinds }) => ({
    model,
    op,
    id,
    before: before && toRow(before, kinds),
    after: after && toRow(after, kinds),
  }));
}

/** The model class's table name; throws a `TypeError` when it has none. */
export function tableNameOf(modelClass: ModelClass): string {
  const table: unknown = modelClass.tableName;
  if (typeof table !== 'string' || table === '') {
    throw new TypeError(`model class ${modelClass.name} has no static tableName`);
  }
  return table;
}

/** Whether `value` is an objection model class. */
export function isModelClass(value: unknown): value is ModelClass {
  const flag = typeof value === 'function' && 'isObjectionModelClass' in value;
  return flag && value.isObjectionModelClass === true;
}

function isModelInstance(value: unknown): value is Model {
  return typeof value === 'object' && value !== null && typeof (value as Model).$id === 'function';
}

/** Whether `modelClass` is `pushable()` or extends a class that is. */
export function isPushable(modelClass: unknown): boolean {
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
