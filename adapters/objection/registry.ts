// Who hears the changes of one knex: the adapters attached for it. The registry hangs off the
// knex's client config, which a knex instance shares with its transactions, so that two push
// instances on two databases never hear each other.

import type { Knex } from 'knex';
import type { Model } from 'objection';
import type { Outbox } from '../../core/change-log.ts';
import type { ChangeSink } from '../../core/orm.ts';
import type { Id, Op, Row } from '../../core/types.ts';
import { createCommitQueue, type CommitQueue } from '../knex/index.ts';
import type { ColumnKinds } from './rows.ts';

/** A change as the hooks record it: model instances, turned into rows per attached adapter. */
export interface Pending {
  readonly model: string;
  readonly op: Op;
  readonly id: Id;
  readonly before: Model | null;
  readonly after: Model | null;
  /** The kinds of the model's columns, for the logged row's form. */
  readonly kinds: ColumnKinds;
}

/** One attached adapter. */
export interface Subscriber {
  readonly sink: ChangeSink;
  readonly toRow: (model: Model, kinds: ColumnKinds) => Row;
  /** When the attached log is an outbox, changes go to it within the statement's transaction, not to `sink`. */
  readonly outbox: Outbox<Knex, Knex> | undefined;
}

/** The adapters attached for one knex, and the changes of its transactions waiting for their commit. */
export interface Audience {
  readonly subscribers: Set<Subscriber>;
  readonly committed: CommitQueue<Pending>;
  /** The column kinds of each table written on this knex, read once. */
  readonly kinds: Map<string, Promise<ColumnKinds>>;
}

/** How committed changes reach an audience's subscribers. */
export type Deliver = (audience: Audience, changes: readonly Pending[]) => void;

const audiences = new WeakMap<object, Audience>();

/**
 * Adapters attached before any knex was known (no `knex` option, no outbox, `Model.knex()` not
 * bound yet), each with a function that finds its knex: bound at the first statement, to the knex
 * that finds then, or else to the statement's own (models bound with `bindKnex()`).
 */
const unbound = new Map<Subscriber, { readonly find: () => Knex | undefined; readonly deliver: Deliver }>();

/** The audience of `knex` (or of the knex a transaction belongs to); `undefined` when nobody attached for it. */
export function audienceOf(knex: Knex): Audience | undefined {
  if (unbound.size > 0) bindWaiting(knex);
  const config = configOf(knex);
  return config === undefined ? undefined : audiences.get(config);
}

/** How to leave the audience each subscriber joined. */
const leaves = new WeakMap<Subscriber, () => void>();

/**
 * Adds `subscriber` to the audience of the knex `find()` returns, now or, when it returns none yet,
 * at the first statement after it does. Returns a function that removes it.
 */
export function subscribe(find: () => Knex | undefined, subscriber: Subscriber, deliver: Deliver): () => void {
  const knex = find();
  if (knex === undefined) unbound.set(subscriber, { find, deliver });
  else leaves.set(subscriber, join(knex, subscriber, deliver));
  return () => {
    unbound.delete(subscriber);
    leaves.get(subscriber)?.();
    leaves.delete(subscriber);
  };
}

function bindWaiting(statementKnex: Knex): void {
  for (const [subscriber, { find, deliver }] of unbound) {
    unbound.delete(subscriber);
    leaves.set(subscriber, join(find() ?? statementKnex, subscriber, deliver));
  }
}

function join(knex: Knex, subscriber: Subscriber, deliver: Deliver): () => void {
  const config = configOf(knex);
  if (config === undefined) throw new TypeError('objection(): the `knex` option must be a knex instance');
  let audience = audiences.get(config);
  if (audience === undefined) {
    const made: Audience = {
      subscribers: new Set(),
      committed: createCommitQueue((changes) => deliver(made, changes)),
      kinds: new Map(),
    };
    audience = made;
    audiences.set(config, made);
  }
  audience.subscribers.add(subscriber);
  const held = audience;
  return () => void held.subscribers.delete(subscriber);
}

// A knex instance shares its client's config with its transactions: one key for both.
function configOf(knex: Knex): object | undefined {
  const config: unknown = knex.client?.config;
  return typeof config === 'object' && config !== null ? config : undefined;
}
