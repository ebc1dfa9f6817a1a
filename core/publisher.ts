// createPublisher(): the write side of serverpush alone, for a process that only writes rows (a
// worker, a job runner, a CLI) while push processes elsewhere serve the pages. Its ORM adapter's
// writes go into the shared change log (inside their transaction, for a log kept in the app's
// database); it serves nothing, holds no pages and signs no tokens.

import { randomBytes } from 'node:crypto';
import type { ChangeLog } from './change-log.ts';
import { controlChange, type ControlAction } from './control.ts';
import { PushError } from './errors.ts';
import type { OrmAdapter } from './orm.ts';
import type { IdentityFilter } from './push.ts';
import type { Change, ChangeInput } from './types.ts';

/** Options of `createPublisher()`. */
export interface PublisherOptions {
  /**
   * The change log the push processes read: `knexLog()` on the database they share, or `redisLog()`.
   * The publisher's: `close()` closes it. Required.
   */
  readonly log: ChangeLog;
  /** The ORM adapter whose committed writes are published, e.g. `objection()`. Default: none (`publish()` only). */
  readonly orm?: OrmAdapter | undefined;
}

/** A publisher: changes into the change log, for the push processes that share it. */
export interface Publisher {
  readonly log: ChangeLog;
  /** Appends changes by hand, for writes that bypass the ORM adapter. */
  publish(changes: ChangeInput | readonly ChangeInput[]): Promise<Change[]>;
  /**
   * Has every push process sharing the log re-run `authenticate` and the update functions of the
   * pages of `{ identity }` (after a role change made here).
   */
  revalidate(filter: IdentityFilter): Promise<void>;
  /** Has every push process sharing the log end the pages of `{ identity }` with a `refresh`. */
  disconnect(filter: IdentityFilter): Promise<void>;
  /** Detaches the ORM adapter and closes the log; writes from then on are not published. */
  close(): Promise<void>;
}

/**
 * Creates a publisher: what a process that writes rows but serves no pages needs so that its writes
 * reach the pages that push processes elsewhere serve. Give it the log they share.
 *
 * @example
 * const publisher = createPublisher({ log: await knexLog({ knex }), orm: objection() });
 * await Todo.query().insert({ title: 'from the worker' }); // in the log with its transaction
 * await publisher.close();
 */
export function createPublisher(options: PublisherOptions): Publisher {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('createPublisher() options must be an object');
  const { log, orm } = options;
  if (typeof log?.append !== 'function' || typeof log.close !== 'function') {
    throw new TypeError(
      'The `log` option must be the change log the push processes share, e.g. `await knexLog({ knex })`',
    );
  }
  if (orm !== undefined && (typeof orm?.attach !== 'function' || typeof orm.modelName !== 'function'))
    throw new TypeError('The `orm` option must be an ORM adapter, e.g. `objection()`');
  // Control entries name their origin, so that a push instance can tell its own; a publisher has no pages.
  const origin = `publisher:${randomBytes(8).toString('base64url')}`;
  const detach = orm?.attach(async (changes) => void (await log.append(changes)), log);
  let closed = false;
  const closedError = () => new PushError('SERVERPUSH_ERR_CLOSED', 'the publisher is closed');

  async function request(action: ControlAction, filter: IdentityFilter): Promise<void> {
    if (typeof filter !== 'object' || filter === null || !('identity' in filter))
      throw new TypeError(`${action}(): the filter must be { identity }`);
    if (closed) throw closedError();
    await log.append([controlChange({ action, identity: filter.identity, origin })]);
  }

  return {
    log,
    async publish(changes) {
      if (closed) throw closedError();
      return log.append(Array.isArray(changes) ? changes : [changes as ChangeInput]);
    },
    revalidate: (filter) => request('revalidate', filter),
    disconnect: (filter) => request('disconnect', filter),
    async close() {
      if (closed) return;
      closed = true;
      detach?.();
      await log.close();
    },
  };
}
