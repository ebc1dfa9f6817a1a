// What the knex adapters need to know of a knex instance: whether it is a transaction, and which
// transaction is the outermost one (the one that commits).

import type { Knex } from 'knex';

/** Whether `knex` is a transaction (`knex.transaction()`'s `trx`), nested or not. */
export function isTransaction(knex: Knex): knex is Knex.Transaction {
  return knex.isTransaction === true;
}

/** The transaction that `trx` runs in at the outermost level: the one whose commit publishes. */
export function outermostTransaction(trx: Knex.Transaction): Knex.Transaction {
  let outermost = trx;
  while (outermost.parentTransaction !== undefined) outermost = outermost.parentTransaction;
  return outermost;
}
