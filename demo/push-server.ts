// The counter demo's push server, an app module for the `serverpush` command:
//   PUSH_SECRET=… DEMO_DB=demo.sqlite npx tsx cli/index.ts --app demo/push-server.ts --port 8013
// It builds the push instance the app builds (demo/counter.ts): the same routes, so page paths match
// and the `counter` fragment re-renders here; the same update function and transports; and the same
// change log, in the app's sqlite database (`DEMO_LOG=knex`, the default), where the app's writes
// put their changes in the same transaction. `npm run demo -- --split` starts it for you.

import type { KoaPush } from '../adapters/koa/index.ts';
import { knexLog } from '../adapters/knex-log/index.ts';
import type { ChangeLog } from '../core/change-log.ts';
import { memoryLog } from '../core/memory-log.ts';
import { createCounterPush, openCounterDatabase } from './counter.ts';

/** Options of `createPushServer()`. */
export interface PushServerOptions {
  /** The token secret, the app's own. Required. */
  readonly secret: string;
  /** The change log, shared with the app process. Default: `memoryLog()`. */
  readonly log?: ChangeLog | undefined;
}

/**
 * The counter demo's push instance for a push server of its own.
 *
 * @example
 * export const push = createPushServer({ secret: process.env.PUSH_SECRET!, log: sharedLog });
 */
export function createPushServer(options: PushServerOptions): KoaPush {
  return createCounterPush({ secret: options.secret, log: options.log }).push;
}

/**
 * What `serverpush --app demo/push-server.ts` serves: `PUSH_SECRET` (required, the app's), the
 * database `DEMO_DB` names (default `demo.sqlite`) and the log `DEMO_LOG` names (`knex`, the default,
 * or `memory`, which only this process sees).
 */
export default async function pushServer(): Promise<KoaPush> {
  const secret = process.env['PUSH_SECRET'];
  if (secret === undefined || Buffer.byteLength(secret) < 32) {
    throw new Error("demo/push-server.ts needs PUSH_SECRET: the app's token secret, at least 32 bytes");
  }
  return createPushServer({ secret, log: await changeLog(process.env['DEMO_LOG'] ?? 'knex') });
}

/** The change log `DEMO_LOG` names. */
async function changeLog(name: string): Promise<ChangeLog> {
  if (name === 'knex') return knexLog({ knex: await openCounterDatabase(process.env['DEMO_DB'] ?? 'demo.sqlite') });
  if (name === 'memory') {
    console.warn(
      'demo/push-server.ts: DEMO_LOG=memory: this process has a change log of its own, which the app process does not write to',
    );
    return memoryLog();
  }
  throw new Error(`demo/push-server.ts: DEMO_LOG=${name} names no change log; known: knex, memory`);
}
