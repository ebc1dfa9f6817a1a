// jsdom pages for the browser client's tests: a window per test, closed at teardown, whose
// globals are handed to the client instead of being put on Node's `global`.

import type { ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { JSDOM } from 'jsdom';
import type { GlobalsOptions } from '../../client/index.ts';

const require = createRequire(import.meta.url);

/** A jsdom window, typed as the DOM's. */
export type DomWindow = Window & typeof globalThis;

export interface PageOptions {
  /** The page's URL; same-origin with the push server double for XHR. */
  readonly url: string;
  /** Markup for `<body>`. Default: none. */
  readonly body?: string;
  /** Whether to load the real jquery 3 into the window. Default: `false`. */
  readonly jquery?: boolean;
}

/** Opens a jsdom page for the test and closes it at teardown. */
export function createPage(t: ExecutionContext, options: PageOptions): DomWindow {
  const html = `<!doctype html><html><head></head><body>${options.body ?? ''}</body></html>`;
  const window = new JSDOM(html, { url: options.url, runScripts: 'outside-only' }).window as unknown as DomWindow;
  t.teardown(() => window.close());
  if (options.jquery === true) {
    window.eval(readFileSync(require.resolve('jquery/dist/jquery.js'), 'utf8'));
  }
  return window;
}

/**
 * The client's globals for a jsdom page: its window and document, with Node's fetch (jsdom has
 * none) and Node's AbortController, whose signals Node's fetch accepts.
 */
export function pageGlobals(window: DomWindow, overrides: GlobalsOptions = {}): GlobalsOptions {
  return { window, fetch, AbortController, ...overrides };
}

/** A `CustomEvent` as the tests read it. */
export interface SeenEvent {
  readonly type: string;
  readonly detail: unknown;
  readonly event: CustomEvent<unknown>;
}

/** Records every event of the given types dispatched on the page's document. */
export function recordEvents(window: DomWindow, types: readonly string[]): SeenEvent[] {
  const seen: SeenEvent[] = [];
  for (const type of types) {
    window.document.addEventListener(type, (event) => {
      const custom = event as CustomEvent<unknown>;
      seen.push({ type, detail: custom.detail, event: custom });
    });
  }
  return seen;
}

/** Resolves with the next event of that type on the page's document. */
export function nextEvent(window: DomWindow, type: string): Promise<CustomEvent<unknown>> {
  return new Promise((resolve) => {
    window.document.addEventListener(type, (event) => resolve(event as CustomEvent<unknown>), {
      once: true,
    });
  });
}
