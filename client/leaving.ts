// Whether the page is navigating away: a form submission or a link that leaves this document has
// begun and nobody cancelled it. Such a page ignores the `refresh` it receives (the tab that logs
// out gets the `disconnect` refresh every page of the user gets), because reloading would abort its
// own navigation.
//
// No `beforeunload` listener: in Firefox one keeps every page of the app out of the back-forward
// cache. `pagehide` stops the client anyway (index.ts), so a page being unloaded dispatches nothing.

import type { ClientGlobals } from './globals.ts';

/** How long after a navigation began the page counts as leaving, in ms. */
export const leavingMs = 10_000;

/** What the client knows of the page's navigation. */
export interface Leaving {
  /** When the navigation in progress began (ms since the epoch), or `undefined` when none is. */
  since(): number | undefined;
}

/** Listens, for as long as the document lives, for submissions and link clicks that navigate its window. */
export function watchLeaving(globals: ClientGlobals): Leaving {
  const { document } = globals;
  let last: { readonly event: Event; readonly at: number } | undefined;
  const note = (event: Event) => {
    last = { event, at: Date.now() };
  };
  document.addEventListener('submit', note);
  document.addEventListener('click', note);
  return {
    since() {
      if (last === undefined || Date.now() - last.at > leavingMs) return undefined;
      // Read now, not when it happened: a listener after ours (a script that submits with fetch,
      // a client-side router) may have cancelled the navigation since.
      const { event } = last;
      if (event.defaultPrevented) return undefined;
      const leaves = event.type === 'submit' ? submitLeaves(event) : clickLeaves(event, document);
      return leaves ? last.at : undefined;
    },
  };
}

/** Whether a target names this browsing context (or one holding it: leaving it unloads this page too). */
function targetsThisWindow(target: string | null): boolean {
  return target === null || ['', '_self', '_parent', '_top'].includes(target.toLowerCase());
}

function submitLeaves(event: Event): boolean {
  const form = event.target as Element | null;
  if (form === null || typeof form.getAttribute !== 'function') return false;
  const submitter = (event as SubmitEvent).submitter ?? null;
  const method = submitter?.getAttribute('formmethod') ?? form.getAttribute('method') ?? 'get';
  if (method.toLowerCase() === 'dialog') return false;
  return targetsThisWindow(submitter?.getAttribute('formtarget') ?? form.getAttribute('target'));
}

function clickLeaves(event: Event, document: Document): boolean {
  const click = event as MouseEvent;
  if (click.button !== 0 || click.ctrlKey || click.metaKey || click.shiftKey || click.altKey) return false;
  const target = event.target as Element | null;
  if (target === null || typeof target.closest !== 'function') return false;
  const link = target.closest('a[href], area[href]');
  if (link === null || link.hasAttribute('download') || !targetsThisWindow(link.getAttribute('target'))) return false;
  let url: URL;
  try {
    url = new URL(link.getAttribute('href') ?? '', document.baseURI);
  } catch {
    return false;
  }
  // `mailto:`, `tel:` and `javascript:` links leave the page where it is.
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  // A link to a fragment of this same document scrolls; it does not unload.
  const here = new URL(document.URL);
  return !(url.hash !== '' && url.href.split('#')[0] === here.href.split('#')[0]);
}
