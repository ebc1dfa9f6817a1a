// The `serverpush` command: loads an app module, serves only its push endpoints on a port of their
// own (the seed's `manage.py runserverpush`), and shuts down gracefully on SIGTERM and SIGINT.

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { CliError, parseOptions, usage } from './options.ts';
import { run } from './serve.ts';

export { usage };

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

/** The first SIGTERM or SIGINT as an abort signal; later ones are ignored, the deadline bounds them. */
function processSignals(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const processOnSignal = (name: NodeJS.Signals) => controller.abort(name);
  process.on('SIGTERM', processOnSignal).on('SIGINT', processOnSignal);
  return {
    signal: controller.signal,
    dispose: () => void process.off('SIGTERM', processOnSignal).off('SIGINT', processOnSignal),
  };
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
