// Capped exponential backoff with full jitter, for every transport's retries.
// https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/

/** How long to wait before retrying a failed request. */
export interface BackoffOptions {
  /** The ceiling of the first wait. Default: `500`. */
  readonly initialMs?: number;
  /** The ceiling no wait exceeds, however many failures in a row. Default: `15_000`. */
  readonly maxMs?: number;
}

export type Backoff = Required<BackoffOptions>;

export const defaultBackoff: Backoff = { initialMs: 500, maxMs: 15_000 };

/** Validates `options.backoff` and fills in its defaults. */
export function resolveBackoff(options: BackoffOptions = {}): Backoff {
  const { initialMs = defaultBackoff.initialMs, maxMs = defaultBackoff.maxMs } = options;
  if (!(Number.isFinite(initialMs) && initialMs > 0)) {
    throw new TypeError('options.backoff.initialMs must be a positive number');
  }
  if (!(Number.isFinite(maxMs) && maxMs >= initialMs)) {
    throw new TypeError('options.backoff.maxMs must be a number no smaller than initialMs');
  }
  return { initialMs, maxMs };
}

/**
 * The wait before retry number `attempt` (0 for the first): uniformly random below
 * `min(maxMs, initialMs * 2 ** attempt)`, so a server that comes back is not hit by every page
 * at the same instant.
 */
export function backoffDelay(backoff: Backoff, attempt: number, random: () => number): number {
  return Math.floor(random() * Math.min(backoff.maxMs, backoff.initialMs * 2 ** attempt));
}

/** The wait before retrying after `error`: the backoff wait, and no less than the server's `retryAfter`. */
export function retryDelay(
  backoff: Backoff,
  attempt: number,
  random: () => number,
  error: { readonly retryAfter?: number | undefined },
): number {
  const delay = backoffDelay(backoff, attempt, random);
  return error.retryAfter === undefined ? delay : Math.max(delay, error.retryAfter * 1_000);
}
