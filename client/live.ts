// Declarative DOM updates: elements that name a spec take its changes without page script. A live
// list (`data-serverpush-list`) adds, replaces and removes its children by row id; a live value
// (`data-serverpush-text`, `data-serverpush-html`) shows the latest payload. The page's own events
// run first and may cancel this (page.ts).
//
// Row values are only ever placed as text. HTML is parsed only where the element asks for it and
// only from a payload that is a string as a whole: what a fragment serializer or a re-rendered
// route sends, never a field picked out of row data.

import type { ChangeMessage } from '../core/types.ts';
import type { ClientGlobals } from './globals.ts';
import { buildItem, type MorphFunction } from './live-item.ts';
import { describe, itemKey, kindOf, liveAttributes, pick, textOf } from './live-markup.ts';

export type { MorphFunction } from './live-item.ts';
export { liveAttributes } from './live-markup.ts';

const { list: listAttr, text: textAttr, html: htmlAttr, id: idAttr, field: fieldAttr } = liveAttributes;
const bound = `[${listAttr}],[${textAttr}],[${htmlAttr}]`;

/**
 * Applies a change to every element of the document bound to its spec. A mistake in the markup (an
 * object where text is wanted, HTML asked of row data…) is reported as a `TypeError` through
 * `globals.reportError`, and the other elements are still updated.
 */
export function applyChange(globals: ClientGlobals, message: ChangeMessage, morph: MorphFunction): void {
  const { name } = message;
  for (const element of globals.document.querySelectorAll(bound)) {
    try {
      if (element.hasAttribute(listAttr)) {
        if (element.getAttribute(listAttr) === name) applyToList(globals, element, message, morph);
      } else if (element.getAttribute(textAttr) === name) {
        if (concerns(element, message)) element.textContent = textOf(pick(message.data, element), element, message);
      } else if (element.getAttribute(htmlAttr) === name) {
        if (concerns(element, message)) placeHtml(element, message, morph);
      }
    } catch (error) {
      globals.reportError(error);
    }
  }
}

/** Whether a value element shows this row: any row, or the one its `data-serverpush-id` names. */
function concerns(element: Element, message: ChangeMessage): boolean {
  const id = element.getAttribute(idAttr);
  return id === null || id === itemKey(message.id);
}

function applyToList(globals: ClientGlobals, list: Element, message: ChangeMessage, morph: MorphFunction): void {
  const key = itemKey(message.id);
  let held: Element | undefined;
  for (const child of list.children) {
    if (child.getAttribute(idAttr) === key) {
      held = child;
      break;
    }
  }
  // No content for this viewer (a fragment that rendered nothing) is as good as gone.
  if (message.effect === 'leave' || message.data === null || message.data === undefined) {
    held?.remove();
    return;
  }
  const item = buildItem(globals, list, message);
  if (held !== undefined) {
    if (list.hasAttribute(liveAttributes.morph)) morph(held, item, 'outerHTML');
    else held.replaceWith(item);
    return;
  }
  const insert = list.getAttribute(liveAttributes.insert) ?? 'append';
  if (insert === 'prepend') list.prepend(item);
  else if (insert === 'append') list.append(item);
  else {
    list.append(item);
    throw new TypeError(
      `serverpush: ${describe(list)} has ${liveAttributes.insert}="${insert}"; use "append" (the default) or "prepend"`,
    );
  }
}

function placeHtml(element: Element, message: ChangeMessage, morph: MorphFunction): void {
  if (element.hasAttribute(fieldAttr)) {
    throw new TypeError(
      `serverpush: ${describe(element)} has ${fieldAttr}: HTML is placed only from a whole string the server rendered, never from a field of row data; use ${textAttr} to show a field`,
    );
  }
  const { data } = message;
  if (data === null || data === undefined) {
    element.textContent = '';
    return;
  }
  if (typeof data !== 'string') {
    throw new TypeError(
      `serverpush: ${describe(element)} needs an HTML string; ${message.name} ${itemKey(message.id)} carried ${kindOf(data)}`,
    );
  }
  if (element.hasAttribute(liveAttributes.morph)) morph(element, data, 'innerHTML');
  else element.innerHTML = data;
}
