// Captures what the code under test prints: tests of warnings and error logs read it back.

import type { ExecutionContext } from 'ava';

/**
 * Replaces `console[method]` for the test, recording each call's arguments; restored at teardown.
 * Tests that capture run serially (`test.serial`) when others in their file print meanwhile.
 */
export function captureConsole(t: ExecutionContext, method: 'warn' | 'error'): unknown[][] {
  const calls: unknown[][] = [];
  const original = console[method];
  console[method] = (...args: unknown[]) => void calls.push(args);
  t.teardown(() => void (console[method] = original));
  return calls;
}
