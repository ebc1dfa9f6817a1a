// Fragments: serializers that render a row as HTML for one viewer, or `null` for "not for this
// viewer". What a page hears then follows from what it was shown: the params say which rows a spec
// concerns, the fragment which of them this viewer sees.

import { guarded, isThenable, settled, skipped } from './guarded.ts';
import type { Observation } from './observe.ts';
import type { Change, Effect, Fragment, FragmentRender, Row } from './types.ts';

/** What a fragment's serialization hands the mailbox: the effect its page hears, and the HTML (`null` for a leave). */
export interface Rendered {
  readonly effect: Effect;
  readonly data: string | null;
}

const namePattern = /^[A-Za-z_][\w.:-]{0,63}$/;

/** Checks the arguments of `push.fragment()` and makes the fragment. */
export function createFragment<Viewer, R>(name: unknown, model: unknown, render: unknown): Fragment<Viewer, R> {
  if (typeof name !== 'string' || !namePattern.test(name))
    throw new TypeError(`fragment(): the name must match ${String(namePattern)}, got ${JSON.stringify(name)}`);
  if (typeof render !== 'function') throw new TypeError(`fragment("${name}"): the render function must be a function`);
  return Object.freeze({ kind: 'fragment', name, model, render: render as FragmentRender<Viewer, R> });
}

/** Whether `value` is a fragment made by `push.fragment()`. */
export function isFragment(value: unknown): value is Fragment<never, never> {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'fragment';
}

/** What a fragment spec's `serialize()` needs: how to render a row for its viewer, and its filter. */
export interface FragmentSpec {
  readonly name: string;
  /** Renders a logged row for the spec's viewer: HTML, `null`, or a promise of either. */
  render(row: Row): unknown;
  /** Whether a row passes the spec's params. */
  matches(row: Row): boolean;
  /** The key under which viewers share renders; `undefined`: one per viewer. */
  readonly shareKey: string | undefined;
  /** Told of each render and each failure. */
  readonly observation?: Observation | undefined;
}

/**
 * Serializes a change with a fragment. The viewer sees a row when it passes the spec's params and
 * renders to HTML (not `null`). Seen after the change: `update` when it was seen before too, else
 * `enter`, with the HTML. Not seen after but seen before: `leave`, HTML `null`. Seen neither
 * before nor after: nothing (`skipped`). An update whose row before is unknown counts as seen
 * before it, so that a row the viewer may no longer see is removed. A render that throws is
 * `skipped` too (logged).
 */
export function serializeFragment(spec: FragmentSpec, change: Change, shared: Map<string, unknown>): unknown {
  const { after } = change;
  const before = change.before ?? null;
  // Published by hand without its row before: whether the viewer saw it is unknown.
  const unknownBefore = change.op === 'update' && before === null;

  const seen = (which: 'after' | 'before', row: Row | null): unknown => {
    if (row === null || !spec.matches(row)) return false;
    const produce = () => checkHtml(spec.render(row), spec.name);
    if (spec.shareKey === undefined) return guarded(produce, spec.name, spec.observation, 'fragment');
    const key = `${spec.shareKey}\u0000${which}`;
    if (shared.has(key)) return shared.get(key);
    const result = guarded(produce, spec.name, spec.observation, 'fragment');
    shared.set(key, result);
    return result;
  };

  const nowHtml = seen('after', after);
  const thenHtml = seen('before', before);
  const decide = ([now, then]: readonly unknown[]): unknown => {
    if (now === skipped || then === skipped) return skipped;
    const wasSeen = typeof then === 'string' || unknownBefore;
    if (typeof now === 'string')
      return { effect: typeof then === 'string' ? 'update' : 'enter', data: now } satisfies Rendered;
    return wasSeen ? leave : skipped;
  };
  if (isThenable(nowHtml) || isThenable(thenHtml)) return Promise.all([nowHtml, thenHtml]).then(decide);
  return decide([nowHtml, thenHtml]);
}

const leave: Rendered = Object.freeze({ effect: 'leave', data: null });

/** The render's answer, checked: HTML or `null`; anything else is the app's bug, thrown (and logged). */
function checkHtml(value: unknown, name: string): unknown {
  return settled(value, (html) => {
    if (typeof html === 'string' || html === null) return html;
    throw new TypeError(`fragment "${name}" returned ${typeof html}: it must return an HTML string or null`);
  });
}
