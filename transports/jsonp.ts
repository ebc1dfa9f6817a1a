// JSONP: long-poll framed as a script, `/**/callback({...});`, for pages that can add a
// `<script>` but cannot make a cross-origin request their server would answer (no CORS).
//
// A browser does not run a script answered with an error status, so the page could never learn
// why a poll failed. Token and cursor errors are therefore answered `200` with the error and the
// status long-poll would have used, `/**/callback({"error":{"code","message"},"status":401});`,
// and the client stops on a 4xx status as it does for long-poll. Only a request without a usable
// callback is answered with an error status (`400`, JSON): there is nothing to call.
//
// The response is hardened the way JSONP endpoints are since Rosetta Flash (CVE-2014-4671): the
// callback is a short identifier path, so no attacker-chosen bytes lead the body; the `/**/`
// prefix; `nosniff`; `Content-Disposition: attachment`; and U+2028/U+2029 escaped, because
// engines before ES2019 end a string literal at them (https://github.com/tc39/proposal-json-superset).
// The page token says who the viewer is; with `bindCookie`, a bound token is also checked against
// the session cookie the script request carries, as on every transport (the endpoints read the
// Cookie header, not the transport). Script requests carry no Origin, so any site can include the
// script, cookie and all; it learns nothing without the page's token, which the same-origin policy
// keeps from it.

import createDebug from 'debug';
import { positiveInteger } from '../core/options.ts';
import type { PushResponse, Transport } from '../core/transport.ts';
import { answerPoll, type PollFraming } from './long-poll.ts';
import { refusal } from './respond.ts';
import { Query } from './wire.ts';

const debug = createDebug('serverpush:jsonp');

/** Options of `jsonp()`. */
export interface JsonpOptions {
  /**
   * How long a poll is held when nothing is waiting, in ms; at most `30_000`, because the browser
   * half gives up on a poll after 45 s and tries again. Default: `25_000`.
   */
  readonly timeoutMs?: number;
}

/** The longest hold `jsonp()` accepts; the browser half waits this plus 15 s for an answer. */
const maxTimeoutMs = 30_000;

/** The longest callback accepted, in characters. */
const callbackMaxLength = 32;

/** Identifiers joined by dots; ASCII only, so the body's first bytes are from a small alphabet. */
const callbackPattern = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$/;

/** ECMAScript's reserved words and strict mode's: not identifiers, so not the first part of a path. */
const reservedWords = new Set(
  (
    'await break case catch class const continue debugger default delete do else enum export extends false finally for function if ' +
    'implements import in instanceof interface let new null package private protected public return static super switch this throw ' +
    'true try typeof var void while with yield'
  ).split(' '),
);

const scriptHeaders = {
  'Content-Type': 'application/javascript; charset=utf-8',
  'X-Content-Type-Options': 'nosniff',
  'Content-Disposition': 'attachment; filename=f.txt',
  'Cache-Control': 'no-store',
} as const;

/**
 * The JSONP transport: `GET {prefix}/jsonp?token=…&cursor=…&callback=…`, answered with a script
 * that calls `callback` with `{"messages":[…]}` (an empty array when the hold ran out).
 *
 * @example
 * const push = createPush({ secret, router, transports: [longPoll(), jsonp({ timeoutMs: 20_000 })] });
 */
export function jsonp(options: JsonpOptions = {}): Transport {
  const timeoutMs = positiveInteger(options.timeoutMs ?? 25_000, 'timeoutMs');
  if (timeoutMs > maxTimeoutMs) {
    throw new TypeError(`The \`timeoutMs\` option of jsonp() must be at most ${maxTimeoutMs}, got ${timeoutMs}`);
  }
  return {
    name: 'jsonp',
    async handle(request, push) {
      const callback = new Query(request.query).get('callback') ?? null;
      const reason = callbackRefusal(callback);
      if (reason !== undefined || callback === null) {
        debug('refused callback %j: %s', callback?.slice(0, 100), reason);
        return refusal(400, 'SERVERPUSH_ERR_BAD_REQUEST', reason ?? 'jsonp requires a callback parameter');
      }
      return answerPoll('jsonp', request, push, timeoutMs, scriptFraming(callback));
    },
  };
}

/** Why `callback` cannot be called, or `undefined` when it can. */
function callbackRefusal(callback: string | null): string | undefined {
  if (callback === null || callback === '') return 'jsonp requires a callback parameter';
  const [first = ''] = callback.split('.', 1);
  if (callback.length > callbackMaxLength || !callbackPattern.test(callback) || reservedWords.has(first)) {
    return `callback must be JavaScript identifiers joined by dots (like "cb" or "a.b"), at most ${callbackMaxLength} characters`;
  }
  return undefined;
}

function scriptFraming(callback: string): PollFraming {
  return {
    // The hold ran out: an empty batch, where long-poll answers 204.
    frame: (frame) => script(callback, frame ?? '{"messages":[]}'),
    error: ({ status, error }) => script(callback, JSON.stringify({ error, status })),
  };
}

function script(callback: string, json: string): PushResponse {
  const text = json.replace(/[\u2028\u2029]/g, (separator) => `\\u${separator.charCodeAt(0).toString(16)}`);
  return { status: 200, headers: scriptHeaders, body: `/**/${callback}(${text});` };
}
