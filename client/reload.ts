// Reloading the page on the client's own initiative: after a `refresh`, and after a bad token (the
// page's token no longer fits its login session: logged out, or in as someone else in another tab).
// At most once per path within `guardMs` (remembered in sessionStorage), so a page the server
// refuses again as soon as it loads does not reload in a loop; and not while the page navigates
// away (./leaving.ts), whose navigation a reload would abort.

import type { ClientGlobals } from './globals.ts';
import { leavingMs, watchLeaving } from './leaving.ts';

/**
 * Why the client reloads: a `refresh` reloads even where sessionStorage is unavailable (as it always
 * did); a bad token only where the guard can be kept, since the reloaded page may be refused again.
 */
export type ReloadCause = 'refresh' | 'token';

/**
 * What became of a reload: it is `reloading`; it waits because the page is `leaving` (it reloads
 * only if the page is still here once the navigation should have happened); or it is `held`, since
 * the page reloaded for the same path less than `guardMs` ago.
 */
export type ReloadOutcome = 'reloading' | 'leaving' | 'held';

/** Options of `createReloader()`. */
export interface ReloaderOptions {
  /** How long after a reload another of the same path is held back, in ms; `0` holds none back. */
  readonly guardMs: number;
  /** Called when a reload that waited for a navigation is held back after all. */
  readonly held: () => void;
}

/** Reloads the page, guarded. */
export interface Reloader {
  reload(cause: ReloadCause): ReloadOutcome;
}

/** The sessionStorage key of the guard: one per path, so reloading `/todos` does not hold back `/login`. */
export function guardKey(path: string): string {
  return `serverpush:reloaded:${path}`;
}

/** Creates the page's reloader; it starts watching for navigations at once. */
export function createReloader(globals: ClientGlobals, options: ReloaderOptions): Reloader {
  const leaving = watchLeaving(globals);

  function now(cause: ReloadCause): 'reloading' | 'held' {
    if (options.guardMs > 0) {
      const storage = storageOf(globals);
      if (storage === undefined) {
        if (cause === 'token') return 'held';
      } else {
        const key = guardKey(new URL(globals.document.URL).pathname);
        const last = Number(storage.getItem(key));
        // Either way round: a clock set back must not unlock a loop.
        if (last > 0 && Math.abs(Date.now() - last) < options.guardMs) return 'held';
        try {
          storage.setItem(key, String(Date.now()));
        } catch {
          // A full or refused storage: this reload still happens, the next one is not guarded.
          if (cause === 'token') return 'held';
        }
      }
    }
    globals.reload();
    return 'reloading';
  }

  return {
    reload(cause) {
      const since = leaving.since();
      if (since === undefined) return now(cause);
      globals.setTimeout(
        () => {
          if (now(cause) === 'held') options.held();
        },
        Math.max(0, since + leavingMs - Date.now()),
      );
      return 'leaving';
    },
  };
}

/** The page's sessionStorage, or `undefined` where it is absent or refused (a sandboxed frame). */
function storageOf(globals: ClientGlobals): Pick<Storage, 'getItem' | 'setItem'> | undefined {
  try {
    return globals.window.sessionStorage ?? undefined;
  } catch {
    return undefined;
  }
}
