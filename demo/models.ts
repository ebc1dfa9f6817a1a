// The demo's models: pushable Objection models, so their changes reach the pages that show them.

import { Model } from 'objection';
import { pushable } from '../adapters/objection/index.ts';

/** The seed's hit counter: one row, id 1. */
export class Counter extends pushable(Model) {
  static override tableName = 'counters';
  declare id: number;
  declare hits: number;
}
