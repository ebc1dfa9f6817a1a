// Appending change rows: one writer per knex and table, shared by every log opened on them, so the
// ORM adapter's outbox appends each change once and every reader on the table is woken.

import type { Knex } from 'knex';
import { stringifyRow } from '../../core/json.ts';
import type { Outbox } from '../../core/change-log.ts';
import type { ChangeInput } from '../../core/types.ts';
import { isTransaction, outermostTransaction } from '../knex/index.ts';
import type { Dialect } from './dialect.ts';

const rowsPerStatement = 500;

/** Appends change rows to one table; shared by the logs on one knex and table. */
export interface Writer {
  /** Inserts with `trx` (in a transaction of its own if it is none) and resolves with the ids, in input order. */
  insert(trx: Knex, inputs: readonly ChangeInput[], at: number): Promise<number[]>;
  /** The outbox of every log on the table: the ORM adapter appends once per outbox. */
  readonly outbox: Outbox<Knex, Knex>;
  /** Wakes the readers of the logs on the table when an append commits, not to wait for a poll. */
  readonly wakes: Set<() => void>;
}

const writers = new WeakMap<Knex, Map<string, Writer>>();

/** The writer of the table `dialect` names on `knex`, made on first use. */
export function writerOf(knex: Knex, dialect: Dialect): Writer {
  const byKey = writers.get(knex) ?? new Map<string, Writer>();
  writers.set(knex, byKey);
  const known = byKey.get(dialect.key);
  if (known !== undefined) return known;
  const wakes = new Set<() => void>();
  const wakeAll = () => {
    for (const wake of wakes) wake();
  };

  async function insertChunks(trx: Knex, inputs: readonly ChangeInput[], at: number): Promise<number[]> {
    const ids: number[] = [];
    for (let start = 0; start < inputs.length; start += rowsPerStatement) {
      const chunk = inputs.slice(start, start + rowsPerStatement).map((input) => ({
        model: input.model,
        op: input.op,
        pk: stringifyRow(input.id),
        after: input.after === null ? null : stringifyRow(input.after),
        before: input.before == null ? null : stringifyRow(input.before),
        at,
      }));
      ids.push(...(await dialect.insert(trx, chunk)));
    }
    return ids;
  }

  async function insert(trx: Knex, inputs: readonly ChangeInput[], at: number): Promise<number[]> {
    if (inputs.length === 0) return [];
    if (!isTransaction(trx)) {
      const ids = await trx.transaction((own) => insertChunks(own, inputs, at));
      wakeAll();
      return ids;
    }
    const ids = await insertChunks(trx, inputs, at);
    outermostTransaction(trx).executionPromise.then(wakeAll, () => {});
    return ids;
  }

  const outbox: Outbox<Knex, Knex> = {
    database: knex,
    appendWithin: async (trx, inputs) => void (await insert(trx, inputs, Date.now())),
  };
  const writer: Writer = { insert, wakes, outbox };
  byKey.set(dialect.key, writer);
  return writer;
}
