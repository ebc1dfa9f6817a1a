// Reading the live markup: the attributes the client knows, the part of a payload an element
// shows, and that part as text.

import type { ChangeMessage, Id } from '../core/types.ts';

/** The attributes the client reads, by role. */
export const liveAttributes = {
  list: 'data-serverpush-list',
  text: 'data-serverpush-text',
  html: 'data-serverpush-html',
  id: 'data-serverpush-id',
  field: 'data-serverpush-field',
  insert: 'data-serverpush-insert',
  morph: 'data-serverpush-morph',
} as const;

const fieldAttr = liveAttributes.field;

/** A row id as the page writes it in `data-serverpush-id`: `7`, or the parts of a composite key joined by commas, `7,2`. */
export function itemKey(id: Id): string {
  return Array.isArray(id) ? id.join(',') : String(id);
}

/** The part of a payload an element shows: `data-serverpush-field` names a dotted path, or none the whole. */
export function pick(data: unknown, element: Element): unknown {
  const path = element.getAttribute(fieldAttr) ?? '';
  if (path === '') return data;
  let value = data;
  for (const part of path.split('.')) {
    // Own properties only: a field named `constructor` or `__proto__` reads nothing of the prototype.
    // biome-ignore lint/suspicious/noPrototypeBuiltins: Object.hasOwn is newer than the client's ES2018 target.
    if (typeof value !== 'object' || value === null || !Object.prototype.hasOwnProperty.call(value, part)) {
      return undefined;
    }
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** A value as text: scalars as they print, nothing as empty; an object is the markup's mistake. */
export function textOf(value: unknown, element: Element, message: ChangeMessage): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object' || typeof value === 'function' || typeof value === 'symbol') {
    throw new TypeError(
      `serverpush: ${describe(element)} shows text, and ${message.name} ${itemKey(message.id)} carried ${kindOf(value)} there; name a field with ${fieldAttr}`,
    );
  }
  return String(value);
}

/** The element's tag with its serverpush attributes, for error messages. */
export function describe(element: Element): string {
  const attributes = [...element.attributes]
    .filter((attribute) => attribute.name.startsWith('data-serverpush-'))
    .map((attribute) => (attribute.value === '' ? attribute.name : `${attribute.name}="${attribute.value}"`));
  return `<${element.localName}${attributes.map((attribute) => ` ${attribute}`).join('')}>`;
}

export function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  return value === null ? 'null' : `${/^[aeiou]/.test(typeof value) ? 'an' : 'a'} ${typeof value}`;
}
