// The presence suite (./suite.ts) on a Redis stream: each push instance has a connection of its own
// to a redis-server of the test's own, as push processes on several machines would.

import { redisLog } from '../../adapters/redis/index.ts';
import { redisSkip, testRedis } from '../helpers/redis.ts';
import { presenceSuite } from './suite.ts';

presenceSuite(
  'Redis log',
  async (t) => {
    const server = await testRedis(t);
    return async () => {
      const log = await redisLog({ url: server.url, blockMs: 200, onWarning: () => {} });
      t.teardown(() => log.close());
      return log;
    };
  },
  redisSkip() !== undefined,
);
