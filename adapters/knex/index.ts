// Transaction plumbing shared by the knex-based adapters (objection, knex-log). Internal: no
// package subpath names it.

export { createCommitQueue, type CommitQueue } from './commit-queue.ts';
export { isTransaction, outermostTransaction } from './transaction.ts';
