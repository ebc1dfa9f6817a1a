// The element a live list shows for one row: parsed from the fragment the server rendered (a list
// with `data-serverpush-html`), cloned from the list's `<template>` with the payload's fields as
// text, or, without either, a plain item whose text is the payload.

import type { ChangeMessage } from '../core/types.ts';
import type { ClientGlobals } from './globals.ts';
import { describe, itemKey, kindOf, liveAttributes, pick, textOf } from './live-markup.ts';

/**
 * Morphs `from` into `to` (idiomorph in the built client): `outerHTML` morphs the element itself,
 * `innerHTML` its children, keeping focus, the value being typed and the nodes that did not change.
 */
export type MorphFunction = (from: Element, to: Element | string, style: 'outerHTML' | 'innerHTML') => void;

const { html: htmlAttr, field: fieldAttr, id: idAttr } = liveAttributes;

/** Whether a list asks for the server's HTML: `data-serverpush-html` present, and not `"false"`. */
export function wantsHtml(list: Element): boolean {
  const value = list.getAttribute(htmlAttr);
  return value !== null && value !== 'false';
}

/** Builds the item of `message` for `list`, keyed by the row's id. */
export function buildItem(globals: ClientGlobals, list: Element, message: ChangeMessage): Element {
  const item = wantsHtml(list) ? parseItem(globals, list, message) : fillItem(globals, list, message);
  item.setAttribute(idAttr, itemKey(message.id));
  return item;
}

function parseItem(globals: ClientGlobals, list: Element, message: ChangeMessage): Element {
  const { data } = message;
  if (typeof data !== 'string') {
    throw new TypeError(
      `serverpush: ${describe(list)} needs an HTML string per item; ${message.name} ${itemKey(message.id)} carried ${kindOf(data)}`,
    );
  }
  // A template's content is inert: nothing in the fragment loads or runs until it is placed.
  const template = globals.document.createElement('template');
  template.innerHTML = data.trim();
  const roots = template.content.children;
  const root = roots[0];
  if (roots.length !== 1 || root === undefined) {
    throw new TypeError(
      `serverpush: ${describe(list)} needs one element per item; the fragment of ${message.name} ${itemKey(message.id)} has ${roots.length}`,
    );
  }
  return globals.document.importNode(root, true);
}

function fillItem(globals: ClientGlobals, list: Element, message: ChangeMessage): Element {
  const template = [...list.children].find((child) => child.localName === 'template') as
    | HTMLTemplateElement
    | undefined;
  const model = template?.content.firstElementChild;
  if (template !== undefined && (model === null || model === undefined)) {
    throw new TypeError(`serverpush: the <template> of ${describe(list)} has no element to copy`);
  }
  if (model === null || model === undefined) {
    const tag = list.localName === 'ul' || list.localName === 'ol' ? 'li' : 'div';
    const item = globals.document.createElement(tag);
    item.textContent = textOf(pick(message.data, list), list, message);
    return item;
  }
  const item = globals.document.importNode(model, true);
  const slots = [...(item.hasAttribute(fieldAttr) ? [item] : []), ...item.querySelectorAll(`[${fieldAttr}]`)];
  for (const slot of slots) slot.textContent = textOf(pick(message.data, slot), slot, message);
  return item;
}
