// The package as a new user gets it: `npm pack`, then `npm install` of the tarball into an empty
// ESM project with the peers the README example needs, with zero npm warnings; the README's own
// example type-checked under `strict` with the README's tsconfig (on the TypeScript of this repo
// and on the minimum the README states), compiled, and run against the installed package.
// Needs the registry (skipped with the reason when it is unreachable, except under CI=true) and
// `npm run build` first (`npm test` builds). npm uses its own cache (~/.npm), warm after `npm ci`.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { cleanEnv, npm, run, warnings } from './npm.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  devDependencies: Record<string, string>;
};

/** The README's quick-start example: the code block marked `<!-- example: demo/hello.ts -->`. */
const example = /<!-- example: demo\/hello\.ts -->\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
/** The Requirements section: the documented tsconfig and the minimum TypeScript. */
const requirements = /## Requirements\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
const tsconfig = /```json\n([\s\S]*?)```/.exec(requirements)?.[1];
const minimumTypeScript = /TypeScript (\d+\.\d+) or later/.exec(requirements)?.[1];

/** Why this machine cannot run the test, or `undefined`; under CI=true it runs and fails instead. */
async function unreachable(): Promise<string | undefined> {
  const ping = await run('npm', ['ping'], root, 20_000).catch((error: Error) => ({ code: 1, output: error.message }));
  if (ping.code === 0 || process.env['CI'] === 'true') return undefined;
  return `the npm registry is unreachable (npm ping: ${ping.output.trim().split('\n').pop()})`;
}

const skip = await unreachable();
if (skip !== undefined) console.log(`skipping the package tests: ${skip}`);
const serial = skip === undefined ? test.serial : test.serial.skip;

const work = mkdtempSync(join(tmpdir(), 'serverpush-pack-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

/** Runs `make` once; every caller gets its one promise, so the steps below each run once. */
function memo<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}

const packed = memo(async () => {
  if (!existsSync(join(root, 'dist/core/index.js')) || !existsSync(join(root, 'dist/client/serverpush.js')))
    throw new Error('dist/ is missing: run `npm run build` first (`npm test` does)');
  // --ignore-scripts: prepack would rebuild dist/ under the other test files that read it.
  const { output } = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], root);
  const [{ filename }] = JSON.parse(output.slice(output.indexOf('['))) as [{ filename: string }];
  const tarball = join(work, filename);
  const unpacked = join(work, 'unpacked');
  mkdirSync(unpacked);
  const tar = await run('tar', ['-xzf', tarball, '-C', unpacked], work, 20_000);
  if (tar.code !== 0) throw new Error(`tar -xzf failed: ${tar.output}`);
  const files = readdirSync(unpacked, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(unpacked.length + 1));
  const read = (file: string) => readFileSync(join(unpacked, file), 'utf8');
  return {
    tarball,
    files,
    read,
    manifest: JSON.parse(read('package/package.json')) as { scripts?: Record<string, string> },
    output,
  };
});

const app = join(work, 'app');

const installed = memo(async () => {
  const { tarball } = await packed();
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const versions = manifest.devDependencies;
  const peers = ['koa', '@koa/router', 'knex', 'objection', 'typescript', '@types/koa', '@types/node'];
  const result = await npm(
    [
      'install',
      '--prefer-offline',
      tarball,
      ...peers.map((name) => `${name}@${versions[name]}`),
      // The minimum TypeScript the README states, beside the repo's own: `tsc-minimum`.
      `tsc-minimum@npm:typescript@~${minimumTypeScript}.0`,
    ],
    app,
    90_000,
  );
  // better-sqlite3, the example's driver, builds from source on this machine (some 100 s): the
  // repo's own build is copied in instead. It is the app's choice of driver, not a serverpush peer.
  for (const name of ['better-sqlite3', 'bindings', 'file-uri-to-path']) {
    cpSync(join(root, 'node_modules', name), join(app, 'node_modules', name), { recursive: true });
  }
  return result;
});

serial('npm pack ships LICENSE, the built entry points, no source maps and no install-time script', async (t) => {
  const { files, read, manifest: shipped, output } = await packed();
  t.deepEqual(warnings(output), [], output);
  t.true(files.includes('package/LICENSE'));
  t.true(files.includes('package/CHANGELOG.md'));
  t.deepEqual(
    files.filter((file) => file.endsWith('.map')),
    [],
  );
  t.deepEqual(
    files.filter((file) => /\.(m?js|d\.ts)$/.test(file) && read(file).includes('sourceMappingURL')),
    [],
    'no file names a source map',
  );
  t.true(files.includes('package/dist/core/index.js') && files.includes('package/dist/client/serverpush.js'));
  t.false(files.some((file) => /^package\/(test|demo|core|adapters|client|transports)\//.test(file)));
  // Scripts npm runs when the package is installed: none may name a file the tarball lacks.
  for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) t.is(shipped.scripts?.[script], undefined);
});

serial('npm install of the tarball and the example peers in an empty ESM project prints no warning', async (t) => {
  t.timeout(100_000);
  const { output } = await installed();
  t.deepEqual(warnings(output), [], output);
  const installedManifest = JSON.parse(readFileSync(join(app, 'node_modules/serverpush/package.json'), 'utf8'));
  t.is(installedManifest.version, manifest.version);
});

serial(
  'the README example type-checks under strict with the README tsconfig, on this TypeScript and the minimum',
  async (t) => {
    t.timeout(100_000);
    t.truthy(example, 'README has the example block');
    t.truthy(tsconfig, 'README Requirements has the tsconfig');
    t.truthy(minimumTypeScript, 'README Requirements names the minimum TypeScript');
    await installed();
    const config = JSON.parse(tsconfig!) as { compilerOptions: Record<string, unknown> };
    t.is(config.compilerOptions['strict'], true);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ ...config, include: ['app.ts'] }));
    writeFileSync(join(app, 'app.ts'), example!);
    const current = await run(
      join(app, 'node_modules/typescript/bin/tsc'),
      ['-p', '.', '--outDir', 'build'],
      app,
      60_000,
    );
    t.is(current.code, 0, current.output);
    const minimum = await run(join(app, 'node_modules/tsc-minimum/bin/tsc'), ['-p', '.', '--noEmit'], app, 60_000);
    t.is(minimum.code, 0, minimum.output);
    const version = await run(join(app, 'node_modules/tsc-minimum/bin/tsc'), ['-v'], app, 10_000);
    t.log(
      `type-checked with ${(await run(join(app, 'node_modules/typescript/bin/tsc'), ['-v'], app, 10_000)).output.trim()} and ${version.output.trim()}`,
    );
  },
);

serial(
  'the README example runs from the installed package: the page, its client script and a pushed rename',
  async (t) => {
    t.truthy(existsSync(join(app, 'build/app.js')), 'the example was compiled');
    const child = spawn(process.execPath, ['build/app.js'], {
      cwd: app,
      env: cleanEnv({ PORT: '0' }),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.teardown(() => child.kill());
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the example printed no URL within 10 s')), 10_000);
      child.stdout.on('data', (chunk: Buffer) => {
        const match = /open (http:\S+)/.exec(chunk.toString());
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      child.once('exit', (code) => reject(new Error(`the example exited with ${code}`)));
    });
    const origin = new URL(url).origin;
    const html = await (await fetch(url)).text();
    t.regex(html, /Hey, <span data-serverpush-text="username_change" data-serverpush-field="username">alice<\/span>!/);
    const script = await fetch(`${origin}/serverpush/client.js`);
    t.is(script.status, 200);
    t.regex(script.headers.get('content-type') ?? '', /javascript/);
    const token = /data-token="([^"]+)"/.exec(html)?.[1];
    t.truthy(token);
    t.is((await fetch(`${origin}/users/1/rename?to=bob`, { method: 'POST' })).status, 204);
    const poll = await fetch(`${origin}/serverpush/long-poll?token=${token}`);
    const { messages } = (await poll.json()) as { messages: unknown[] };
    t.like(messages, [{ name: 'username_change', op: 'update', data: { username: 'bob' } }]);
    child.kill();
    await once(child, 'exit');
  },
);
