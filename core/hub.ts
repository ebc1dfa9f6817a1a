// The hub: subscriptions of connected pages, indexed by model and by equality params, so routing a
// change costs work in proportion to the subscriptions it concerns, not to all subscriptions.

import type { Change, Row, Scalar } from './types.ts';

/** One page's interest in one model: field equalities, a predicate, or every row. */
export interface Subscription<Owner> {
  readonly model: string;
  /** Field paths and the values they must equal. Empty means every row (unless `predicate`). */
  readonly equalities: ReadonlyArray<readonly [path: string, value: Scalar]>;
  /** Tested against each row when present; such subscriptions cost a call per change of the model. */
  readonly predicate?: ((row: Row) => boolean) | undefined;
  readonly owner: Owner;
}

interface Group<Owner> {
  readonly paths: readonly string[];
  readonly byKey: Map<string, Set<Subscription<Owner>>>;
}

interface ModelIndex<Owner> {
  readonly groups: Map<string, Group<Owner>>;
  readonly scanned: Set<Subscription<Owner>>;
}

/** The subscription index. */
export interface Hub<Owner> {
  add(subscription: Subscription<Owner>): void;
  remove(subscription: Subscription<Owner>): void;
  /**
   * Subscriptions whose params match the row after the change or the row before it, each once.
   * The array is the caller's.
   */
  match(change: Change): Array<Subscription<Owner>>;
  /** How many subscriptions are indexed. */
  readonly size: number;
}

/**
 * Creates an empty hub. Subscriptions with equalities are grouped by the set of paths they compare;
 * a change looks up one key per group and per row, so its cost follows the number of distinct path
 * sets of its model and the number of matching subscriptions.
 *
 * @example
 * const hub = createHub<string>();
 * hub.add({ model: 'todos', equalities: [['ownerId', 7]], owner: 'page-1' });
 * hub.match(change); // [that subscription] when the todo's ownerId is 7 before or after
 */
export function createHub<Owner>(): Hub<Owner> {
  const models = new Map<string, ModelIndex<Owner>>();
  let size = 0;

  function indexOf(model: string): ModelIndex<Owner> {
    let index = models.get(model);
    if (index === undefined) {
      index = { groups: new Map(), scanned: new Set() };
      models.set(model, index);
    }
    return index;
  }

  return {
    add(subscription) {
      const index = indexOf(subscription.model);
      size += 1;
      if (subscription.equalities.length === 0 || subscription.predicate !== undefined) {
        index.scanned.add(subscription);
        return;
      }
      const paths = subscription.equalities.map(([path]) => path);
      const signature = JSON.stringify(paths);
      let group = index.groups.get(signature);
      if (group === undefined) {
        group = { paths, byKey: new Map() };
        index.groups.set(signature, group);
      }
      const key = keyOf(subscription.equalities.map(([, value]) => value));
      let members = group.byKey.get(key);
      if (members === undefined) {
        members = new Set();
        group.byKey.set(key, members);
      }
      members.add(subscription);
    },

    remove(subscription) {
      const index = models.get(subscription.model);
      if (index === undefined) return;
      if (index.scanned.delete(subscription)) {
        size -= 1;
        return;
      }
      const group = index.groups.get(JSON.stringify(subscription.equalities.map(([path]) => path)));
      const key = keyOf(subscription.equalities.map(([, value]) => value));
      const members = group?.byKey.get(key);
      if (members?.delete(subscription) !== true) return;
      size -= 1;
      if (members.size === 0) group!.byKey.delete(key);
      if (group!.byKey.size === 0) index.groups.delete(JSON.stringify(group!.paths));
    },

    match(change) {
      const found: Array<Subscription<Owner>> = [];
      const index = models.get(change.model);
      if (index === undefined) return found;
      const { after } = change;
      const before = change.before ?? null;
      for (const group of index.groups.values()) {
        // A subscription sits under one key of one group: the members of two different keys are
        // disjoint, so nothing is found twice unless both rows give the same key.
        const afterKey = after === null ? undefined : keyOf(group.paths.map((path) => valueAt(after, path)));
        const beforeKey = before === null ? undefined : keyOf(group.paths.map((path) => valueAt(before, path)));
        if (afterKey !== undefined) {
          const members = group.byKey.get(afterKey);
          if (members !== undefined) for (const member of members) found.push(member);
        }
        if (beforeKey !== undefined && beforeKey !== afterKey) {
          const members = group.byKey.get(beforeKey);
          if (members !== undefined) for (const member of members) found.push(member);
        }
      }
      for (const subscription of index.scanned) {
        if (
          (after !== null && matchesRow(subscription, after)) ||
          (before !== null && matchesRow(subscription, before))
        ) {
          found.push(subscription);
        }
      }
      return found;
    },

    get size() {
      return size;
    },
  };
}

/** Whether a subscription matches the row after the change or the row before it. */
export function matchesChange<Owner>(subscription: Subscription<Owner>, change: Change): boolean {
  if (subscription.model !== change.model) return false;
  return [change.after, change.before ?? null].some((row) => row !== null && matchesRow(subscription, row));
}

/** Whether a row passes a subscription's (or a spec's) equalities and predicate. */
export function matchesRow(subscription: Pick<Subscription<unknown>, 'equalities' | 'predicate'>, row: Row): boolean {
  for (const [path, value] of subscription.equalities) {
    if (normalise(valueAt(row, path)) !== normalise(value)) return false;
  }
  return subscription.predicate === undefined || subscription.predicate(row);
}

/** The value at a dotted path in a row (`'author.name'`); `undefined` when any step is missing. */
export function valueAt(row: Row, path: string): unknown {
  if (Object.hasOwn(row, path)) return row[path];
  let value: unknown = row;
  for (const step of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, step)) return undefined;
    value = (value as Record<string, unknown>)[step];
  }
  return value;
}

// Equalities compare string forms: a route param '7' matches the number 7, and booleans compare
// as 1 and 0 because sqlite stores them so. Values of other types never match anything.
function normalise(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return `s${value}`;
    case 'number':
    case 'bigint':
      return `s${String(value)}`;
    case 'boolean':
      return value ? 's1' : 's0';
    default:
      if (value === null) return 'n';
      if (value instanceof Date) return `s${value.toISOString()}`;
      return undefined;
  }
}

function keyOf(values: readonly unknown[]): string {
  // JSON keeps keys unambiguous whatever the strings hold; a value without a string form becomes
  // null, a key no subscription can hold because every Scalar has one.
  return JSON.stringify(values.map((value) => normalise(value) ?? null));
}
