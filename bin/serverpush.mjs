#!/usr/bin/env node
// The `serverpush` executable. From a checkout it runs the TypeScript source (cli/index.ts),
// registering tsx unless the command line already loads it, so no build is needed and a stale one
// is never used; from an installed package, which ships no source, it runs dist/cli/index.js.

import { existsSync } from 'node:fs';

const source = new URL('../cli/index.ts', import.meta.url);
let cli;
if (existsSync(source)) {
  // `node --import=tsx`, NODE_OPTIONS=--import=tsx and the tsx command all name tsx here. Registering
  // a second time would be harmless, only slower.
  const preloaded = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((arg) => arg.includes('tsx'));
  if (!preloaded) (await import('tsx/esm/api')).register();
  cli = await import(source.href);
} else {
  cli = await import(new URL('../dist/cli/index.js', import.meta.url).href);
}
await cli.runCli();
