// The viewer's side of a page: its context, rebuilt from the page token on the push side, and the
// specs its route's and the global update functions return for it. Specs that cannot be built fail
// the page once, with SERVERPUSH_ERR_PAGE, and are reported once per route and spec a minute.

import createDebug from 'debug';
import { isPushError, PushError } from './errors.ts';
import type { OrmAdapter } from './orm.ts';
import { createReport, heldBack, type Report } from './report.ts';
import {
  compileSpec,
  createInterner,
  type CompileOptions,
  type CompiledSpec,
  type RouteRenderer,
} from './serialize.ts';
import type { PageClaims } from './token.ts';
import type { PushContext, UpdateFunction, UpdateSpec } from './types.ts';

const debug = createDebug('serverpush:viewer');

/** How the push side finds the route of a page path, and re-renders a route for a viewer. */
export interface RouteTable {
  /** The named route a page path belongs to, with its params; `undefined` for a path of no named route. */
  match(path: string): { readonly name: string; readonly params: Readonly<Record<string, string>> } | undefined;
  readonly render?: RouteRenderer | undefined;
  /**
   * Whether the router has a route named `name`. When given, a spec whose `serializer` names
   * another route fails its page's specs (SERVERPUSH_ERR_PAGE) instead of every serialization.
   */
  has?(name: string): boolean;
}

/** Rebuilds the viewer from a token's identity; see `PushOptions.authenticate`. */
export type Authenticate<Viewer, Identity = unknown> = (
  identity: Identity,
  request: { readonly binding: string | undefined },
) => Viewer | Promise<Viewer>;

/** The update functions of a push instance, and the viewer contexts they run with. */
export interface Viewers<Viewer> {
  /** Registers the update function of the route named `route`. */
  add(route: string, fn: UpdateFunction<Viewer>): void;
  /** Registers an update function applied to every page. */
  addGlobal(fn: UpdateFunction<Viewer>): void;
  /** Whether a page of the route named `route` (`undefined`: an unnamed route) has update functions to run. */
  concerns(route: string | undefined): boolean;
  /** The viewer's context and the specs of its page: the route's update functions, then the global ones. */
  specsFor(
    claims: PageClaims,
    binding: string | undefined,
  ): Promise<{ ctx: PushContext<Viewer>; specs: CompiledSpec[] }>;
}

/** Options of `createViewers()`. */
export interface ViewersOptions<Viewer> {
  readonly routes: RouteTable | undefined;
  readonly authenticate: Authenticate<Viewer, never> | undefined;
  readonly modelName: (model: unknown) => string;
  /** How rows of a model reach the app's functions (`OrmAdapter.rowView`). Default: as logged. */
  readonly rowView?: CompileOptions['rowView'];
  /** Whether a fragment was made by this push instance. Default: any is. */
  readonly ownsFragment?: CompileOptions['ownsFragment'];
  /** Told of each serializer call and failure. */
  readonly observation?: CompileOptions['observation'];
  /**
   * Receives why a page's specs cannot be built (the update function's error, or the `TypeError`
   * naming the spec and field), once per route, update function and spec a minute. The push
   * instance's `onError`. Default: `console.error`, as `onError`'s default.
   */
  readonly onError?: ((error: unknown, where: string) => void) | undefined;
  /** Rate-limits those reports. Default: a report of its own (`createReport()`). */
  readonly report?: Report | undefined;
}

/** Creates the registry of update functions and viewer contexts of one push instance. */
export function createViewers<Viewer>({
  routes,
  authenticate,
  modelName,
  rowView,
  ownsFragment,
  observation,
  onError = logError,
  report = createReport(),
}: ViewersOptions<Viewer>): Viewers<Viewer> {
  const routeUpdates = new Map<string, UpdateFunction<Viewer>[]>();
  const globalUpdates: UpdateFunction<Viewer>[] = [];
  // What the specs of many pages have in common, held once: pages of one route share theirs.
  const intern = createInterner();
  const compileOptions: CompileOptions = { modelName, routes, intern, rowView, ownsFragment, observation };

  async function contextOf(claims: PageClaims, binding: string | undefined): Promise<PushContext<Viewer>> {
    const matched = routes?.match(claims.path);
    const query: Record<string, string | string[]> = {};
    for (const [key, value] of new URLSearchParams(claims.query)) {
      const held = query[key];
      query[key] = held === undefined ? value : Array.isArray(held) ? [...held, value] : [held, value];
    }
    const viewer =
      authenticate === undefined
        ? (claims.identity as Viewer)
        : await authenticate(claims.identity as never, { binding });
    return {
      path: claims.path,
      query,
      route: matched?.name,
      params: matched?.params ?? {},
      identity: claims.identity,
      viewer,
      languages: claims.languages,
    };
  }

  return {
    add(route, fn) {
      routeUpdates.set(route, [...(routeUpdates.get(route) ?? []), fn]);
    },
    addGlobal(fn) {
      globalUpdates.push(fn);
    },
    concerns(route) {
      return globalUpdates.length > 0 || (route !== undefined && routeUpdates.has(route));
    },
    async specsFor(claims, binding) {
      const ctx = await contextOf(claims, binding);
      const own = ctx.route === undefined ? [] : (routeUpdates.get(ctx.route) ?? []);
      const specs: CompiledSpec[] = [];
      for (const [index, fn] of [...own, ...globalUpdates].entries()) {
        const source: Source =
          index < own.length ? { route: ctx.route, index } : { route: undefined, index: index - own.length };
        let returned: unknown;
        try {
          returned = await fn(ctx);
          if (!Array.isArray(returned))
            throw new TypeError(`${functionOf(source)} returned ${describe(returned)} instead of an array of specs`);
        } catch (error) {
          throw failed(error, source, 'fn');
        }
        for (const [at, spec] of (returned as ReadonlyArray<UpdateSpec<Viewer>>).entries()) {
          try {
            specs.push(compileSpec(spec, ctx, compileOptions));
          } catch (error) {
            throw failed(error, source, at);
          }
        }
      }
      return { ctx, specs };
    },
  };

  /**
   * The page's failure: a `PushError` the app threw as it is; anything else, reported to `onError`
   * once per route, function and spec a minute, becomes SERVERPUSH_ERR_PAGE. That is a 4xx, so the
   * client stops rather than retry specs that will fail again; the details stay in the server log.
   */
  function failed(error: unknown, source: Source, spec: number | 'fn'): PushError {
    if (isPushError(error)) return error;
    const subject = source.route === undefined ? 'the global update functions' : `route "${source.route}"`;
    const admitted = report.admit(`${source.route ?? ''}\u0000${source.index}\u0000${spec}`);
    if (admitted !== undefined) {
      try {
        onError(error, `building the update specs of ${subject}${heldBack(admitted.held)}`);
      } catch (thrown) {
        logError(thrown, 'onError');
      }
    } else {
      debug('the update specs of %s cannot be built (reported already): %O', subject, error);
    }
    return new PushError('SERVERPUSH_ERR_PAGE', `the update specs of ${subject} cannot be built; see the server log`, {
      cause: error,
    });
  }
}

/** Which update function: of a route, or global; by its place among them. */
interface Source {
  readonly route: string | undefined;
  readonly index: number;
}

function functionOf({ route }: Source): string {
  return route === undefined ? 'a global update function' : `the update function of route "${route}"`;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function logError(error: unknown, where: string): void {
  console.error(`serverpush: internal error while ${where}:`, error);
}

/** What an ORM adapter can tell of a model's rows, for checking specs' params (`objection()` can). */
export interface ModelColumns {
  /** The keys the rows of `model`'s changes carry, or `undefined` when it cannot tell. */
  columns(model: unknown): Promise<readonly string[] | undefined>;
}

/** Whether `orm` can tell a model's columns. */
export function hasColumns(orm: OrmAdapter | undefined): orm is OrmAdapter & ModelColumns {
  return typeof (orm as Partial<ModelColumns> | undefined)?.columns === 'function';
}

/** How many model-and-column pairs a params check remembers; past it, new ones go unchecked. */
const checkedMax = 10_000;

/**
 * Checks the field equalities of the specs an update function returned against their model's
 * columns, once per model and column: a misspelt column compiles, and then never matches. Calls
 * `warn(key, message)` for a column the model does not have; the columns are read in the
 * background, so the page is not held up.
 */
export function createParamsCheck(
  orm: OrmAdapter & ModelColumns,
  warn: (key: string, message: string) => void,
): (specs: unknown, route: string | undefined) => void {
  const columnsOf = new Map<string, Promise<ReadonlySet<string> | undefined>>();
  const checked = new Set<string>();
  return (specs, route) => {
    if (!Array.isArray(specs)) return;
    for (const spec of specs as unknown[]) {
      if (spec === null || typeof spec !== 'object') continue;
      const { name, model, params } = spec as UpdateSpec;
      if (params === null || typeof params !== 'object') continue;
      let table: string;
      try {
        table = orm.modelName(model);
      } catch {
        continue; // compiling the spec says what is wrong with its model
      }
      for (const path of Object.keys(params)) {
        // A dotted path reaches into a JSON column: the column is its first segment.
        const column = path.split('.', 1)[0]!;
        const key = `${table}\u0000${column}`;
        if (checked.has(key) || checked.size >= checkedMax) continue;
        checked.add(key);
        let known = columnsOf.get(table);
        if (known === undefined) {
          known = orm.columns(model).then(
            (columns) => (columns === undefined ? undefined : new Set(columns)),
            (error: unknown) => {
              debug('cannot read the columns of %s: %O', table, error);
              return undefined;
            },
          );
          columnsOf.set(table, known);
        }
        void known.then((columns) => {
          if (columns === undefined || columns.has(column)) return;
          const of = route === undefined ? '' : ` of route "${route}"`;
          warn(
            key,
            `update spec ${JSON.stringify(name)}${of} filters on ${JSON.stringify(path)}, but model ${table} has no column "${column}", so it never matches (its columns: ${[...columns].join(', ')})`,
          );
        });
      }
    }
  };
}

/** The `SERVERPUSH_ERR_CLOSED` error of a push instance that is shutting down. */
export const closedError = () => new PushError('SERVERPUSH_ERR_CLOSED', 'the push server is shutting down');
