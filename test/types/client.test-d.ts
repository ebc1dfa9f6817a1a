// Type tests of the browser client, checked by `npm run typecheck` (never run): each claim has a
// case that compiles and one that must not (`@ts-expect-error`).

import { expectTypeOf } from 'expect-type';
import {
  connect,
  type ChangeMessage,
  type ConnectionDetail,
  type PushClient,
  type PushClientError,
  type PushEvent,
  type RefreshDetail,
} from '../../client/index.ts';

// The app declares its events' payloads once, by declaration merging (`declare module 'serverpush/client'`).
declare module '../../client/index.ts' {
  interface ServerpushEvents {
    'typed-hits': { readonly hits: number };
  }
}

// document.addEventListener('serverpush:*', …) is typed through DocumentEventMap.
document.addEventListener('serverpush:message', (event) => {
  expectTypeOf(event.detail).toEqualTypeOf<unknown>();
  expectTypeOf(event.message).toEqualTypeOf<ChangeMessage | undefined>();
});
document.addEventListener('serverpush:typed-hits', (event) => {
  expectTypeOf(event).toEqualTypeOf<PushEvent<{ readonly hits: number }>>();
  expectTypeOf(event.detail.hits).toEqualTypeOf<number>();
  expectTypeOf(event.message.effect).toEqualTypeOf<'enter' | 'update' | 'leave'>();
  // @ts-expect-error the declared payload has no `count`
  void event.detail.count;
});
document.addEventListener('serverpush:connection', (event) => {
  expectTypeOf(event.detail).toEqualTypeOf<ConnectionDetail>();
  expectTypeOf(event.detail.state).toEqualTypeOf<'connecting' | 'connected' | 'reconnecting' | 'closed'>();
});
document.addEventListener('serverpush:refresh', (event) => {
  expectTypeOf(event.detail).toEqualTypeOf<RefreshDetail>();
  event.preventDefault();
  // @ts-expect-error the client's own events carry no change message
  void event.message.id;
});
document.addEventListener('serverpush:error', (event) => {
  expectTypeOf(event.detail).toEqualTypeOf<PushClientError>();
});
// Other events keep their DOM types.
document.addEventListener('click', (event) => expectTypeOf(event).toExtend<MouseEvent>());
// @ts-expect-error an undeclared non-serverpush event is a plain Event, without detail
document.addEventListener('custom-thing', (event) => event.detail);

// window.serverpush: the client the classic script connected, if it ran.
expectTypeOf(window.serverpush).toEqualTypeOf<PushClient | undefined>();
window.serverpush?.on('typed-hits', (data) => expectTypeOf(data.hits).toEqualTypeOf<number>());
window.serverpush?.on('anything', (data, message) => {
  expectTypeOf(data).toEqualTypeOf<unknown>();
  expectTypeOf(message).toEqualTypeOf<ChangeMessage>();
});
// @ts-expect-error the declared payload is an object
window.serverpush?.on('typed-hits', (data: string) => data);

// connect<Events>(): client.on(name, fn) typed by an event map of the page's own.
const client = connect<{ hits: { readonly hits: number }; item: string }>({ token: 'token' });
client.on('hits', (data) => expectTypeOf(data).toEqualTypeOf<{ readonly hits: number }>());
client.on('item', (html, message) => {
  expectTypeOf(html).toEqualTypeOf<string>();
  expectTypeOf(message.id).toEqualTypeOf<ChangeMessage['id']>();
});
client.on('connection', (detail) => expectTypeOf(detail).toEqualTypeOf<ConnectionDetail>());
// @ts-expect-error a name the map does not have
client.on('hist', () => {});
// @ts-expect-error a payload of another type
client.on('item', (data: number) => data);
