// Presence in the browser: the member list of each channel a page is present in, kept from the
// server's presence messages, dispatched as `serverpush:presence` events, and shown by the elements
// that ask for it (`data-serverpush-presence`, `data-serverpush-presence-count`). The server sends
// the list again (`here`) after a reconnect; the page turns it into the joins and leaves it implies,
// so listeners hear each member join once, as in Laravel Echo's `here` / `joining` / `leaving`.

import type { PresenceMember, PresenceMessage } from '../core/types.ts';
import type { ClientGlobals } from './globals.ts';
import { describe, kindOf, pick } from './live-markup.ts';

export type { PresenceMember, PresenceMessage } from '../core/types.ts';

/**
 * The detail of a `serverpush:presence` event. `type` says what happened: `here` (the members when
 * the page connected), `join` or `leave` of `member`, or `count` (a member beyond the listed
 * `maxMembers` joined or left). `members` is the list after it, `count` the channel's member count,
 * `self` this page's own member id.
 */
export interface PresenceDetail<Data = unknown> {
  readonly channel: string;
  readonly type: 'here' | 'join' | 'leave' | 'count';
  /** `join` and `leave`: who. */
  readonly member?: PresenceMember<Data>;
  /** The members listed, in the order they joined (this page's viewer among them). */
  readonly members: readonly PresenceMember<Data>[];
  /** How many members the channel has, the listed and any beyond `maxMembers`. */
  readonly count: number;
  /** This page's own member id: `members.filter((m) => m.id !== self)` are the others. */
  readonly self: string | undefined;
}

/**
 * The `serverpush:presence` event. Cancelable: `preventDefault()` keeps the client from updating
 * the page's presence elements.
 */
export interface PresenceEvent<Data = unknown> extends CustomEvent<PresenceDetail<Data>> {
  readonly message: PresenceMessage<Data>;
}

interface Channel {
  readonly members: Map<string, unknown>;
  count: number;
  self: string | undefined;
}

/** The member lists of one page: `apply()` takes a presence message and says what happened. */
export interface PresenceState {
  /** The details to dispatch for `message`, none when it changes nothing (a `here` resent after a reconnect). */
  apply(message: PresenceMessage): PresenceDetail[];
}

/** Creates the member lists of a page. */
export function createPresenceState(): PresenceState {
  const channels = new Map<string, Channel>();

  function detail(name: string, state: Channel, type: PresenceDetail['type'], member?: PresenceMember): PresenceDetail {
    const members = [...state.members].map(([id, data]) => ({ id, data }));
    const base = { channel: name, type, members, count: state.count, self: state.self };
    return member === undefined ? base : { ...base, member };
  }

  return {
    apply(message) {
      const { channel: name, type } = message;
      const count = typeof message.count === 'number' ? message.count : 0;
      let state = channels.get(name);
      if (type === 'here') {
        const listed = Array.isArray(message.members) ? message.members : [];
        if (state === undefined) {
          if (listed.length === 0 && count === 0) return [];
          state = { members: new Map(listed.map((member) => [member.id, member.data])), count, self: message.self };
          channels.set(name, state);
          return [detail(name, state, 'here')];
        }
        // The list again, after a reconnect: what changed meanwhile, as joins and leaves.
        const details: PresenceDetail[] = [];
        const now = new Map(listed.map((member) => [member.id, member.data]));
        const counted = state.count !== count;
        state.count = count;
        state.self = message.self ?? state.self;
        for (const [id, data] of [...state.members]) {
          if (now.has(id)) continue;
          state.members.delete(id);
          details.push(detail(name, state, 'leave', { id, data }));
        }
        for (const [id, data] of now) {
          const known = state.members.has(id);
          state.members.set(id, data);
          if (!known) details.push(detail(name, state, 'join', { id, data }));
        }
        // No longer present there (the viewer moved, or may no longer see it): forgotten.
        if (listed.length === 0 && count === 0) channels.delete(name);
        else if (details.length === 0 && counted) details.push(detail(name, state, 'count'));
        return details;
      }
      if (state === undefined) return [];
      const changed = state.count !== count;
      state.count = count;
      const member = message.member;
      if (type === 'join' && member !== undefined && !state.members.has(member.id)) {
        state.members.set(member.id, member.data);
        return [detail(name, state, 'join', member)];
      }
      if (type === 'leave' && member !== undefined && state.members.has(member.id)) {
        state.members.delete(member.id);
        return [detail(name, state, 'leave', member)];
      }
      return changed ? [detail(name, state, 'count')] : [];
    },
  };
}

/** Whether a message is a presence message. */
export function isPresence(message: { readonly name: string }): message is PresenceMessage {
  return message.name === 'presence';
}

/** The attributes of presence elements. */
export const presenceAttributes = {
  /** A list of the members: its value, when not empty, names the channel. */
  list: 'data-serverpush-presence',
  /** Shows the member count. */
  count: 'data-serverpush-presence-count',
  /** Shows the count of the others (the count less this page's viewer). */
  others: 'data-serverpush-presence-others',
  /** Set on the item of this page's own viewer, e.g. to hide it: `[data-serverpush-self] { display: none }`. */
  self: 'data-serverpush-self',
} as const;

/**
 * Dispatches the cancelable `serverpush:presence` on `document` and, unless a listener called
 * `preventDefault()`, updates the presence elements. A mistake in the markup is reported through
 * `globals.reportError`, and the other elements are still updated.
 */
export function dispatchPresence(
  globals: ClientGlobals,
  message: PresenceMessage,
  detail: PresenceDetail,
): PresenceEvent {
  const event = new globals.window.CustomEvent('serverpush:presence', { detail, cancelable: true });
  Object.defineProperty(event, 'message', { value: message, enumerable: true });
  globals.document.dispatchEvent(event);
  return event as PresenceEvent;
}

/** Shows `detail` in the presence elements of the document. */
export function showPresence(globals: ClientGlobals, detail: PresenceDetail): void {
  const { list, count, others } = presenceAttributes;
  for (const element of globals.document.querySelectorAll(`[${list}],[${count}],[${others}]`)) {
    try {
      const channel = element.getAttribute(list) ?? element.getAttribute(count) ?? element.getAttribute(others) ?? '';
      if (channel !== '' && channel !== detail.channel) continue;
      if (element.hasAttribute(list)) fillList(globals, element, detail);
      else if (element.hasAttribute(count)) element.textContent = String(detail.count);
      else element.textContent = String(Math.max(0, detail.count - (detail.self === undefined ? 0 : 1)));
    } catch (error) {
      globals.reportError(error);
    }
  }
}

/** Replaces the items of a presence list with one per member, from its `<template>` or as plain text. */
function fillList(globals: ClientGlobals, list: Element, detail: PresenceDetail): void {
  const template = [...list.children].find((child) => child.localName === 'template') as
    | HTMLTemplateElement
    | undefined;
  const model = template?.content.firstElementChild ?? undefined;
  if (template !== undefined && model === undefined)
    throw new TypeError(`serverpush: the <template> of ${describe(list)} has no element to copy`);
  for (const child of [...list.children]) if (child !== template) child.remove();
  for (const member of detail.members) {
    let item: Element;
    if (model === undefined) {
      item = globals.document.createElement(list.localName === 'ul' || list.localName === 'ol' ? 'li' : 'span');
      item.textContent = text(pick(member.data, list), list);
    } else {
      item = globals.document.importNode(model, true);
      const slots = [
        ...(item.hasAttribute('data-serverpush-field') ? [item] : []),
        ...item.querySelectorAll('[data-serverpush-field]'),
      ];
      for (const slot of slots) slot.textContent = text(pick(member.data, slot), slot);
    }
    item.setAttribute('data-serverpush-id', member.id);
    if (member.id === detail.self) item.setAttribute(presenceAttributes.self, '');
    list.append(item);
  }
}

/** A member's field as text: scalars as they print, nothing as empty; an object is the markup's mistake. */
function text(value: unknown, element: Element): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object' || typeof value === 'function' || typeof value === 'symbol') {
    throw new TypeError(
      `serverpush: ${describe(element)} shows text, and a presence member's data carried ${kindOf(value)} there; name a field with data-serverpush-field`,
    );
  }
  return String(value);
}
