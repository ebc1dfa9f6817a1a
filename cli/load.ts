// Loading the app module and finding its push instance.

import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { KoaPush } from '../adapters/koa/index.ts';
import { CliError } from './options.ts';

/** Imports the app module and finds its push instance, or throws a `CliError` saying what it found. */
export async function loadPush(app: string, cwd: string): Promise<KoaPush> {
  const path = resolve(cwd, app);
  if (!statSync(path, { throwIfNoEntry: false })?.isFile())
    throw new CliError(`cannot find the app module ${app} (looked for ${path})`, 2);
  let exports: Record<string, unknown>;
  try {
    exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_UNKNOWN_FILE_EXTENSION' && /\.[cm]?ts$/.test(path)) {
      throw new CliError(
        `${app} is TypeScript and no TypeScript loader is registered: run serverpush under tsx (node --import=tsx …) or compile the module`,
        1,
      );
    }
    throw new CliError(`${app} failed to load: ${(error as Error)?.stack ?? String(error)}`, 1);
  }
  const name =
    'push' in exports && exports['push'] !== undefined ? 'push' : 'default' in exports ? 'default' : undefined;
  if (name === undefined) {
    const found = Object.keys(exports).join(', ') || 'none';
    throw new CliError(
      `${app} exports no push instance: expected \`export const push = createPush(...)\` or a default export; found exports: ${found}`,
      1,
    );
  }
  const label = name === 'push' ? 'its `push` export' : 'its default export';
  let value = exports[name];
  let verb = 'is';
  if (typeof value === 'function') {
    try {
      value = await (value as () => unknown)();
    } catch (error) {
      throw new CliError(`${app}: ${label} threw: ${(error as Error)?.stack ?? String(error)}`, 1);
    }
    verb = 'returned';
  }
  if (isKoaPush(value)) return value;
  if (typeof (value as Partial<KoaPush> | null)?.poll === 'function') {
    throw new CliError(
      `${app}: ${label} ${verb} a push instance without routes(): make it with createPush() from serverpush/koa`,
      1,
    );
  }
  throw new CliError(
    `${app}: ${label} ${verb} ${describe(value)}, not a push instance${verb === 'is' ? ' or a function returning one' : ''}`,
    1,
  );
}

function isKoaPush(value: unknown): value is KoaPush {
  const push = value as Partial<Record<keyof KoaPush, unknown>> | null;
  return (
    typeof push === 'object' &&
    push !== null &&
    typeof push.routes === 'function' &&
    typeof push.attach === 'function' &&
    typeof push.close === 'function' &&
    typeof push.prefix === 'string' &&
    Array.isArray(push.transports)
  );
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value !== 'object') return `the ${typeof value} ${JSON.stringify(value) ?? String(value)}`;
  const keys = Object.keys(value);
  return keys.length === 0 ? 'an empty object' : `an object with keys ${keys.slice(0, 8).join(', ')}`;
}
