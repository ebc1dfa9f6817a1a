// Who hears the changes of one knex: the adapters attached for it. The registry hangs off the
// knex's client config, which a knex instance shares with its transactions, so that two push
// instances on two databases never hear each other, and nothing is kept for the process as a whole.

import type { Knex } from 'knex';
import type { Model } from 'objection';
import type { Outbox } from '../../core/change-log.ts';
import type { ChangeSink, Id, Op, Row } from '../../core/types.ts';
import { createCommitQueue, type CommitQueue } from '../knex/index.ts';

/** A change as the hooks record it: model instances, turned into rows per attached adapter. */
export interface Pending {
  readonly model: string;
  readonly op: Op;
  readonly id: Id;
  readonly before: Model | null;
  readonly after: Model | null;
}

/** One attached adapter. */
export interface Subscriber {
  readonly sink: ChangeSink;
  readonly toRow: (model: Model) => Row;
  /** When the attached log is an outbox, changes go to it within the statement's transaction, not to `sink`. */
  readonly outbox: Outbox<Knex, Knex> | undefined;
}

/** The adapters attached for one knex, and the changes of its transactions waiting for their commit. */
export interface Audience {
  readonly subscribers: Set<Subscriber>;
  readonly committed: CommitQueue<Pending>;
}

const audiences = new WeakMap<object, Audience>();

/** The audience of `knex` (or of the knex a transaction belongs to); `undefined` when nobody attached for it. */
export function audienceOf(knex: Knex): Audience | undefined {
  const config: unknown = knex.client?.config;
  return typeof config === 'object' && config !== null ? audiences.get(config) : undefined;
}

/** Adds `subscriber` to the audience of `knex`; returns a function that removes it. */
export function subscribe(knex: Knex, subscriber: Subscriber, deliver: (audience: Audience, changes: readonly Pending[]) => void): () => void {
  const config: unknown = knex.client?.config;
  if (typeof config !== 'object' || config === null) throw new TypeError('objection(): the `knex` option must be a knex instance');
  let audience = audiences.get(config);
  if (audience === undefined) {
    const made: Audience = { subscribers: new Set(), committed: createCommitQueue((changes) => deliver(made, changes)) };
    audience = made;
    audiences.set(config, made);
  }
  audience.subscribers.add(subscriber);
  const held = audience;
  return () => void held.subscribers.delete(subscriber);
}
