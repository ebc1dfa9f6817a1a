// The Objection ORM adapter: `pushable()` makes a model class report its row changes, and
// `objection()` is the `OrmAdapter` that hands them to serverpush.

/**
 * `pushable()` and `objection()`: Objection writes become changes.
 *
 * @module serverpush/objection
 */

export { objection, type ObjectionAdapter, type ObjectionOptions } from './adapter.ts';
export { pushable } from './pushable.ts';
