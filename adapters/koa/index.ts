// The Koa adapter (`serverpush/koa`): the only folder that imports koa. It takes each page
// request's cursor and signs its token, mounts the transports and the client bundle under the push
// prefix, matches page paths against the app's @koa/router routes, and re-renders a named route
// for a viewer.

/**
 * `createPush()` for Koa (`middleware()`, `routes()`, `attach()`, `proxy()`), `gracefulShutdown()`,
 * and the types of `ctx.state.serverpush`.
 *
 * @module serverpush/koa
 */

export { createPush, type IdentifyCheck, type KoaPush, type KoaPushOptions } from './push.ts';
export type { PageHelper, PushState, RenderState, RenderUpdate, TagOptions } from './state.ts';
export { gracefulShutdown, type ShutdownOptions, type ShutdownOutcome } from './shutdown.ts';
export {
  operator,
  type OperatorOptions,
  type OperatorState,
  type OperatorView,
  type RecentChange,
  type RecentError,
  type RecentRefresh,
} from './operator.ts';
