// Loud once: a configuration mistake is warned about once, and an error that repeats per request is
// logged at most once per kind a minute, with the count of those held back, instead of flooding.

import createDebug from 'debug';

const debug = createDebug('serverpush:config');

/** Options of `createReport()`. */
export interface ReportOptions {
  /** The window within which an error of one kind is logged once, in ms. Default: `60_000`. */
  readonly intervalMs?: number | undefined;
  /** How many keys and kinds it remembers; past it, the oldest are forgotten. Default: `1_000`. */
  readonly maxKeys?: number | undefined;
  /** The clock. Default: `Date.now`. */
  readonly now?: (() => number) | undefined;
}

/** What a push instance says about itself: the warnings and error lines of one instance. */
export interface Report {
  /**
   * Warns `serverpush: <message>` with `console.warn` (and under `DEBUG=serverpush:config`) the
   * first time `key` is given; later calls with that key say nothing. Returns whether it warned.
   */
  warnOnce(key: string, message: string): boolean;
  /**
   * Whether an occurrence of `kind` may be logged now: the first in each window is, with the count
   * of those held back since the last one logged; the others are counted and held back (`undefined`).
   */
  admit(kind: string): { readonly held: number } | undefined;
  /**
   * The default `onError`: `console.error('serverpush: internal error while <where>:', error)`, at
   * most once per kind (`errorKind()`) a window; a line after held-back ones says how many.
   */
  error(error: unknown, where: string): void;
}

/**
 * Creates the report of one push instance; nothing is shared between instances.
 *
 * @example
 * const report = createReport();
 * createPush({ secret, router, onError: report.error });
 */
export function createReport(options: ReportOptions = {}): Report {
  const intervalMs = options.intervalMs ?? 60_000;
  const maxKeys = options.maxKeys ?? 1_000;
  const now = options.now ?? Date.now;
  const warned = new Set<string>();
  /** By kind, when its window started and how many were held back in it. */
  const windows = new Map<string, { start: number; held: number }>();

  function admit(kind: string): { readonly held: number } | undefined {
    const at = now();
    const window = windows.get(kind);
    if (window !== undefined && at - window.start < intervalMs) {
      window.held += 1;
      return undefined;
    }
    const held = window?.held ?? 0;
    windows.delete(kind);
    if (windows.size >= maxKeys) windows.delete(windows.keys().next().value as string);
    windows.set(kind, { start: at, held: 0 });
    return { held };
  }

  return {
    warnOnce(key, message) {
      if (warned.has(key)) return false;
      if (warned.size >= maxKeys) warned.delete(warned.values().next().value as string);
      warned.add(key);
      debug('%s', message);
      console.warn(`serverpush: ${message}`);
      return true;
    },
    admit,
    error(error, where) {
      const admitted = admit(errorKind(error, where));
      if (admitted === undefined) return;
      console.error(`serverpush: internal error while ${where}${heldBack(admitted.held)}:`, error);
    },
  };
}

/**
 * The kind of an error for rate limiting: where it happened, its name and its message with digits
 * left out, so that errors differing only by an id or a count are one kind.
 */
export function errorKind(error: unknown, where: string): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return `${where}\u0000${text.replace(/\d+/g, '#').slice(0, 200)}`;
}

/** `' (3 more of this kind since the previous line were not logged)'`, or `''` for none. */
export function heldBack(count: number): string {
  if (count === 0) return '';
  return ` (${count} more of this kind since the previous line ${count === 1 ? 'was' : 'were'} not logged)`;
}
