// Waiting on a condition instead of sleeping a fixed time: a test goes on as soon as what it waits
// for has happened, and fails naming it when it does not happen in time.

/** How often `until()` checks its predicate, in ms. */
const intervalMs = 10;

/**
 * Resolves once `predicate()` holds, checking at once and then every 10 ms; rejects with the
 * predicate's source when it still does not hold after `timeoutMs`.
 *
 * @example
 * await until(() => push.stats().waiting === 1);
 */
export async function until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const checks = Math.ceil(timeoutMs / intervalMs) + 1;
  for (let check = 0; check < checks && Date.now() < deadline; check += 1) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  if (!predicate()) throw new Error(`not within ${timeoutMs} ms: ${predicate.toString()}`);
}
