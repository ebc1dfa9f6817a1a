// The auth demo's login sessions: koa-session with its sessions kept in the `sessions` table, so the
// cookie holds an opaque key that page tokens can be bound to, and logging out ends it for good.

import type Koa from 'koa';
import session from 'koa-session';
import { Model } from 'objection';
import { randomBytes } from 'node:crypto';

/** koa-session's cookie name, which page tokens are bound to (`bindCookie`). */
export const sessionCookie = 'koa.sess';

/** How long a login lasts, in ms: the same as a page token. */
export const sessionMaxAgeMs = 86_400_000;

/** A login session as koa-session stores it. Not pushable: its key is a secret. */
export class LoginSession extends Model {
  static override tableName = 'sessions';
  static override idColumn = 'key';
  declare key: string;
  declare data: string;
  declare expiresAt: number;
}

/** A koa-session store: session data by key. */
export interface SessionStore {
  get(key: string): Promise<Record<string, unknown> | undefined>;
  set(key: string, data: unknown, maxAgeMs: number): Promise<void>;
  destroy(key: string): Promise<void>;
}

/**
 * The session middleware. The cookie's value is the session's key: it stays the same from login to
 * logout whatever the session holds, which `bindCookie` needs (koa-session's default cookie store
 * would put the data itself in the cookie, a new value at every write). HttpOnly, SameSite=Lax.
 * Sets `app.keys` from `SESSION_KEYS` (comma-separated), else random per process, when the app has
 * none. Mount it after `push.routes()` (polls need no session) and before the router.
 *
 * @example
 * app.use(push.routes()).use(sessionMiddleware(app)).use(push.middleware()).use(router.routes());
 */
export function sessionMiddleware(app: Koa): Koa.Middleware {
  if (app.keys === undefined || (Array.isArray(app.keys) && app.keys.length === 0)) {
    const keys = (process.env['SESSION_KEYS'] ?? '').split(',').filter((key) => key !== '');
    app.keys = keys.length > 0 ? keys : [randomBytes(32).toString('hex')];
  }
  return session(
    { key: sessionCookie, store: sessionStore, httpOnly: true, sameSite: 'lax', maxAge: sessionMaxAgeMs },
    app,
  );
}

/** The koa-session store on the `sessions` table; expired sessions are deleted as new ones are saved. */
export const sessionStore: SessionStore = {
  async get(key) {
    const row = await LoginSession.query().findById(key);
    return row === undefined || Number(row.expiresAt) < Date.now()
      ? undefined
      : (JSON.parse(row.data) as Record<string, unknown>);
  },
  async set(key, data, maxAgeMs) {
    const now = Date.now();
    await LoginSession.query().delete().where('expiresAt', '<', now);
    await LoginSession.query()
      .insert({ key, data: JSON.stringify(data), expiresAt: now + maxAgeMs })
      .onConflict('key')
      .merge();
  },
  async destroy(key) {
    await LoginSession.query().deleteById(key);
  },
};
