// Most expressions in real pipelines are a bare field: `event.user`, `event.amount`,
// `enriched.page.category`. For those the processor reads the parsed JSON directly instead of
// running the CEL interpreter (which wraps the event in a map view and walks a planned tree for
// every record). Only the success case is taken here: whenever the path does not lead to a plain
// value (a missing key, a non-object on the way, a list or map result) the caller runs CEL, so
// every error and every non-primitive result is exactly what CEL gives.
import type { parse } from '@bufbuild/cel';

type Expr = NonNullable<ReturnType<typeof parse>['expr']>;

export interface FieldPath {
  /** the variable the path starts from */
  root: 'event' | 'enriched';
  fields: readonly string[];
}

/** A field chain such as `event.a.b`, or undefined for any other expression. */
export function fieldPathOf(expr: Expr | undefined): FieldPath | undefined {
  const fields: string[] = [];
  let node: Expr | undefined = expr;
  while (node?.exprKind.case === 'selectExpr') {
    const select = node.exprKind.value;
    // has(event.a) is a test, not a read
    if (select.testOnly) return undefined;
    fields.unshift(select.field);
    node = select.operand;
  }
  if (node?.exprKind.case !== 'identExpr' || fields.length === 0) return undefined;
  const root = node.exprKind.value.name;
  return root === 'event' || root === 'enriched' ? { root, fields } : undefined;
}

function isPlainObject(v: unknown): v is object {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Marks "take the CEL route" without allocating. */
export const NOT_PLAIN: unique symbol = Symbol('not a plain value');

/**
 * The string, number, boolean or null at the path, or NOT_PLAIN. Own properties only, as the CEL
 * view of an event sees them (`event.constructor` is a missing key, not Object's constructor).
 */
export function readPlain(
  value: unknown,
  fields: readonly string[],
): string | number | boolean | null | typeof NOT_PLAIN {
  let current = value;
  for (let i = 0; i < fields.length; i++) {
    if (!isPlainObject(current)) return NOT_PLAIN;
    const key = fields[i]!;
    if (!Object.hasOwn(current, key)) return NOT_PLAIN;
    current = (current as Record<string, unknown>)[key];
  }
  switch (typeof current) {
    case 'string':
    case 'boolean':
      return current;
    case 'number':
      // CEL sees JSON numbers as doubles; non-finite ones never come out of JSON.parse anyway
      return current;
    case 'object':
      return current === null ? null : NOT_PLAIN;
    default:
      return NOT_PLAIN;
  }
}
