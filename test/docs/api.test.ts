// The API reference (`npm run docs:api`, checked by `npm run docs:check` in `npm test`) documents
// exactly the package's public subpaths, each under the name users import it by.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { repoRoot } from './blocks.ts';

const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');
const manifest = JSON.parse(read('package.json')) as { exports: Record<string, string | { types?: string }> };
const typedoc = JSON.parse(read('typedoc.json')) as { entryPoints: string[] };

/** The source file of each `exports` subpath with types: `./dist/adapters/koa/index.d.ts` → `adapters/koa/index.ts`. */
const sources = Object.entries(manifest.exports).flatMap(([subpath, target]) =>
  typeof target === 'object' && target.types !== undefined
    ? [{ subpath, source: target.types.replace(/^\.\/dist\//, '').replace(/\.d\.ts$/, '.ts') }]
    : [],
);

test('typedoc.json documents every package.json exports subpath that has types, and nothing else', (t) => {
  t.true(sources.length >= 10);
  t.deepEqual([...typedoc.entryPoints].sort(), sources.map(({ source }) => source).sort());
});

test('each entry point names its module as users import it (@module serverpush/…)', (t) => {
  for (const { subpath, source } of sources) {
    const name = subpath === '.' ? 'serverpush' : `serverpush/${subpath.slice(2)}`;
    t.regex(read(source), new RegExp(`^ \\* @module ${name}$`, 'm'), `${source} lacks @module ${name}`);
  }
});
