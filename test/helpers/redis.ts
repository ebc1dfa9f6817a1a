// A redis-server of the test's own, on a spare loopback port in a temporary directory, that the test
// can stop and start again (with or without its data). The shared Redis on 6379 is never touched.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';

/** One redis-server of a test's own. */
export interface TestRedis {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s). What it keeps depends on `persist`. */
  stop(): Promise<void>;
  /** Starts it again on the same port and directory. */
  start(): Promise<void>;
}

/** Options of `testRedis()`. */
export interface TestRedisOptions {
  /** Keep the data across a restart: an append-only file fsynced on every write. Default: `false`. */
  readonly persist?: boolean;
}

let availability: string | undefined | null = null;

/**
 * Why the Redis tests are skipped in this run, or `undefined` when they run. A missing
 * `redis-server` skips them, with the reason printed once, except when `CI=true`: there they run
 * and fail, so that a CI machine without Redis cannot pass by skipping them.
 */
export function redisSkip(): string | undefined {
  if (availability === null) {
    const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
    availability =
      probe.error === undefined && probe.status === 0
        ? undefined
        : `redis-server is not installed (${probe.error?.message ?? probe.stderr})`;
    if (availability !== undefined && process.env['CI'] !== 'true')
      console.log(`skipping Redis tests: ${availability}`);
  }
  return process.env['CI'] === 'true' ? undefined : availability;
}

/** Starts a redis-server of the test's own; it is stopped and its directory removed when the test ends. */
export async function testRedis(t: ExecutionContext, options: TestRedisOptions = {}): Promise<TestRedis> {
  if (redisSkip() === undefined && availability !== undefined) {
    throw new Error(`redis-server is required when CI=true: ${availability}`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'serverpush-redis-'));
  const port = await sparePort();
  const persistence =
    options.persist === true ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--dir', dir];
  let child: ChildProcess | undefined;

  const server: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      if (child !== undefined) throw new Error('the test Redis is already running');
      const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      await ready(started, port);
    },
    async stop() {
      const running = child;
      if (running === undefined) return;
      child = undefined;
      if (running.exitCode !== null || running.signalCode !== null) return;
      const exited = once(running, 'exit');
      running.kill('SIGTERM');
      const timer = setTimeout(() => running.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  t.teardown(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await server.start();
  return server;
}

/** Resolves once the server logs that it accepts connections; rejects if it exits or takes 10 s. */
async function ready(child: ChildProcess, port: number): Promise<void> {
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`redis-server on port ${port} was not ready within 10 s:\n${output}`)),
      10_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) finish();
    };
    const onExit = () => finish(new Error(`redis-server on port ${port} exited:\n${output}`));
    function finish(error?: Error) {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (error === undefined) resolve();
      else reject(error);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => void (output += chunk.toString()));
    child.on('exit', onExit);
  });
  // Keep draining its output, or a chatty server would block on a full pipe.
  child.stdout?.resume();
}

/** A loopback port that was free a moment ago. */
async function sparePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  probe.close();
  await once(probe, 'close');
  if (address === null || typeof address === 'string') throw new Error('no loopback port');
  return address.port;
}
