// Builds the browser client: `dist/client/serverpush.js`, the classic script the page tag loads,
// and `dist/client/serverpush.mjs`, the ES module behind `serverpush/client`. Run by `npm run build:client`.

import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'browser',
  target: 'es2018',
  logLevel: 'warning',
};

await Promise.all([
  build({
    ...common,
    // The entry calls `start()`, which `client/auto.ts` only exports, so tests can import it.
    stdin: {
      contents: "import { start } from './auto.ts';\nstart();\n",
      resolveDir: fileURLToPath(new URL('.', import.meta.url)),
      sourcefile: 'serverpush.js',
      loader: 'ts',
    },
    outfile: 'dist/client/serverpush.js',
    format: 'iife',
    minify: true,
  }),
  build({
    ...common,
    entryPoints: ['client/index.ts'],
    outfile: 'dist/client/serverpush.mjs',
    format: 'esm',
  }),
]);
