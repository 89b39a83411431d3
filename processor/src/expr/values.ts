// Turning CEL results into the plain values the processor stores.
import { type CelValue, isCelList, isCelMap, isCelUint } from '@bufbuild/cel';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Thrown by the converters; the caller wraps it with the expression's path. */
export class ValueKindError extends Error {}

function describe(v: CelValue): string {
  if (v === null) return 'null';
  if (typeof v === 'string')
    return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  if (typeof v === 'boolean') return `the bool ${v}`;
  if (isCelList(v)) return 'a list';
  if (isCelMap(v)) return 'a map';
  return `a ${typeof v}`;
}

/** A number for sum/min/max/avg/percentile. Strings are refused: convert with double(...) in CEL. */
export function toNumber(v: CelValue): number {
  if (typeof v === 'number') {
    if (Number.isFinite(v)) return v;
    throw new ValueKindError(`expected a finite number, got ${v}`);
  }
  if (typeof v === 'bigint') return Number(v);
  if (isCelUint(v)) return Number(v.value);
  throw new ValueKindError(
    `expected a number, got ${describe(v)}${typeof v === 'string' ? ' (convert it in the expression: double(...))' : ''}`,
  );
}

/**
 * A string identifying a value: group-key parts, countDistinct and topK members.
 * Integral doubles print without a fraction, so 200 (JSON) and 200 (CEL int) give the same key.
 */
export function toKey(v: CelValue): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : String(v);
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  if (isCelUint(v)) return String(v.value);
  return JSON.stringify(toJson(v));
}

/** A JSON-compatible value for first/last and for sink records. Big integers become strings. */
export function toJson(v: CelValue): JsonValue {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : String(v);
  if (isCelUint(v)) return toJson(v.value);
  if (isCelList(v)) return [...v].map(toJson);
  if (isCelMap(v)) {
    const out: Record<string, JsonValue> = {};
    for (const [k, val] of v) out[String(isCelUint(k) ? k.value : k)] = toJson(val);
    return out;
  }
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  throw new ValueKindError(`cannot store ${describe(v)}`);
}

/** `where` must give exactly true or false: a non-bool is a mistake worth surfacing per record. */
export function toBool(v: CelValue): boolean {
  if (typeof v === 'boolean') return v;
  throw new ValueKindError(`expected true or false, got ${describe(v)}`);
}
