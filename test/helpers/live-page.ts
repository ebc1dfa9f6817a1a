// A jsdom page with live markup, connected over long-poll to the push server double: for the tests
// of the declarative DOM updates, the status attribute and the client's reloads.

import type { ExecutionContext } from 'ava';
import { connect, type GlobalsOptions, type PushClient, type PushClientOptions } from '../../client/index.ts';
import type { ChangeMessage, Effect, Id, Message } from '../../core/types.ts';
import { createPage, pageGlobals, type DomWindow } from './jsdom.ts';
import { createPushServerDouble, type PushServerDouble } from './push-server-double.ts';

/** Options of `livePage()`. */
export interface LivePageOptions extends Omit<Partial<PushClientOptions>, 'globals'> {
  /** Markup for `<body>`. */
  readonly body?: string;
  /** The page's path. Default: `/page`. */
  readonly path?: string;
  readonly jquery?: boolean;
  /** Globals to use instead of the jsdom window's (`reload` and `reportError` are counted otherwise). */
  readonly globals?: GlobalsOptions;
  /** A server double to use, for a second page on the same origin. */
  readonly server?: PushServerDouble;
  /** A jsdom window to use: a second load of the same page keeps its sessionStorage. */
  readonly window?: DomWindow;
}

/** A live page and what the client did with it. */
export interface LivePage {
  readonly server: PushServerDouble;
  readonly window: DomWindow;
  readonly document: Document;
  readonly client: PushClient;
  /** How many times the client reloaded the page. */
  readonly reloads: () => number;
  /** The exceptions the client reported (`globals.reportError`). */
  readonly reported: unknown[];
  /** Answers the page's poll with `messages`, and resolves once the client has handled them. */
  send(...messages: Message[]): Promise<void>;
  /** `<html data-serverpush-state>`. */
  state(): string | null;
}

/** Opens a live page; it is closed at teardown. Resolves once its first poll has arrived. */
export async function livePage(t: ExecutionContext, options: LivePageOptions = {}): Promise<LivePage> {
  const { body = '', path = '/page', jquery = false, globals = {}, ...clientOptions } = options;
  const server = options.server ?? (await createPushServerDouble(t));
  const window = options.window ?? createPage(t, { url: `${server.origin}${path}`, body, jquery });
  let reloads = 0;
  const reported: unknown[] = [];
  const polled = server.polls.length;
  const client = connect({
    token: 'TOKEN',
    base: server.base,
    transports: ['long-poll'],
    share: false,
    ...clientOptions,
    globals: pageGlobals(window, {
      reload: () => {
        reloads += 1;
      },
      reportError: (error) => reported.push(error),
      ...globals,
    }),
  });
  t.teardown(() => client.close());
  let answered = polled;
  await server.poll(answered);
  return {
    server,
    window,
    document: window.document,
    client,
    reloads: () => reloads,
    reported,
    async send(...messages) {
      server.send(...messages);
      answered += 1;
      // The client polls again once it has handled the answer, unless the answer stopped it.
      await Promise.race([server.poll(answered), stopped(client)]);
    },
    state: () => window.document.documentElement.getAttribute('data-serverpush-state'),
  };
}

function stopped(client: PushClient): Promise<void> {
  return new Promise((resolve) => {
    if (client.state === 'closed') return resolve();
    client.on('connection', ({ state }) => {
      if (state === 'closed') resolve();
    });
  });
}

let cursors = 0;

/** A change message of spec `name` about row `id`, with a fresh cursor. */
export function rowChange(name: string, effect: Effect, id: Id, data: unknown): ChangeMessage {
  cursors += 1;
  const op = effect === 'enter' ? 'insert' : effect === 'leave' ? 'delete' : 'update';
  return { cursor: `c.${cursors}`, name, op, effect, model: 'rows', id, data };
}
