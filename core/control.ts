// The control channel: requests that every push process sharing a change log applies to its own
// pages (`revalidate({ identity })`, `disconnect({ identity })`), carried through the log as entries
// of a reserved model that no page can subscribe to.

import type { ChangeInput, Change } from './types.ts';

/** The model of control entries; reserved, so no spec may name it. */
export const controlModel = 'serverpush:control';

/** What a control entry asks every process to do with the pages of one identity. */
export type ControlAction = 'disconnect' | 'revalidate';

/** A control entry as it is read from the log. */
export interface ControlEntry {
  readonly action: ControlAction;
  readonly identity: unknown;
  /** The push instance that appended it, which applied it already; absent in entries of older versions. */
  readonly origin: string | undefined;
}

/** The change input that carries a control entry through the log. */
export function controlChange(entry: ControlEntry): ChangeInput {
  return {
    model: controlModel,
    op: 'update',
    id: entry.action,
    after: { ...entry, identity: entry.identity ?? null },
    before: null,
  };
}

/** The control entry a change carries, or `undefined` when it is none this version knows. */
export function readControl(change: Change): ControlEntry | undefined {
  const { action, identity, origin } = (change.after ?? {}) as Partial<Record<keyof ControlEntry, unknown>>;
  if (action !== 'disconnect' && action !== 'revalidate') return undefined;
  return { action, identity, origin: typeof origin === 'string' ? origin : undefined };
}
