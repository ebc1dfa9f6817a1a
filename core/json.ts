// JSON text of rows and ids that may hold bigints: they become strings, as node-postgres returns
// bigint columns.

/** `JSON.stringify(value)`, with bigints as strings. */
export function stringifyRow(value: unknown): string {
  return JSON.stringify(value, bigintAsString);
}

function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
