// Morphing with idiomorph (bundled into the built client): an updated item or fragment is merged
// into the element on the page instead of replacing it, so focus, a value being typed, scroll
// positions and elements with unchanged ids survive the update.

import { Idiomorph } from 'idiomorph';
import type { MorphFunction } from './live-item.ts';

/**
 * Morphs with idiomorph, leaving the value of the focused field alone. Idiomorph reads the DOM
 * globals of the realm it runs in (`document`, `Node`, `DOMParser`): the page's, in a browser.
 */
export const morph: MorphFunction = (from, to, style) => {
  Idiomorph.morph(from, to, { morphStyle: style, ignoreActiveValue: true });
};
