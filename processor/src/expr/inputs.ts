// Handing JSON values to CEL cheaply. @bufbuild/cel converts a plain object by copying all its
// entries into a Map, on every variable access and again for every nested object; with several
// expressions per record that conversion dominated evaluation. Instead each object is wrapped once
// in a read-through view (no copying), and the views of one record are shared by all its
// expressions (cached per context object).
import { type CelValue, celList, celMap, isCelList, isCelMap } from '@bufbuild/cel';

type Obj = Record<string, unknown>;

function isPlainObject(v: unknown): v is Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Converts one JSON-like value into what CEL accepts without copying objects. */
export function celInput(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (isCelMap(v) || isCelList(v)) return v;
  if (Array.isArray(v)) return celList(v.map(celInput) as never);
  if (isPlainObject(v)) return celMap(new ObjectView(v) as never);
  return v; // Map, Uint8Array, ...: the library handles these itself
}

/**
 * A read-only Map over a plain object's own properties (never its prototype: `event.constructor`
 * must be a missing field, not Object). Nested values are converted on first access and cached.
 */
class ObjectView implements ReadonlyMap<string, unknown> {
  private nested: Map<string, { raw: unknown; value: unknown }> | undefined;

  constructor(private readonly obj: Obj) {}

  get size(): number {
    return Object.keys(this.obj).length;
  }

  get(key: string): unknown {
    if (typeof key !== 'string' || !Object.hasOwn(this.obj, key)) return undefined;
    const raw = this.obj[key];
    if (typeof raw !== 'object' || raw === null) return raw;
    this.nested ??= new Map();
    const hit = this.nested.get(key);
    if (hit !== undefined && hit.raw === raw) return hit.value;
    const value = celInput(raw);
    this.nested.set(key, { raw, value });
    return value;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  keys(): MapIterator<string> {
    return Object.keys(this.obj)
      .filter((k) => this.obj[k] !== undefined)
      [Symbol.iterator]() as MapIterator<string>;
  }

  *entries(): MapIterator<[string, unknown]> {
    for (const k of this.keys()) yield [k, this.get(k)];
  }

  *values(): MapIterator<unknown> {
    for (const k of this.keys()) yield this.get(k);
  }

  forEach(
    fn: (value: unknown, key: string, map: ReadonlyMap<string, unknown>) => void,
    thisArg?: unknown,
  ): void {
    for (const k of this.keys()) fn.call(thisArg, this.get(k), k, this);
  }

  [Symbol.iterator](): MapIterator<[string, unknown]> {
    return this.entries();
  }
}

export type { CelValue };
