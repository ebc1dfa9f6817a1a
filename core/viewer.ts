// The viewer's side of a page: its context, rebuilt from the page token on the push side, and the
// specs its route's and the global update functions return for it.

import { PushError } from './errors.ts';
import { compileSpec, createInterner, type CompiledSpec, type RouteRenderer } from './serialize.ts';
import type { PageClaims } from './token.ts';
import type { PushContext, UpdateFunction } from './types.ts';

/** How the push side finds the route of a page path, and re-renders a route for a viewer. */
export interface RouteTable {
  match(path: string): { readonly name: string; readonly params: Readonly<Record<string, string>> } | undefined;
  readonly render?: RouteRenderer | undefined;
}

/** Rebuilds the viewer from a token's identity; see `PushOptions.authenticate`. */
export type Authenticate<Viewer> = (
  identity: unknown,
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
  readonly authenticate: Authenticate<Viewer> | undefined;
  readonly modelName: (model: unknown) => string;
}

/** Creates the registry of update functions and viewer contexts of one push instance. */
export function createViewers<Viewer>({ routes, authenticate, modelName }: ViewersOptions<Viewer>): Viewers<Viewer> {
  const routeUpdates = new Map<string, UpdateFunction<Viewer>[]>();
  const globalUpdates: UpdateFunction<Viewer>[] = [];
  // What the specs of many pages have in common, held once: pages of one route share theirs.
  const intern = createInterner();

  async function contextOf(claims: PageClaims, binding: string | undefined): Promise<PushContext<Viewer>> {
    const matched = routes?.match(claims.path);
    const query: Record<string, string | string[]> = {};
    for (const [key, value] of new URLSearchParams(claims.query)) {
      const held = query[key];
      query[key] = held === undefined ? value : Array.isArray(held) ? [...held, value] : [held, value];
    }
    const viewer =
      authenticate === undefined ? (claims.identity as Viewer) : await authenticate(claims.identity, { binding });
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
      const functions = [...(ctx.route === undefined ? [] : (routeUpdates.get(ctx.route) ?? [])), ...globalUpdates];
      const specs: CompiledSpec[] = [];
      for (const fn of functions) {
        for (const spec of await fn(ctx)) specs.push(compileSpec(spec, ctx, modelName, routes?.render, intern));
      }
      return { ctx, specs };
    },
  };
}

/** The `SERVERPUSH_ERR_CLOSED` error of a push instance that is shutting down. */
export const closedError = () => new PushError('SERVERPUSH_ERR_CLOSED', 'the push server is shutting down');
