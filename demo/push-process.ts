// Starting a push server process (the `serverpush` command, from source) and waiting until it
// listens: the split demo's push server, and the multi-process tests and benchmarks.

import { spawn, type ChildProcess } from 'node:child_process';

/** Options of `startPushProcess()`. */
export interface PushProcessOptions {
  /** The app module, a path. */
  readonly app: string;
  /** Default: `0`, a free port. */
  readonly port?: number;
  /** Default: `'127.0.0.1'`. */
  readonly host?: string;
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Copy the process's output to this one's stdout. Default: `false`. */
  readonly echo?: boolean;
}

/** A running push server process and the origin it listens on. */
export type PushProcess = ChildProcess & { readonly origin: string };

/**
 * Starts `serverpush --app …` in a child process; resolves once it prints where it listens, and
 * rejects if it exits first.
 *
 * @example
 * const server = await startPushProcess({ app: 'demo/push-server.ts', env: { PUSH_SECRET } });
 * console.log(server.origin); // http://127.0.0.1:40123
 */
export async function startPushProcess(options: PushProcessOptions): Promise<PushProcess> {
  const cli = new URL('../bin/serverpush.mjs', import.meta.url).pathname;
  const args = [
    '--import=tsx',
    cli,
    '--app',
    options.app,
    '--host',
    options.host ?? '127.0.0.1',
    '--port',
    String(options.port ?? 0),
  ];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const origin = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /push endpoints on (https?:\/\/[^/\s]+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the push server exited with ${code}: ${output}`)));
  });
  if (options.echo === true) child.stdout!.pipe(process.stdout);
  else child.stdout!.resume();
  return Object.assign(child, { origin });
}
