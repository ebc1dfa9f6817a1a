// What route handlers find in `ctx.state.serverpush`, typed through Koa's `DefaultState`: the page
// helper on page requests, and the update being rendered when the push side re-renders a route.

import type { Change, PushContext, Row, TransportName } from '../../core/types.ts';

/** Options of `tag()`. */
export interface TagOptions {
  /** The transports this page may use, in order; each must be offered. Default: all offered. */
  readonly transports?: readonly TransportName[] | undefined;
  /**
   * Whether this page may share one connection with the browser's other tabs of this app
   * (`data-share`). Default: the `share` option of `createPush()`, itself `true`.
   */
  readonly share?: boolean | undefined;
}

/** What a page handler finds in `ctx.state.serverpush`. */
export interface PageHelper {
  /** The change-log cursor taken when the request started. */
  readonly cursor: string;
  /** The signed page token; signed on first read. */
  readonly token: string;
  /** The `<script>` tag that loads the client with this page's token. */
  tag(options?: TagOptions): string;
}

/** The change a route re-renders for one viewer (a route-name serializer). */
export interface RenderUpdate<Viewer = unknown, R = Row> {
  /**
   * The row after the change, or before it for a delete, in the form the ORM adapter gives the
   * app's functions (`objection()`: a model instance).
   */
  readonly row: R;
  /** The spec's `data`. */
  readonly data: unknown;
  readonly change: Change;
  /** The viewer's context: `viewer`, `identity`, the page's `path`, `params`… */
  readonly context: PushContext<Viewer>;
}

/**
 * What a route handler finds when the push side re-renders it for a viewer (a route-name
 * serializer). `push.renderState(ctx)` returns it typed by the push instance's `Viewer` (and, given
 * a model, its row by the model); `ctx.state.serverpush.update` holds the same, untyped.
 */
export interface RenderState<Viewer = unknown, R = Row> {
  readonly update: RenderUpdate<Viewer, R>;
}

/**
 * `ctx.state.serverpush`: the page helper, set by `push.middleware()` on GET and HEAD requests; and,
 * only while the push side re-renders a route for a viewer, `update` (there the helper has no token
 * to give: reading it throws).
 */
export interface PushState extends PageHelper {
  readonly update?: RenderUpdate | undefined;
}

declare module 'koa' {
  interface DefaultState {
    /** serverpush's page helper; see `PushState`. */
    serverpush: PushState;
  }
}

/** The state a re-render sets: `update`, and a helper that has no page to sign a token for. */
export function renderState(update: RenderUpdate): PushState {
  const none = (): never => {
    throw new TypeError('serverpush: a route re-rendered for a viewer has no page token or tag');
  };
  return {
    update,
    cursor: update.change.cursor,
    get token(): string {
      return none();
    },
    tag: none,
  };
}
