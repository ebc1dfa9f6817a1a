// The browser client's globals for a jsdom page, each real one wrapped only to be counted, so a test
// can tell which retry waits the client asked for and when it has nothing left going on.

import { EventSource } from 'eventsource';
import { WebSocket } from 'ws';
import type { GlobalsOptions } from '../../client/index.ts';
import { pageGlobals, type DomWindow } from './jsdom.ts';

/** The global the JSONP transport hangs its callbacks from. */
const jsonpCallbacks = '__serverpush_jsonp';

/**
 * The client's globals for `window`: Node's fetch, the eventsource package's EventSource, ws's
 * WebSocket and Node's timers, counted; `random()` is 0.5, and `reload()` only counts reloads.
 * `overrides` replace any of them, which are then not counted.
 */
export function countedGlobals(window: DomWindow, overrides: GlobalsOptions = {}) {
  const timers = new Set<NodeJS.Timeout>();
  const waits: number[] = [];
  const sources: EventSource[] = [];
  const sockets: WebSocket[] = [];
  let fetches = 0;
  let reloads = 0;
  class CountedEventSource extends EventSource {
    constructor(url: string | URL, init?: EventSourceInit) {
      super(url, init);
      sources.push(this);
    }
  }
  class CountedWebSocket extends WebSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  const globals = pageGlobals(window, {
    fetch: (input, init) => {
      fetches += 1;
      return fetch(input, init).finally(() => {
        fetches -= 1;
      });
    },
    EventSource: CountedEventSource as unknown as typeof globalThis.EventSource,
    WebSocket: CountedWebSocket as unknown as typeof globalThis.WebSocket,
    random: () => 0.5,
    setTimeout(callback, ms) {
      waits.push(ms);
      const timer = setTimeout(() => {
        timers.delete(timer);
        callback();
      }, ms);
      timers.add(timer);
      return timer;
    },
    clearTimeout(handle) {
      timers.delete(handle as NodeJS.Timeout);
      clearTimeout(handle as NodeJS.Timeout);
    },
    reload: () => {
      reloads += 1;
    },
    ...overrides,
  });
  return {
    globals,
    /** Every wait the client asked `setTimeout()` for, in ms, in order. */
    waits: (): readonly number[] => waits,
    reloads: () => reloads,
    /**
     * What the client still has going on, described: armed timers, fetches in flight, EventSources
     * and WebSockets not closed, JSONP scripts and callbacks. None once it has stopped.
     */
    activity: (): string[] => [
      ...[...timers].map(() => 'a timer'),
      ...Array.from({ length: fetches }, () => 'a fetch'),
      ...sources.filter((source) => source.readyState !== source.CLOSED).map(() => 'an EventSource'),
      ...sockets.filter((socket) => socket.readyState < socket.CLOSING).map(() => 'a WebSocket'),
      ...[...window.document.scripts].map((script) => `a script ${script.src}`),
      ...Object.keys(Object(Reflect.get(window, jsonpCallbacks))).map((key) => `a JSONP callback ${key}`),
    ],
  };
}
