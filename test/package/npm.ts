// npm as a user runs it, for the package tests: a child process with none of the npm_* variables
// that `npm test` hands its children (a nested npm would take them for its own config).

import { spawn } from 'node:child_process';

/** What a finished command printed, stdout and stderr interleaved, and how it exited. */
export interface Run {
  readonly code: number | null;
  readonly output: string;
}

/** The environment of the test process without npm's run-script variables. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(name)) env[name] = value;
  }
  return { ...env, ...extra };
}

/** Runs `command args` in `cwd`; resolves when it exits, rejects when it outlives `timeoutMs`. */
export function run(
  command: string,
  args: readonly string[],
  cwd: string,
  timeoutMs: number,
  env = cleanEnv(),
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Runs npm; rejects with its output unless it exits 0. */
export async function npm(args: readonly string[], cwd: string, timeoutMs = 60_000): Promise<Run> {
  const result = await run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=warn'], cwd, timeoutMs);
  if (result.code !== 0) throw new Error(`npm ${args.join(' ')} exited with ${result.code}:\n${result.output}`);
  return result;
}

/** The warnings npm printed (`npm warn …` lines), to assert there are none. */
export function warnings(output: string): string[] {
  return output.split('\n').filter((line) => /^npm warn/i.test(line));
}
