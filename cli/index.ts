// The `serverpush` command: loads an app module, serves only its push endpoints on a port of their
// own (the seed's `manage.py runserverpush`), and shuts down gracefully on SIGTERM and SIGINT.

import { once } from 'node:events';
import { realpathSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import Koa from 'koa';
import type { KoaPush } from '../adapters/koa/index.ts';

/** Where `main()` reads its environment and writes its output. Every field defaults to the process's own. */
export interface CliIo {
  /** Default: `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The directory `--app` is resolved against. Default: `process.cwd()`. */
  readonly cwd?: string;
  /** Default: writes to `process.stdout`. */
  readonly stdout?: (text: string) => void;
  /** Default: writes to `process.stderr`. */
  readonly stderr?: (text: string) => void;
  /** Shutdown starts when it aborts; a string `reason` names the cause. Default: the first SIGTERM or SIGINT. */
  readonly signal?: AbortSignal;
}

interface CliOptions {
  readonly app: string;
  readonly port: number;
  readonly host: string;
  /** The prefix the instance must have, and the flag or variable that says so. */
  readonly prefix: { readonly value: string; readonly source: string } | undefined;
  readonly shutdownTimeoutMs: number;
}

/** A failure with its message and exit code: 2 for bad usage, 1 for the rest. */
class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: 1 | 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

const flags = {
  app: { flag: '--app', variable: 'SERVERPUSH_APP' },
  port: { flag: '--port', variable: 'SERVERPUSH_PORT' },
  host: { flag: '--host', variable: 'SERVERPUSH_HOST' },
  prefix: { flag: '--prefix', variable: 'SERVERPUSH_PREFIX' },
  shutdownTimeoutMs: { flag: '--shutdown-timeout-ms', variable: 'SERVERPUSH_SHUTDOWN_TIMEOUT_MS' },
} as const;

/** The `--help` text. */
export const usage = `Usage: serverpush --app <module> [options]

Serves the push endpoints of a serverpush app on a port of their own: its push instance's routes
(long-poll, SSE, JSONP, client.js) and its WebSocket upgrades, and nothing else.

Options (a flag wins over its environment variable):
  --app <module>              SERVERPUSH_APP                  the module exporting the push instance; required
  --port <n>                  SERVERPUSH_PORT                 default 8013; 0 picks a free port
  --host <host>               SERVERPUSH_HOST                 default 127.0.0.1
  --prefix <path>             SERVERPUSH_PREFIX               checked against the instance's prefix; default: the instance's
  --shutdown-timeout-ms <ms>  SERVERPUSH_SHUTDOWN_TIMEOUT_MS  default 10000
  -h, --help                                                  print this and exit

The module exports the instance made by createPush() from serverpush/koa as \`push\` or as its default
export, or a function (possibly async) that returns it. A TypeScript module needs a loader: run
serverpush under tsx (node --import=tsx), or compile the module.

On SIGTERM or SIGINT it stops accepting connections, answers held polls, ends streams and sockets
with a reconnect hint, closes the change log and exits 0; past --shutdown-timeout-ms it exits 1.
Exit codes: 0 done, 1 the module or the server failed or shutdown timed out, 2 bad usage.
`;

/**
 * Runs the `serverpush` command with `argv` (the arguments after the command name) and resolves
 * with its exit code: at once for `--help` and bad usage, else once the server has shut down.
 *
 * @example
 * process.exit(await main(['--app', 'push-server.js', '--port', '8013']));
 */
export async function main(argv: readonly string[], io: CliIo = {}): Promise<number> {
  const stdout = io.stdout ?? ((text) => void process.stdout.write(text));
  const stderr = io.stderr ?? ((text) => void process.stderr.write(text));
  const signals = io.signal === undefined ? processSignals() : { signal: io.signal, dispose: () => {} };
  try {
    const options = parseOptions(argv, io.env ?? process.env);
    if (options === 'help') {
      stdout(usage);
      return 0;
    }
    return await run(options, io.cwd ?? process.cwd(), signals.signal, stdout, stderr);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    stderr(`serverpush: ${error.message}\n${error.exitCode === 2 ? 'Run `serverpush --help` for usage.\n' : ''}`);
    return error.exitCode;
  } finally {
    signals.dispose();
  }
}

/** Runs the command on this process, its arguments and signals, and exits with its code. */
export async function runCli(argv: readonly string[] = process.argv.slice(2)): Promise<never> {
  let code = 1;
  try {
    code = await main(argv);
  } catch (error) {
    console.error('serverpush: internal error:', error);
  }
  // Exits even when something still holds the event loop: a forced shutdown leaves it held.
  process.exit(code);
}

function parseOptions(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CliOptions | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const given: Partial<Record<keyof typeof flags, { value: string; source: string }>> = {};
  for (const [key, { variable }] of Object.entries(flags) as [keyof typeof flags, (typeof flags)[keyof typeof flags]][]) {
    const value = env[variable];
    if (value !== undefined && value !== '') given[key] = { value, source: variable };
  }
  for (let at = 0; at < argv.length; at += 1) {
    const arg = argv[at]!;
    if (!arg.startsWith('-')) throw new CliError(`unexpected argument ${JSON.stringify(arg)}`, 2);
    const equals = arg.indexOf('=');
    const flag = equals < 0 ? arg : arg.slice(0, equals);
    const key = (Object.keys(flags) as (keyof typeof flags)[]).find((name) => flags[name].flag === flag);
    if (key === undefined) throw new CliError(`unknown option ${flag}`, 2);
    // `--app=x` or `--app x`; a value that looks like the next flag is a missing one.
    const value = equals < 0 ? argv[++at] : arg.slice(equals + 1);
    if (value === undefined || value === '' || (equals < 0 && value.startsWith('--'))) throw new CliError(`${flag} needs a value`, 2);
    given[key] = { value, source: flag };
  }
  if (given.app === undefined) throw new CliError('--app is required (or SERVERPUSH_APP): the module that exports the push instance', 2);
  const { prefix } = given;
  if (prefix !== undefined && !/^(\/[\w.~-]+)+$/.test(prefix.value)) {
    throw new CliError(`${prefix.source} must be a path like /serverpush, without a trailing slash, got ${JSON.stringify(prefix.value)}`, 2);
  }
  return {
    app: given.app.value,
    port: integer(given.port, 8013, 0, 65_535),
    host: given.host?.value ?? '127.0.0.1',
    prefix,
    shutdownTimeoutMs: integer(given.shutdownTimeoutMs, 10_000, 1, 2_147_483_647),
  };
}

function integer(given: { value: string; source: string } | undefined, fallback: number, min: number, max: number): number {
  if (given === undefined) return fallback;
  const value = /^\d{1,10}$/.test(given.value) ? Number(given.value) : Number.NaN;
  if (value >= min && value <= max) return value;
  throw new CliError(`${given.source} must be an integer from ${min} to ${max}, got ${JSON.stringify(given.value)}`, 2);
}

/** The first SIGTERM or SIGINT as an abort signal; later ones are ignored, the deadline bounds them. */
function processSignals(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const processOnSignal = (name: NodeJS.Signals) => controller.abort(name);
  process.on('SIGTERM', processOnSignal).on('SIGINT', processOnSignal);
  return { signal: controller.signal, dispose: () => void process.off('SIGTERM', processOnSignal).off('SIGINT', processOnSignal) };
}

async function run(options: CliOptions, cwd: string, signal: AbortSignal, stdout: (text: string) => void, stderr: (text: string) => void): Promise<number> {
  // The deadline runs from the stop signal, whatever is under way then: loading, serving, closing.
  let timer: NodeJS.Timeout | undefined;
  let signalOnAbort = () => {};
  const stopped = new Promise<string>((resolve) => {
    signalOnAbort = () => resolve(typeof signal.reason === 'string' ? signal.reason : 'stopped');
    if (signal.aborted) signalOnAbort();
    else signal.addEventListener('abort', signalOnAbort, { once: true });
  });
  const deadline = stopped.then(() => new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, options.shutdownTimeoutMs, 'timeout'))));
  let waitingFor = () => 'the app module to load';
  const timedOut = () => {
    stderr(`serverpush: shutdown did not finish within ${options.shutdownTimeoutMs} ms (still waiting for ${waitingFor()}); exiting\n`);
    return 1;
  };
  try {
    const push = await Promise.race([loadPush(options.app, cwd), deadline]);
    if (push === 'timeout') return timedOut();
    // Leaving before serving, the push instance gets the shutdown timeout to close.
    const abandon = (message: string) => within(push.close(), options.shutdownTimeoutMs).then(() => Promise.reject(new CliError(message, 1)));
    if (options.prefix !== undefined && options.prefix.value !== push.prefix) {
      return await abandon(`${options.app}: its push instance is mounted at ${push.prefix}, but ${options.prefix.source} says ${options.prefix.value}`);
    }
    const server = createServer(new Koa().use(push.routes()).callback());
    const detach = push.attach(server);
    const connections = track(server);
    if (!signal.aborted) {
      server.listen(options.port, options.host);
      const failed = await once(server, 'listening').then(() => undefined, (error: Error) => error);
      if (failed !== undefined) return await abandon(`cannot listen on ${options.host}:${options.port}: ${failed.message}`);
      const { port } = server.address() as AddressInfo;
      const host = options.host.includes(':') ? `[${options.host}]` : options.host;
      const names = push.transports.map((transport) => transport.name).join(', ');
      stdout(`serverpush: push endpoints on http://${host}:${port}${push.prefix} (transports: ${names})\n`);
    }

    stdout(`serverpush: ${await stopped}: shutting down\n`);
    const drained = connections.drain();
    server.close();
    waitingFor = () => 'push.close()';
    // Ends SSE streams and WebSockets with a reconnect hint, answers held polls, closes the log.
    if ((await Promise.race([push.close(), deadline])) !== 'timeout') {
      detach();
      waitingFor = () => `${connections.size()} open connection(s)`;
      if ((await Promise.race([drained, deadline])) !== 'timeout') return 0;
    }
    connections.destroy();
    return timedOut();
  } finally {
    signal.removeEventListener('abort', signalOnAbort);
    clearTimeout(timer);
  }
}

/**
 * Follows the server's connections, upgraded ones (WebSockets) included, which the server itself
 * stops counting. `drain()` makes every answer from then on close its connection, and resolves
 * once none is left; idle keep-alive connections are `server.close()`'s to end.
 */
function track(server: Server) {
  const sockets = new Set<Socket>();
  const responses = new Set<ServerResponse>();
  let draining = false;
  let socketsOnEmpty = () => {};
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0) socketsOnEmpty();
    });
  });
  server.on('request', (_request: IncomingMessage, response: ServerResponse) => {
    if (draining) response.setHeader('Connection', 'close');
    responses.add(response);
    response.once('close', () => responses.delete(response));
  });
  return {
    size: () => sockets.size,
    drain(): Promise<void> {
      draining = true;
      for (const response of responses) {
        if (!response.headersSent) response.setHeader('Connection', 'close');
        else {
          // A stream under way (SSE) closes its connection when it ends. The socket is taken now:
          // a finished response lets go of it before this listener runs.
          const { socket } = response;
          response.once('finish', () => socket?.end());
        }
      }
      return new Promise((resolve) => (sockets.size === 0 ? resolve() : (socketsOnEmpty = resolve)));
    },
    destroy: () => sockets.forEach((socket) => socket.destroy()),
  };
}

/** `promise`'s outcome, or `'timeout'` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, ms, 'timeout')))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Imports the app module and finds its push instance, or throws a `CliError` saying what it found. */
async function loadPush(app: string, cwd: string): Promise<KoaPush> {
  const path = resolve(cwd, app);
  if (!statSync(path, { throwIfNoEntry: false })?.isFile()) throw new CliError(`cannot find the app module ${app} (looked for ${path})`, 2);
  let exports: Record<string, unknown>;
  try {
    exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_UNKNOWN_FILE_EXTENSION' && /\.[cm]?ts$/.test(path)) {
      throw new CliError(`${app} is TypeScript and no TypeScript loader is registered: run serverpush under tsx (node --import=tsx …) or compile the module`, 1);
    }
    throw new CliError(`${app} failed to load: ${(error as Error)?.stack ?? String(error)}`, 1);
  }
  const name = 'push' in exports && exports['push'] !== undefined ? 'push' : 'default' in exports ? 'default' : undefined;
  if (name === undefined) {
    const found = Object.keys(exports).join(', ') || 'none';
    throw new CliError(`${app} exports no push instance: expected \`export const push = createPush(...)\` or a default export; found exports: ${found}`, 1);
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
    throw new CliError(`${app}: ${label} ${verb} a push instance without routes(): make it with createPush() from serverpush/koa`, 1);
  }
  throw new CliError(`${app}: ${label} ${verb} ${describe(value)}, not a push instance${verb === 'is' ? ' or a function returning one' : ''}`, 1);
}

function isKoaPush(value: unknown): value is KoaPush {
  const push = value as Partial<Record<keyof KoaPush, unknown>> | null;
  return typeof push === 'object' && push !== null && typeof push.routes === 'function' && typeof push.attach === 'function'
    && typeof push.close === 'function' && typeof push.prefix === 'string' && Array.isArray(push.transports);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value !== 'object') return `the ${typeof value} ${JSON.stringify(value) ?? String(value)}`;
  const keys = Object.keys(value);
  return keys.length === 0 ? 'an empty object' : `an object with keys ${keys.slice(0, 8).join(', ')}`;
}

// `npx tsx cli/index.ts …` and `node dist/cli/index.js …` run the command; importing does not.
if (import.meta.url === mainModuleUrl()) await runCli();

function mainModuleUrl(): string | undefined {
  try {
    return process.argv[1] === undefined ? undefined : pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return undefined;
  }
}
