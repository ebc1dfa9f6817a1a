// The `OrmAdapter` for objection: model names are table names, and the changes of `pushable()`
// models written on the adapter's knex go to the push instance (or, with `knexLog()`, into its
// outbox within the write's transaction).

import createDebug from 'debug';
import type { Knex } from 'knex';
import { Model } from 'objection';
import type { ChangeLog, Outbox } from '../../core/change-log.ts';
import type { ChangeSink, OrmAdapter } from '../../core/orm.ts';
import type { Row } from '../../core/types.ts';
import { inputsOf, isModelClass, isPushable, tableNameOf } from './pushable.ts';
import { subscribe, type Audience, type Pending, type Subscriber } from './registry.ts';

const debug = createDebug('serverpush:objection');

/** Options of `objection()`. */
export interface ObjectionOptions {
  /**
   * Turns a model instance, read back from the database inside the statement's transaction,
   * into the `before` or `after` row of a change. Default: `(model) => model.$toJson()`, so rows
   * are keyed by model property name, with `$formatJson()` and virtual attributes applied.
   */
  readonly toRow?: ((model: Model) => Row) | undefined;
  /**
   * The knex whose statements (and transactions) are reported; other knex instances' are not.
   * Default: the change log's when it is kept in the database (`knexLog()`), else the one bound
   * with `Model.knex(knex)` (read when the push instance is made, or at the first write after that
   * if it was not bound yet), else the knex of the first write (models bound with `bindKnex()`).
   * Give it when one process writes to several databases.
   */
  readonly knex?: Knex | undefined;
}

const defaultToRow = (model: Model): Row => model.$toJson();

/**
 * Makes the ORM adapter for Objection. Model names are table names. An attached adapter
 * receives the changes of every `pushable()` model written on its knex (see `options.knex`);
 * adapters attached for other knex instances never hear them.
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
  const toRow = options.toRow ?? defaultToRow;
  if (typeof toRow !== 'function') throw new TypeError('options.toRow must be a function');
  if (options.knex !== undefined && typeof options.knex?.client !== 'object')
    throw new TypeError('The `knex` option must be a knex instance');

  return {
    modelName,
    attach(sink: ChangeSink, log?: ChangeLog): () => void {
      if (typeof sink !== 'function') throw new TypeError('attach() expects a sink function');
      const outbox = log?.outbox as Outbox<Knex, Knex> | undefined;
      const given = options.knex ?? outbox?.database;
      // An outbox on another database than the writes cannot commit with them: publish after commit instead.
      const subscriber: Subscriber = {
        sink,
        toRow,
        outbox: given !== undefined && outbox?.database === given ? outbox : undefined,
      };
      // Model.knex() may be bound after the push instance is made: then it is read at the first write.
      return subscribe(() => given ?? (Model.knex() as Knex | undefined), subscriber, deliver);
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
  throw new TypeError(`modelName() expects an Objection model class or a model name, got ${describe(model)}`);
}

function deliver(audience: Audience, changes: readonly Pending[]): void {
  for (const subscriber of audience.subscribers) {
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

function describe(value: unknown): string {
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'string') return 'an empty string';
  return value === null ? 'null' : typeof value;
}
