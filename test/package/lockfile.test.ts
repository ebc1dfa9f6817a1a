// package-lock.json as npm writes it, and installable on Node 20 without a warning: npm, given the
// committed package.json and lockfile, rewrites nothing and reports no unsupported engine.

import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { npm, warnings } from './npm.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('package-lock.json is what npm install writes, and no package in it warns on this Node', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'serverpush-lock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const file of ['package.json', 'package-lock.json']) copyFileSync(join(root, file), join(dir, file));
  // Lock-only: npm resolves the tree and checks every package's engines (EBADENGINE) without
  // installing it; the lockfile already pins everything, so the cache answers.
  const { output } = await npm(['install', '--package-lock-only', '--ignore-scripts', '--prefer-offline'], dir);
  t.deepEqual(warnings(output), [], output);
  const committed = readFileSync(join(root, 'package-lock.json'), 'utf8');
  t.is(readFileSync(join(dir, 'package-lock.json'), 'utf8'), committed, 'npm rewrote package-lock.json');
  const lock = JSON.parse(committed) as { packages: Record<string, { bin?: unknown }> };
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  t.deepEqual(
    lock.packages['']?.bin,
    Object.fromEntries(Object.entries(manifest.bin).map(([name, path]) => [name, path.replace(/^\.\//, '')])),
  );
});
