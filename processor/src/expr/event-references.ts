// Every `event.a.b` chain in a CEL expression, with the offset of each name, for checking the
// names against a schema. Only plain selections count: `event['a']` or `event.a[0].b` stop the
// chain where the index starts (what follows an index is not a field of the schema's record).
import { parse } from '@bufbuild/cel';

type Expr = NonNullable<ReturnType<typeof parse>['expr']>;

export interface EventReference {
  /** the names after `event` */
  fields: string[];
  /** offset in the source where each name starts (same length as fields) */
  offsets: number[];
}

/** The chains in a source that parses; an expression that does not parse has none. */
export function eventReferences(source: string): EventReference[] {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch {
    return []; // the ordinary validation reports it
  }
  const positions = parsed.sourceInfo?.positions ?? {};
  const out: EventReference[] = [];
  const visit = (expr: Expr | undefined, shadowed: boolean): void => {
    if (expr === undefined) return;
    const k = expr.exprKind;
    switch (k.case) {
      case 'selectExpr': {
        const chain: Expr[] = [];
        let node: Expr | undefined = expr;
        while (node?.exprKind.case === 'selectExpr') {
          chain.unshift(node);
          node = node.exprKind.value.operand;
        }
        if (!shadowed && node?.exprKind.case === 'identExpr' && node.exprKind.value.name === 'event') {
          const fields = chain.map((s) => (s.exprKind.value as { field: string }).field);
          // A selection's own position is its dot, or `has` for has(event.a): find each name
          // after the `event` it starts from instead.
          let at = Number(positions[String(node.id)] ?? 0) + 'event'.length;
          const offsets = fields.map((field) => {
            const m = new RegExp(`\\.\\s*(${field.replace(/[^\w]/g, '\\$&')})\\b`, 'y');
            const dot = source.indexOf('.', at);
            m.lastIndex = dot;
            const found = dot >= 0 ? m.exec(source) : null;
            at = found ? m.lastIndex : at;
            return found ? m.lastIndex - field.length : at;
          });
          out.push({ fields, offsets });
        } else {
          visit(node, shadowed);
        }
        return;
      }
      case 'callExpr':
        visit(k.value.target, shadowed);
        for (const a of k.value.args) visit(a, shadowed);
        return;
      case 'listExpr':
        for (const e of k.value.elements) visit(e, shadowed);
        return;
      case 'structExpr':
        for (const entry of k.value.entries) {
          if (entry.keyKind.case === 'mapKey') visit(entry.keyKind.value, shadowed);
          visit(entry.value, shadowed);
        }
        return;
      case 'comprehensionExpr': {
        const c = k.value;
        visit(c.iterRange, shadowed);
        visit(c.accuInit, shadowed);
        const inner = shadowed || [c.iterVar, c.iterVar2, c.accuVar].includes('event');
        visit(c.loopCondition, inner);
        visit(c.loopStep, inner);
        visit(c.result, inner);
        return;
      }
      default:
        return;
    }
  };
  visit(parsed.expr, false);
  return out;
}
