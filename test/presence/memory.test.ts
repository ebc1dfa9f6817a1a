// The presence suite (./suite.ts) on one in-memory change log shared by push instances in this process.

import { memoryLog } from '../../core/memory-log.ts';
import { presenceSuite } from './suite.ts';

presenceSuite('memory log', async () => {
  const log = memoryLog();
  return async () => log;
});
