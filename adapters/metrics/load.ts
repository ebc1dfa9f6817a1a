// Loads prom-client, the optional peer `serverpush/metrics` needs, when `metrics()` is first called:
// an app that never asks for metrics never loads it, and one that asks without it is told how to get it.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** prom-client's module. */
export type PromClient = typeof import('prom-client');

/**
 * prom-client, loaded from the app's dependencies. Throws an `Error` saying `npm install prom-client`
 * when it is not installed.
 */
export function loadPromClient(): PromClient {
  try {
    return require('prom-client') as PromClient;
  } catch (error) {
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    if (code === 'MODULE_NOT_FOUND' && String(message).includes("'prom-client'")) {
      throw new Error(
        'serverpush/metrics needs prom-client, an optional peer dependency that is not installed: npm install prom-client',
        { cause: error },
      );
    }
    throw error;
  }
}
