// The test harness (`serverpush/testing`): an app's push behaviour — its update functions,
// serializers, `authenticate`, `authorize` and viewer rules — tested through its own Koa app and
// push instance, in-process, without a browser or a port, with any test runner.

/**
 * `createHarness()`: an app's push behaviour under test, in-process, without a browser or a port.
 *
 * @module serverpush/testing
 */

export {
  createHarness,
  type Harness,
  type HarnessAgent,
  type HarnessApp,
  type HarnessOptions,
  type OpenOptions,
} from './harness.ts';
export { HarnessError, type HarnessMessage, type HarnessPage } from './page.ts';
export type { HarnessResponse, RequestOptions } from './request.ts';
