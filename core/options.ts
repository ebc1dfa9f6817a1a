// Checks shared by every factory's options: each throws a `TypeError` that names the option.

/** Validates a positive integer option, naming it in the `TypeError`. */
export function positiveInteger(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`The \`${name}\` option must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** A URL path prefix: one or more `/segment`s of unreserved characters, no trailing slash. */
export const prefixPattern = /^(\/[\w.~-]+)+$/;

/**
 * Validates a path prefix option such as `'/serverpush'`: segments of letters, digits and `_.~-`,
 * without a trailing slash, and no `.` or `..` segment.
 */
export function checkPrefix(value: unknown, name = 'prefix'): string {
  if (typeof value !== 'string' || !prefixPattern.test(value) || /\/\.\.?(\/|$)/.test(value)) {
    throw new TypeError(`The \`${name}\` option must be a path like "/serverpush", without a trailing slash`);
  }
  return value;
}

/** Validates an optional function option. */
export function optionalFunction<F>(value: F | undefined, name: string): F | undefined {
  if (value !== undefined && typeof value !== 'function')
    throw new TypeError(`The \`${name}\` option must be a function`);
  return value;
}
