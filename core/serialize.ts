// Update specs, checked once when a page connects, and how each serializes a change for a viewer:
// a field map, a function, or a route re-render; shared between viewers only when that is safe.

import { controlModel } from './control.ts';
import { isFragment, serializeFragment } from './fragment.ts';
import { guarded, isThenable, skipped } from './guarded.ts';
import { matchesRow, valueAt } from './hub.ts';
import type { Observation, SerializerKind } from './observe.ts';
import type { Change, Effect, Fragment, PushContext, Row, Scalar, SerializerFunction, UpdateSpec } from './types.ts';

export { isThenable, skipped };

/** Re-renders a named route for a viewer: the Koa adapter supplies it. */
export type RouteRenderer = (
  route: string,
  ctx: PushContext<unknown>,
  update: { readonly row: Row; readonly data: unknown; readonly change: Change },
) => Promise<unknown>;

/** What compiling a route-name serializer needs of the router; `RouteTable` has it. */
export interface RouteLookup {
  readonly render?: RouteRenderer | undefined;
  /** Whether the router has a route named `name`; not checked when absent. */
  has?(name: string): boolean;
}

/** A spec validated and bound to one viewer's context. */
export interface CompiledSpec {
  readonly name: string;
  readonly model: string;
  readonly equalities: ReadonlyArray<readonly [string, Scalar]>;
  readonly predicate: ((row: Row) => boolean) | undefined;
  /** The key under which viewers share this spec's serialization of a change; `undefined`: one per viewer. */
  readonly shareKey: string | undefined;
  /** By effect, the key under which pages share this spec's encoded message; `undefined` when not shared. */
  readonly encodingKeys: Readonly<Record<Effect, string>> | undefined;
  /**
   * Specs with equal signatures give every change the same message (same serialization, name and
   * equalities, so the same effect): pages share it without working out the effect each. Interned,
   * so that the keys of a routing's map are one string each. `undefined` for specs with a predicate
   * or without a shared serialization.
   */
  readonly signature: string | undefined;
  /**
   * Whether `serialize()` decides the effect a page hears (a fragment): it then gives a `Rendered`
   * (`{ effect, data }`), not the payload alone.
   */
  readonly rendered: boolean;
  /**
   * Serializes `change` for this viewer, sharing through `shared` when the spec allows it: the
   * payload (or a `Rendered`), or `skipped`, at once when the serializer is synchronous (field
   * maps), else a promise of either.
   */
  serialize(change: Change, shared: Map<string, unknown>): unknown;
}

/** Turns a row as the change log holds it into the form the app's functions receive (`OrmAdapter.rowView`). */
export type RowView = (row: Row) => Row;

/** What compiling a spec needs besides the spec and its viewer's context. */
export interface CompileOptions {
  /** The model name of a spec's `model`; throws a `TypeError` for a model it does not know. */
  readonly modelName: (model: unknown) => string;
  readonly routes?: RouteLookup | undefined;
  readonly intern?: Interner | undefined;
  /** How rows of a model reach predicates and serializers; `undefined`: as logged. */
  readonly rowView?: ((model: unknown) => RowView | undefined) | undefined;
  /** Whether a fragment was made by this push instance (whose names are unique). Default: any is. */
  readonly ownsFragment?: ((fragment: Fragment<never, never>) => boolean) | undefined;
  /** Told of each serializer call and failure (`push.observe()`). */
  readonly observation?: Observation | undefined;
}

/**
 * Shares the keys that many pages' specs have in common (one string, one object each), so a page's
 * specs hold references, not copies. A push instance keeps one, bounded; past its bound it makes
 * fresh ones, which costs memory, not correctness.
 */
export interface Interner {
  string(key: string): string;
  encodingKeys(shareKey: string, name: string): Readonly<Record<Effect, string>>;
}

const noInterner: Interner = {
  string: (key) => key,
  encodingKeys: (shareKey, name) => encodingKeysOf(shareKey, name),
};

/** By effect, the key under which pages share the encoded message of a spec `name` with `shareKey`. */
export function encodingKeysOf(shareKey: string, name: string): Readonly<Record<Effect, string>> {
  return {
    enter: `${shareKey}\u0000${name}\u0000enter`,
    update: `${shareKey}\u0000${name}\u0000update`,
    leave: `${shareKey}\u0000${name}\u0000leave`,
  };
}

/** Creates an interner that keeps at most `max` strings and `max` key sets. */
export function createInterner(max = 10_000): Interner {
  const strings = new Map<string, string>();
  const keys = new Map<string, Readonly<Record<Effect, string>>>();
  return {
    string(key) {
      const known = strings.get(key);
      if (known !== undefined) return known;
      if (strings.size < max) strings.set(key, key);
      return key;
    },
    encodingKeys(shareKey, name) {
      const id = `${shareKey}\u0000${name}`;
      const known = keys.get(id);
      if (known !== undefined) return known;
      const made = encodingKeysOf(shareKey, name);
      if (keys.size < max) keys.set(id, made);
      return made;
    },
  };
}

/** Names the browser reserves for itself. */
const reservedNames = new Set(['refresh', 'connection', 'error']);
const namePattern = /^[A-Za-z_][\w.:-]{0,63}$/;

/**
 * Checks a spec returned by an update function and binds it to the viewer. Throws a `TypeError`
 * naming the spec and the field when it is malformed: that is the app's bug, not the browser's.
 */
export function compileSpec<Viewer>(
  spec: UpdateSpec<Viewer>,
  ctx: PushContext<Viewer>,
  { modelName, routes, intern = noInterner, rowView, ownsFragment, observation }: CompileOptions,
): CompiledSpec {
  const where = `update spec ${JSON.stringify(spec?.name)}${ctx.route === undefined ? '' : ` of route "${ctx.route}"`}`;
  if (spec === null || typeof spec !== 'object')
    throw new TypeError(`An update function returned ${String(spec)} instead of a spec`);
  if (typeof spec.name !== 'string' || !namePattern.test(spec.name) || reservedNames.has(spec.name)) {
    throw new TypeError(`${where}: \`name\` must match ${String(namePattern)} and not be refresh, connection or error`);
  }
  if (spec.name === 'presence') throw new TypeError(`${where}: \`name\` "presence" is reserved for presence messages`);
  let model: string;
  try {
    model = modelName(spec.model);
  } catch (error) {
    throw new TypeError(`${where}: \`model\`: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  if (model === controlModel) throw new TypeError(`${where}: \`model\` "${controlModel}" is reserved`);
  const { params, serializer, data, vary } = spec;
  // The app's functions get rows in its model's form (objection: model instances); field maps and
  // equalities read them as logged.
  const view: RowView = rowView?.(spec.model) ?? ((row) => row);
  let equalities: Array<readonly [string, Scalar]> = [];
  let predicate: ((row: Row) => boolean) | undefined;
  if (typeof params === 'function') {
    const test = params as (row: Row, ctx: PushContext<Viewer>) => boolean;
    predicate = (row) => test(view(row), ctx);
  } else if (params !== undefined) {
    if (params === null || typeof params !== 'object')
      throw new TypeError(`${where}: \`params\` must be an object or a function`);
    equalities = Object.entries(params).map(([path, value]) => {
      if (!isScalar(value))
        throw new TypeError(`${where}: \`params.${path}\` must be a string, number, bigint, boolean or null`);
      return [path, value] as const;
    });
  }
  if (vary !== undefined && typeof vary !== 'function') throw new TypeError(`${where}: \`vary\` must be a function`);
  const shareOf = (key: string | undefined) => (key === undefined ? undefined : intern.string(key));
  const varyKey = vary === undefined ? undefined : String(vary(ctx));
  const dataKey = stableKey(data);

  let produce: (row: Row, change: Change) => unknown;
  let shareKey: string | undefined;
  let rendered = false;
  let kind: SerializerKind = 'fields';
  if (serializer === undefined) {
    const fields = fieldMap(data, where);
    produce = (row) =>
      fields === undefined ? null : Object.fromEntries(fields.map(([key, path]) => [key, valueAt(row, path) ?? null]));
    // A field map reads only the row, so every viewer with the same map can share its output.
    shareKey = shareOf(dataKey === undefined ? undefined : JSON.stringify(['map', dataKey]));
  } else if (typeof serializer === 'function') {
    const fn = serializer as SerializerFunction<Viewer>;
    kind = 'function';
    produce = (row, change) => fn(ctx, view(row), data, change);
    // Update functions build inline closures anew for every page, so the key is the spec's
    // source, not the closure's identity; `vary` is the app's word that nothing else differs.
    shareKey = shareOf(
      varyKey === undefined || dataKey === undefined
        ? undefined
        : JSON.stringify(['fn', ctx.route, spec.name, fn.toString(), dataKey, varyKey]),
    );
  } else if (typeof serializer === 'string') {
    const render = routes?.render;
    if (render === undefined)
      throw new TypeError(`${where}: \`serializer\` names route "${serializer}", but no route renderer is configured`);
    if (routes?.has?.(serializer) === false)
      throw new TypeError(`${where}: \`serializer\` names route "${serializer}", which the router does not have`);
    kind = 'route';
    produce = (row, change) => render(serializer, ctx as PushContext<unknown>, { row: view(row), data, change });
    shareKey = shareOf(
      varyKey === undefined || dataKey === undefined
        ? undefined
        : JSON.stringify(['route', serializer, dataKey, varyKey]),
    );
  } else if (isFragment(serializer)) {
    if (ownsFragment?.(serializer) === false)
      throw new TypeError(`${where}: \`serializer\` is a fragment "${serializer.name}" of another push instance`);
    if (serializer.model !== undefined) {
      const own = modelName(serializer.model);
      if (own !== model)
        throw new TypeError(
          `${where}: \`serializer\` is fragment "${serializer.name}" of model ${own}, but the spec's model is ${model}`,
        );
    }
    const render = serializer.render as (row: Row, viewer: Viewer, ctx: PushContext<Viewer>) => unknown;
    produce = (row) => render(view(row), ctx.viewer, ctx);
    // Fragment names are unique in a push instance, so the name stands for the function.
    shareKey = shareOf(varyKey === undefined ? undefined : JSON.stringify(['fragment', serializer.name, varyKey]));
    rendered = true;
    kind = 'fragment';
  } else {
    throw new TypeError(`${where}: \`serializer\` must be a function, a fragment or a route name`);
  }

  const compiled: CompiledSpec = {
    name: spec.name,
    model,
    equalities,
    predicate,
    shareKey,
    rendered,
    signature:
      shareKey === undefined || predicate !== undefined
        ? undefined
        : intern.string(
            JSON.stringify([
              shareKey,
              spec.name,
              equalities.map(([path, value]) => [path, typeof value === 'bigint' ? String(value) : value]),
            ]),
          ),
    encodingKeys: shareKey === undefined ? undefined : intern.encodingKeys(shareKey, spec.name),
    serialize(change, shared) {
      if (rendered) {
        const fragment = {
          name: spec.name,
          shareKey,
          render: (row: Row) => produce(row, change),
          matches,
          observation,
        };
        return serializeFragment(fragment, change, shared);
      }
      const row = change.after ?? change.before;
      if (row === null || row === undefined) return skipped;
      if (shareKey === undefined) return guarded(() => produce(row, change), spec.name, observation, kind);
      if (shared.has(shareKey)) return shared.get(shareKey);
      const result = guarded(() => produce(row, change), spec.name, observation, kind);
      shared.set(shareKey, result);
      return result;
    },
  };
  const matches = (row: Row) => matchesRow(compiled, row);
  return compiled;
}

function fieldMap(data: unknown, where: string): Array<[string, string]> | undefined {
  if (data === undefined || data === null) return undefined;
  if (typeof data !== 'object' || Array.isArray(data))
    throw new TypeError(`${where}: \`data\` must map output keys to row paths`);
  return Object.entries(data).map(([key, path]) => {
    if (typeof path !== 'string') throw new TypeError(`${where}: \`data.${key}\` must be a row path string`);
    return [key, path];
  });
}

function isScalar(value: unknown): value is Scalar {
  return value === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof value);
}

// Sharing needs a key for `data`; data that JSON cannot express (cycles, bigints) is not shared.
function stableKey(data: unknown): string | undefined {
  try {
    return JSON.stringify(data) ?? 'undefined';
  } catch {
    return undefined;
  }
}
