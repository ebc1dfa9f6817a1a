// The `OrmAdapter` for objection: model names are table names, the changes of `pushable()` models
// written on the adapter's knex go to the push instance (or, with `knexLog()`, into its outbox
// within the write's transaction), and a model's columns are known, for checking specs' params.

import createDebug from 'debug';
import type { Knex } from 'knex';
import { Model } from 'objection';
import type { ChangeLog, Outbox } from '../../core/change-log.ts';
import type { ChangeSink, OrmAdapter } from '../../core/orm.ts';
import type { Row } from '../../core/types.ts';
import type { ModelColumns } from '../../core/viewer.ts';
import { inputsOf, isModelClass, isPushable, tableNameOf } from './pushable.ts';
import { instanceView, loggedRow, type ColumnKinds } from './rows.ts';
import { subscribe, type Audience, type Pending, type Subscriber } from './registry.ts';

const debug = createDebug('serverpush:objection');

/** Options of `objection()`. */
export interface ObjectionOptions {
  /**
   * Turns a model instance read back after a write into the change's `before` or `after` row, as
   * the change log holds it. The app's functions then receive these rows as they are, not as model
   * instances. Default: the model's `$toJson()` (property names, JSON attributes parsed, virtual
   * attributes included, `$formatJson()` applied), with boolean columns as booleans, JSON columns
   * parsed and dates as ISO strings on every database.
   */
  readonly toRow?: ((model: Model) => Row) | undefined;
  /**
   * The knex whose writes are reported; give it when one process writes to several databases.
   * Default: the `knexLog()`'s knex, else `Model.knex()`, else the knex of the first write
   * (docs/adapters.md#which-knex).
   */
  readonly knex?: Knex | undefined;
}

/**
 * The Objection adapter: an `OrmAdapter` that can also tell a model's columns, against which the
 * Koa `createPush()` checks the params of update specs, and that hands predicates, serializers,
 * fragments and route re-renders each row as an instance of its model (`rowView`).
 */
export interface ObjectionAdapter extends OrmAdapter, ModelColumns {}

/**
 * Makes the ORM adapter for Objection: the changes of `pushable()` models written on its knex reach
 * the push instance once their transaction commits, or, with a `knexLog()` on the same knex, go
 * into the log inside it (a transactional outbox). Model names are table names. See docs/adapters.md#objection.
 *
 * @example
 * const push = createPush({ secret, router, orm: objection() });
 * // A process that writes to two databases: report the writes made on one of them.
 * const orm = objection({ knex: ordersKnex });
 */
export function objection(options: ObjectionOptions = {}): ObjectionAdapter {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('objection() options must be an object');
  }
  const custom = options.toRow;
  if (custom !== undefined && typeof custom !== 'function') throw new TypeError('options.toRow must be a function');
  const toRow: (model: Model, kinds: ColumnKinds) => Row = custom === undefined ? loggedRow : (model) => custom(model);
  if (options.knex !== undefined && typeof options.knex?.client !== 'object')
    throw new TypeError('The `knex` option must be a knex instance');

  return {
    modelName,
    columns: (model) => columnsOf(model, options),
    // Rows of the app's own `toRow` are the app's: handed over as they are.
    rowView: (model) => (custom === undefined && isModelClass(model) ? instanceView(model) : undefined),
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

/**
 * The property names a model's rows carry: its `jsonSchema` properties and virtual attributes and,
 * when its knex is known, its table's columns (knex `columnInfo()`, through its
 * `columnNameMappers`). `undefined` when it cannot tell: not a model class, a custom `toRow`
 * (whose rows are the app's), or neither a schema nor a readable table.
 */
async function columnsOf(model: unknown, options: ObjectionOptions): Promise<readonly string[] | undefined> {
  if (!isModelClass(model) || options.toRow !== undefined) return undefined;
  const schema: unknown = model.jsonSchema?.properties;
  const names = new Set<string>(typeof schema === 'object' && schema !== null ? Object.keys(schema) : []);
  const fromSchema = names.size > 0;
  for (const name of model.virtualAttributes ?? []) names.add(name);
  const knex = options.knex ?? (model.knex() as Knex | undefined);
  let fromTable = false;
  if (knex !== undefined) {
    try {
      const info: Record<string, unknown> = await knex(tableNameOf(model)).columnInfo();
      const mappers = model.columnNameMappers;
      const columns = Object.fromEntries(Object.keys(info).map((column) => [column, null]));
      for (const name of Object.keys(mappers ? mappers.parse(columns) : columns)) names.add(name);
      fromTable = Object.keys(info).length > 0;
    } catch (error) {
      debug('cannot read the columns of %s: %O', model.name, error);
    }
  }
  return fromSchema || fromTable ? [...names] : undefined;
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
