// The form of a row, on both sides of the change log. Written: the model's `$toJson()` (JSON
// attributes parsed, virtual attributes included), with what the drivers disagree on made the same
// on every database: boolean columns as booleans (sqlite gives 0 and 1), JSON columns parsed (sqlite
// gives text), dates as ISO strings (as JSON would carry them anyway). Read by the app's functions: a
// model instance built from it, as `Model.query()` would give it, getters and methods included.

import createDebug from 'debug';
import type { Knex } from 'knex';
import type { Model } from 'objection';
import type { Row } from '../../core/types.ts';

const debug = createDebug('serverpush:objection');

type ModelClass = typeof Model;

/** The properties of a model's rows whose column types need the same form on every database. */
export interface ColumnKinds {
  readonly booleans: ReadonlySet<string>;
  readonly json: ReadonlySet<string>;
}

const none: ColumnKinds = { booleans: new Set(), json: new Set() };

/**
 * The column kinds of `modelClass`'s table, read once per table and database through `trx` (on
 * sqlite, the transaction holds the only connection), keyed by the model's property names.
 */
export function columnKindsOf(
  cache: Map<string, Promise<ColumnKinds>>,
  modelClass: ModelClass,
  table: string,
  trx: Knex,
): Promise<ColumnKinds> {
  let kinds = cache.get(table);
  if (kinds === undefined) {
    kinds = readKinds(modelClass, table, trx);
    cache.set(table, kinds);
    // A failed read (a rolled-back transaction on PostgreSQL) is tried again at the next write.
    void kinds.then((read) => read === none && cache.get(table) === kinds && cache.delete(table));
  }
  return kinds;
}

async function readKinds(modelClass: ModelClass, table: string, trx: Knex): Promise<ColumnKinds> {
  try {
    const info = (await trx(table).columnInfo()) as unknown as Record<string, { type?: unknown }>;
    const booleans = new Set<string>();
    const json = new Set<string>();
    for (const [column, { type }] of Object.entries(info)) {
      const kind = String(type).toLowerCase();
      const name = propertyOf(modelClass, column);
      if (kind === 'boolean' || kind === 'bool') booleans.add(name);
      else if (kind === 'json' || kind === 'jsonb') json.add(name);
    }
    return { booleans, json };
  } catch (error) {
    debug('%s: cannot read the column types of %s: %O', modelClass.name, table, error);
    return none;
  }
}

/** The property name of `column`, through the model's `columnNameMappers` (e.g. snake_case to camelCase). */
function propertyOf(modelClass: ModelClass, column: string): string {
  const mappers = modelClass.columnNameMappers;
  return mappers ? (Object.keys(mappers.parse({ [column]: null }))[0] ?? column) : column;
}

/** The row the change log holds for a model instance: its `$toJson()`, in the same form on every database. */
export function loggedRow(model: Model, kinds: ColumnKinds): Row {
  const json = model.$toJson() as Record<string, unknown>;
  const row: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) row[key] = sameForm(key, value, kinds);
  return row;
}

function sameForm(key: string, value: unknown, kinds: ColumnKinds): unknown {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (kinds.booleans.has(key) && (value === 0 || value === 1)) return value === 1;
  if (kinds.json.has(key) && typeof value === 'string') {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  }
  return value;
}

/**
 * A view of logged rows of `modelClass` as its instances (`Model.fromJson`, unvalidated), each row
 * built once per view. Every compiled spec has a view of its own, so an instance is never shared
 * between viewers: one serializer changing it changes nothing another sees. A row the model
 * refuses to parse is handed over as logged.
 */
export function instanceView(modelClass: ModelClass): (row: Row) => Row {
  const built = new WeakMap<Row, Row>();
  return (row) => {
    let instance = built.get(row);
    if (instance === undefined) {
      try {
        instance = modelClass.fromJson(row as Record<string, unknown>, { skipValidation: true }) as unknown as Row;
      } catch (error) {
        debug('%s: fromJson() refused a logged row, handing it over as logged: %O', modelClass.name, error);
        instance = row;
      }
      built.set(row, instance);
    }
    return instance;
  };
}
