// The app module bench/scale.ts runs in each push process (`serverpush --app bench/scale-app.ts`):
// pages `/page` listen to every tick; the change log is the Redis stream the environment names.

import Router from '@koa/router';
import { createPush, type KoaPush } from '../adapters/koa/index.ts';
import { redisLog } from '../adapters/redis/index.ts';
import type { ChangeLog } from '../core/change-log.ts';
import { longPoll } from '../transports/long-poll.ts';
import { sse } from '../transports/sse.ts';
import { websocket } from '../transports/websocket.ts';

/** The push instance of the benchmark, on the given log. */
export function scalePush(secret: string, log?: ChangeLog): KoaPush {
  const router = new Router();
  router.get('page', '/page', () => {});
  const push = createPush({
    secret,
    router,
    log,
    transports: [websocket(), sse(), longPoll()],
    maxPending: 5_000,
    // Every bench client connects from 127.0.0.1.
    maxConnectionsPerAddress: 1_000_000,
  });
  push.updates('page', () => [{ name: 'tick', model: 'ticks', data: { seq: 'seq', sentAt: 'sentAt' } }]);
  return push;
}

export default async function (): Promise<KoaPush> {
  const env = process.env;
  return scalePush(
    env['SCALE_SECRET'] ?? '',
    await redisLog({ url: env['SCALE_REDIS_URL'] ?? '', key: env['SCALE_REDIS_KEY'] ?? 'scale', blockMs: 1_000 }),
  );
}
