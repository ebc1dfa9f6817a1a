// The auth demo served the way demo/app.ts serves the counter, on a temporary sqlite file, plus a
// hand-kept cookie jar per user for tests that speak plain HTTP. Objection's model binding is
// global: tests that build one of these must run serially.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Router from '@koa/router';
import type { ExecutionContext } from 'ava';
import knexFactory, { type Knex } from 'knex';
import Koa from 'koa';
import { Model } from 'objection';
import { createPush, type KoaPush } from '../../adapters/koa/index.ts';
import type { Transport } from '../../core/transport.ts';
import { objection } from '../../adapters/objection/index.ts';
import { authMigrationSource } from '../../demo/auth-migrations.ts';
import { authPushOptions, registerAuth, sessionMiddleware, type AuthViewer } from '../../demo/auth.ts';
import { secret } from './push.ts';
import { listen } from './server.ts';

/** A running auth demo. */
export interface AuthDemo {
  readonly url: string;
  readonly push: KoaPush<AuthViewer | null>;
  readonly knex: Knex;
}

/** The auth demo's app as demo/app.ts mounts it, unserved, and the function that closes it. */
export async function authDemoApp(transports?: readonly Transport[]) {
  const directory = mkdtempSync(join(tmpdir(), 'serverpush-auth-'));
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: { filename: join(directory, 'demo.sqlite') },
    useNullAsDefault: true,
  });
  await knex.migrate.latest({ migrationSource: authMigrationSource });
  Model.knex(knex);
  const router = new Router();
  const push = createPush({
    ...authPushOptions,
    secret,
    router,
    orm: objection(),
    ...(transports === undefined ? {} : { transports }),
  });
  registerAuth({ router, push });
  const app = new Koa();
  app
    .use(push.routes())
    .use(sessionMiddleware(app))
    .use(push.middleware())
    .use(router.routes())
    .use(router.allowedMethods());
  const close = async () => {
    await push.close();
    await knex.destroy();
    rmSync(directory, { recursive: true, force: true });
  };
  return { app, push, knex, close };
}

/** Builds and serves the auth demo; everything is closed when the test ends. */
export async function authDemo(t: ExecutionContext, transports?: readonly Transport[]): Promise<AuthDemo> {
  const { app, push, knex, close } = await authDemoApp(transports);
  const { url, server } = await listen(t, app.callback());
  // Typed as demo/app.ts holds its push: the auth demo's push is a push like any other.
  const asDemoPush: KoaPush = push;
  asDemoPush.attach(server);
  t.teardown(close);
  return { url, push, knex };
}

/** A browser's cookies for one origin, kept by hand: what `Set-Cookie` sets, sent back as `Cookie`. */
export class CookieJar {
  readonly cookies = new Map<string, string>();

  /** The `Cookie` header to send, or `{}` when the jar is empty. */
  headers(): Record<string, string> {
    return this.cookies.size === 0
      ? {}
      : { Cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ') };
  }

  /** Takes the response's `Set-Cookie` headers; an expired or emptied cookie is removed. */
  take(response: Response): Response {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const equals = pair.indexOf('=');
      const name = pair.slice(0, equals).trim();
      const value = pair.slice(equals + 1).trim();
      const expired = attributes.some(
        (attribute) => /^\s*expires=/i.test(attribute) && Date.parse(attribute.split('=')[1]!) <= Date.now(),
      );
      if (value === '' || expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  /** Fetches with the jar's cookies, without following redirects, and takes what it sets. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    return this.take(
      await fetch(url, {
        ...init,
        redirect: 'manual',
        headers: { ...this.headers(), ...(init.headers as Record<string, string> | undefined) },
      }),
    );
  }
}
