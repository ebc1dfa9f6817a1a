// A serializer's outcome, whichever way it answers: its value at once, a promise of it, or
// `skipped` when it threw or rejected (logged, so that one viewer's failure costs nobody else).

import createDebug from 'debug';
import type { Observation, SerializerKind } from './observe.ts';

const debug = createDebug('serverpush:serialize');

/** Returned by `serialize()` when the serializer threw: the viewer gets no message for the change. */
export const skipped: unique symbol = Symbol('serverpush.skipped');

/**
 * What `produce()` returns, or promises; `skipped` when it throws or rejects (logged). The call and
 * its failure are told to `observation`'s observers as a serializer of `kind`.
 */
export function guarded(
  produce: () => unknown,
  name: string,
  observation?: Observation,
  kind: SerializerKind = 'function',
): unknown {
  const failed = (error: unknown) => {
    debug('serializer of %s threw, skipping this viewer: %O', name, error);
    observation?.sink?.serializerFailed?.(kind, name, error);
    return skipped;
  };
  observation?.sink?.serializerCalled?.(kind);
  try {
    const result = produce();
    return isThenable(result) ? Promise.resolve(result).catch(failed) : result;
  } catch (error) {
    return failed(error);
  }
}

/** Whether `value` is a promise (or any thenable): serializers and hooks may answer either way. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** `then(value)` at once for a value, after it settles for a promise. */
export function settled(value: unknown, then: (value: unknown) => unknown): unknown {
  return isThenable(value) ? Promise.resolve(value).then(then) : then(value);
}
