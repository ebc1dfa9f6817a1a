// The auth demo's push server, an app module for the `serverpush` command, for running the auth
// demo's push endpoints in processes of their own (several of them, to watch presence across push
// processes):
//   PUSH_SECRET=… DEMO_DB=auth.sqlite DEMO_LOG=redis REDIS_URL=redis://127.0.0.1:6379 \
//   APP_ORIGIN=http://127.0.0.1:3000 npx tsx cli/index.ts --app demo/auth-push-server.ts --port 8014
// It registers what the app registers (registerAuth(): the same named routes, update functions and
// presence) on the app's database (users, sessions, to-dos) and the change log the app writes to.

import Router from '@koa/router';
import type knexFactory from 'knex';
import { Model } from 'objection';
import { createPush, type KoaPush } from '../adapters/koa/index.ts';
import { knexLog } from '../adapters/knex-log/index.ts';
import { migrateKnexLog } from '../adapters/knex-log/migration.ts';
import { objection } from '../adapters/objection/index.ts';
import { redisLog } from '../adapters/redis/index.ts';
import type { ChangeLog } from '../core/change-log.ts';
import { longPoll } from '../transports/long-poll.ts';
import { sse } from '../transports/sse.ts';
import { websocket } from '../transports/websocket.ts';
import { authPushOptions, registerAuth } from './auth.ts';
import { authMigrationSource } from './auth-migrations.ts';
import { openSqlite } from './sqlite.ts';

/**
 * What `serverpush --app demo/auth-push-server.ts` serves. From the environment: `PUSH_SECRET`
 * (required, the app's), `DEMO_DB` (the app's sqlite file, default `auth.sqlite`), `DEMO_LOG`
 * (`knex`, the default: the log in that database; or `redis`, at `REDIS_URL`), `APP_ORIGIN` (the
 * origin of the app's pages, allowed cross-origin), and `PRESENCE_HEARTBEAT_MS`,
 * `PRESENCE_EXPIRY_MS`, `PRESENCE_LEAVE_DELAY_MS` (presence timing; default 5 s, 15 s and 2 s).
 */
export default async function authPushServer(): Promise<KoaPush> {
  const secret = process.env['PUSH_SECRET'];
  if (secret === undefined || Buffer.byteLength(secret) < 32) {
    throw new Error("demo/auth-push-server.ts needs PUSH_SECRET: the app's token secret, at least 32 bytes");
  }
  const knex = openSqlite(process.env['DEMO_DB'] ?? 'auth.sqlite');
  await knex.migrate.latest({ migrationSource: authMigrationSource });
  Model.knex(knex);
  const router = new Router();
  const origin = process.env['APP_ORIGIN'];
  const push = createPush({
    ...authPushOptions,
    secret,
    router,
    orm: objection(),
    log: await changeLog(knex),
    transports: [websocket(), sse(), longPoll()],
    origins: origin === undefined ? [] : [origin],
    presence: {
      heartbeatMs: numberFrom('PRESENCE_HEARTBEAT_MS') ?? 5_000,
      expiryMs: numberFrom('PRESENCE_EXPIRY_MS') ?? 15_000,
      leaveDelayMs: numberFrom('PRESENCE_LEAVE_DELAY_MS') ?? 2_000,
    },
  });
  registerAuth({ router, push });
  return push;
}

/** The change log `DEMO_LOG` names. */
async function changeLog(knex: knexFactory.Knex): Promise<ChangeLog> {
  const name = process.env['DEMO_LOG'] ?? 'knex';
  if (name === 'knex') {
    await migrateKnexLog(knex);
    return knexLog({ knex });
  }
  if (name === 'redis') return redisLog({ url: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379' });
  throw new Error(`demo/auth-push-server.ts: DEMO_LOG=${name} names no change log; known: knex, redis`);
}

function numberFrom(name: string): number | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed <= 0)
    throw new Error(`demo/auth-push-server.ts: ${name} must be a positive integer of ms`);
  return parsed;
}
