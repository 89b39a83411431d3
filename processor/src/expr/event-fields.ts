import type { parse } from '@bufbuild/cel';

type Expr = NonNullable<ReturnType<typeof parse>['expr']>;

/**
 * The top-level fields of `event` an expression reads, when it reads the event only through them
 * (`event.k`, `event.st < 500`, `has(event.x)`, `event.a.b` reads `a`); undefined when it may see
 * the event otherwise (`event` alone, `event["k"]`, a macro variable named `event`, or a node kind
 * this does not know). A record decoded with those fields only then gives the same result.
 */
export function eventFieldsOf(expr: Expr | undefined): string[] | undefined {
  const fields = new Set<string>();
  return visit(expr, fields) ? [...fields] : undefined;
}

function visit(node: Expr | undefined, fields: Set<string>): boolean {
  if (node === undefined) return true;
  const kind = node.exprKind;
  switch (kind.case) {
    case 'constExpr':
      return true;
    case 'identExpr':
      return kind.value.name !== 'event';
    case 'selectExpr': {
      const operand = kind.value.operand;
      if (operand?.exprKind.case === 'identExpr' && operand.exprKind.value.name === 'event') {
        fields.add(kind.value.field);
        return true;
      }
      return visit(operand, fields);
    }
    case 'callExpr':
      return visit(kind.value.target, fields) && kind.value.args.every((arg) => visit(arg, fields));
    case 'listExpr':
      return kind.value.elements.every((element) => visit(element, fields));
    case 'structExpr':
      return kind.value.entries.every(
        (entry) =>
          (entry.keyKind.case !== 'mapKey' || visit(entry.keyKind.value, fields)) &&
          visit(entry.value, fields),
      );
    case 'comprehensionExpr': {
      const c = kind.value;
      if (c.iterVar === 'event' || c.accuVar === 'event' || c.iterVar2 === 'event') return false;
      return [c.iterRange, c.accuInit, c.loopCondition, c.loopStep, c.result].every((e) => visit(e, fields));
    }
    default:
      return false;
  }
}
