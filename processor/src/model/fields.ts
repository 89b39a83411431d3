/**
 * How one aggregate value of one group is named inside a window (the window hash field, the suffix of
 * a sketch key) and how a group's values become one key. Part of the Redis key layout (state/keys.ts)
 * but free of Redis, so that the fold (aggregates/) builds them without depending on state/.
 */

/** A field of the window hash or a sketch key: the aggregate name, then the group key. */
export function fieldOf(aggregate: string, group: string, part?: 's' | 'n' | 't'): string {
  return part ? `${aggregate}#${part}|${group}` : `${aggregate}|${group}`;
}

/** Splits a window-hash field into aggregate, part and group key. Aggregate names never hold `|` or `#`. */
export function parseField(field: string): { aggregate: string; part?: string; group: string } {
  const bar = field.indexOf('|');
  const head = field.slice(0, bar);
  const group = field.slice(bar + 1);
  const hash = head.indexOf('#');
  return hash === -1
    ? { aggregate: head, group }
    : { aggregate: head.slice(0, hash), part: head.slice(hash + 1), group };
}

/**
 * The group key: the groupBy values as a JSON array, so any value (even one holding `|`) round-trips
 * and the query API can give each value back under its group name.
 */
export function groupKeyOf(values: readonly unknown[]): string {
  // Per record, the common case of one text value JSON writes as it is: no serialiser call.
  if (values.length === 1 && typeof values[0] === 'string' && isPlainJsonText(values[0]))
    return `["${values[0]}"]`;
  // Strings, numbers, booleans and null need no normalising (and no copy of the list).
  for (const value of values) {
    if (value === undefined || typeof value === 'bigint' || (value !== null && typeof value === 'object'))
      return JSON.stringify(values.map(normalizeGroupValue));
  }
  return JSON.stringify(values);
}

/** Text JSON.stringify writes unescaped: no quote, backslash, control character or surrogate. */
function isPlainJsonText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return false;
  }
  return true;
}

function normalizeGroupValue(value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (value === undefined) return null;
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return value;
}
