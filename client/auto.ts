// The classic-script entry (`serverpush.js`): connects with the settings of its own page tag,
// `<script src="…" data-serverpush data-token="…" data-base="…" data-proxy="…" data-transports="…" data-share="false"
// data-reload-on-bad-token="false">`, and
// sets `window.serverpush` to the client. The built script calls `start()`; tests call it with
// jsdom globals.

import { connect, type PushClient } from './index.ts';
import { resolveGlobals, type GlobalsOptions } from './globals.ts';

/** The page's window, with the client `start()` puts on it. */
interface AutoWindow {
  serverpush?: PushClient;
}

/**
 * Reads the `<script data-serverpush>` tag, connects, and sets `window.serverpush`. Run again
 * (the script included twice), it returns the client already there. Throws a `TypeError` when
 * the page has no such tag with a `data-token`.
 *
 * @example
 * // In a test: a jsdom window whose document has the tag, and Node's fetch.
 * const client = start({ window: dom.window, fetch, AbortController });
 */
export function start(globals: GlobalsOptions = {}): PushClient {
  const { window, document } = resolveGlobals(globals);
  const page = window as typeof window & AutoWindow;
  if (page.serverpush !== undefined) return page.serverpush;

  const script = findTag(document);
  const token = script?.getAttribute('data-token');
  if (script === undefined || !token) {
    throw new TypeError('serverpush: the page has no <script data-serverpush data-token="…"> tag');
  }
  const base = script.getAttribute('data-base');
  const proxy = script.getAttribute('data-proxy');
  const transports = script.getAttribute('data-transports');
  const share = script.getAttribute('data-share');
  const reloadOnBadToken = script.getAttribute('data-reload-on-bad-token');
  const client = connect({
    token,
    ...(base ? { base } : {}),
    ...(proxy ? { proxy } : {}),
    ...(transports ? { transports: splitNames(transports) } : {}),
    ...(share === 'false' || share === 'off' ? { share: false } : {}),
    ...(reloadOnBadToken === 'false' || reloadOnBadToken === 'off' ? { reloadOnBadToken: false } : {}),
    globals,
  });
  page.serverpush = client;
  return client;
}

/** The running script when it is the tag (not inside a module or a callback), else the first. */
function findTag(document: Document): Element | undefined {
  const current = document.currentScript;
  if (current?.hasAttribute('data-serverpush')) return current;
  return document.querySelector('script[data-serverpush]') ?? undefined;
}

function splitNames(list: string): string[] {
  return list
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}
