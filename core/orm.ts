// The ORM adapter contract: how committed row changes reach serverpush.

import type { ChangeLog } from './change-log.ts';
import type { ChangeInput, Row } from './types.ts';

/** Where an ORM adapter sends committed changes. */
export type ChangeSink = (changes: readonly ChangeInput[]) => Promise<void>;

/** Connects an ORM to serverpush. */
export interface OrmAdapter {
  /** The model name of a spec's `model` (a model class or a name). Throws a `TypeError` for anything else. */
  modelName(model: unknown): string;
  /**
   * Starts sending committed changes to `sink`; returns a function that stops it. `log` is the push
   * instance's change log: an adapter that recognises a log kept in the app's own database (a
   * transactional outbox) may append to it inside the write's transaction instead of using `sink`.
   */
  attach(sink: ChangeSink, log?: ChangeLog): () => void;
  /**
   * How the app's functions (predicates, function serializers, fragments, route re-renders) receive
   * the rows of `model`: a function from the row as the change log holds it to the form the app
   * reads (`objection()`: a model instance), or `undefined` for the row as logged. Optional.
   */
  rowView?(model: unknown): ((row: Row) => Row) | undefined;
}
