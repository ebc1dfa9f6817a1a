// The command line of `serverpush`: flags, their environment variables, and the checks on them.

import { prefixPattern } from '../core/options.ts';

/** What the command was asked to do. */
export interface CliOptions {
  readonly app: string;
  readonly port: number;
  readonly host: string;
  /** The prefix the instance must have, and the flag or variable that says so. */
  readonly prefix: { readonly value: string; readonly source: string } | undefined;
  readonly shutdownTimeoutMs: number;
  /** Connections served at once (WebSockets and streams included); one past it is closed unanswered. */
  readonly maxConnections: number;
}

/** A failure with its message and exit code: 2 for bad usage, 1 for the rest. */
export class CliError extends Error {
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
  maxConnections: { flag: '--max-connections', variable: 'SERVERPUSH_MAX_CONNECTIONS' },
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
  --max-connections <n>       SERVERPUSH_MAX_CONNECTIONS      default 10000; connections served at once,
                                                              WebSockets and streams included
  -h, --help                                                  print this and exit

The module exports the instance made by createPush() from serverpush/koa as \`push\` or as its default
export, or a function (possibly async) that returns it. A TypeScript module needs a loader: run
serverpush under tsx (node --import=tsx), or compile the module.

The server closes a connection past --max-connections at once, unanswered. It waits at most 10 s
for a request's headers and 30 s for the whole request (answers are not timed: held polls and
streams stay open as long as they need), and keeps an idle connection open for 65 s, above the
long-poll hold and the 60 s idle timeout of common load balancers.

On SIGTERM or SIGINT it stops accepting connections, answers held polls, ends streams and sockets
with a reconnect hint, closes the change log and exits 0; past --shutdown-timeout-ms it exits 1.
Exit codes: 0 done, 1 the module or the server failed or shutdown timed out, 2 bad usage.
`;

/** The options of `argv` over those of `env`, or `'help'`; throws a `CliError` (exit code 2) for bad usage. */
export function parseOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): CliOptions | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const given: Partial<Record<keyof typeof flags, { value: string; source: string }>> = {};
  for (const [key, { variable }] of Object.entries(flags) as [
    keyof typeof flags,
    (typeof flags)[keyof typeof flags],
  ][]) {
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
    if (value === undefined || value === '' || (equals < 0 && value.startsWith('--')))
      throw new CliError(`${flag} needs a value`, 2);
    given[key] = { value, source: flag };
  }
  if (given.app === undefined)
    throw new CliError('--app is required (or SERVERPUSH_APP): the module that exports the push instance', 2);
  const { prefix } = given;
  if (prefix !== undefined && !prefixPattern.test(prefix.value)) {
    throw new CliError(
      `${prefix.source} must be a path like /serverpush, without a trailing slash, got ${JSON.stringify(prefix.value)}`,
      2,
    );
  }
  return {
    app: given.app.value,
    port: integer(given.port, 8013, 0, 65_535),
    host: given.host?.value ?? '127.0.0.1',
    prefix,
    shutdownTimeoutMs: integer(given.shutdownTimeoutMs, 10_000, 1, 2_147_483_647),
    maxConnections: integer(given.maxConnections, 10_000, 1, 2_147_483_647),
  };
}

function integer(
  given: { value: string; source: string } | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (given === undefined) return fallback;
  const value = /^\d{1,10}$/.test(given.value) ? Number(given.value) : Number.NaN;
  if (value >= min && value <= max) return value;
  throw new CliError(`${given.source} must be an integer from ${min} to ${max}, got ${JSON.stringify(given.value)}`, 2);
}
