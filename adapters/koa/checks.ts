// The mistakes a Koa push instance can see for itself (update functions and routes that do not
// meet, params on columns a model lacks, a bindCookie no page carries), each warned about once.

import type Router from '@koa/router';
import type Koa from 'koa';
import type { Report } from '../../core/report.ts';
import { isThenable } from '../../core/serialize.ts';
import type { UpdateFunction } from '../../core/types.ts';
import { createParamsCheck, hasColumns } from '../../core/viewer.ts';
import type { OrmAdapter } from '../../core/orm.ts';
import { routeChecks } from './routes.ts';

/** Pages rendered with cookies but without `bindCookie`'s before the warning that it may be misnamed. */
const unboundRendersBeforeWarning = 20;

/** The checks of one Koa push instance: each mistake is warned about once, naming what to fix. */
export function createChecks({
  router,
  orm,
  bindCookie,
  report,
}: {
  readonly router: Router;
  readonly orm: OrmAdapter | undefined;
  readonly bindCookie: string | undefined;
  readonly report: Report;
}) {
  const routes = routeChecks(router, report.warnOnce);
  const params = hasColumns(orm) ? createParamsCheck(orm, report.warnOnce) : undefined;
  let bound = bindCookie === undefined;
  let unbound = 0;
  const cookieNames = new Set<string>();

  /** Counts a page rendered with cookies but not the bound one; the 20th such warns. */
  function cookies(header: string) {
    if (bound || header === '') return;
    if (cookieValue(header, bindCookie!) !== undefined) {
      bound = true;
      return;
    }
    for (const pair of header.split(';')) {
      const name = pair.split('=', 1)[0]!.trim();
      if (name !== '' && cookieNames.size < 10) cookieNames.add(name);
    }
    unbound += 1;
    if (unbound < unboundRendersBeforeWarning) return;
    bound = true;
    report.warnOnce(
      'bindCookie',
      `bindCookie "${bindCookie}": none of the first ${unboundRendersBeforeWarning} pages rendered with cookies carried it, so their tokens are bound to no session (their cookies: ${[...cookieNames].join(', ')}); is it the name of the session cookie?`,
    );
  }

  return {
    registered: (route: string) => routes.registered(route),
    pageRequest: () => routes.pageRequest(),
    rendered(ctx: Koa.Context) {
      routes.rendered(ctx.path);
      cookies(ctx.get('Cookie'));
    },
    /** `fn`, checking the params of the specs it returns against their model's columns. */
    specs<Viewer>(fn: UpdateFunction<Viewer>): UpdateFunction<Viewer> {
      if (params === undefined || typeof fn !== 'function') return fn;
      return (ctx) => {
        const specs = fn(ctx);
        if (!isThenable(specs)) {
          params(specs, ctx.route);
          return specs;
        }
        return Promise.resolve(specs).then((resolved) => {
          params(resolved, ctx.route);
          return resolved;
        });
      };
    },
  };
}

/** The raw value of cookie `name` in a Cookie header, as the page request's `ctx.cookies` would read it. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const pair of (header ?? '').split(';')) {
    const equals = pair.indexOf('=');
    if (equals > 0 && pair.slice(0, equals).trim() === name) return pair.slice(equals + 1).trim();
  }
  return undefined;
}
