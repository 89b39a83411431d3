// A static check of parsed CEL, run once at load. @bufbuild/cel 0.6 plans expressions without
// type checking, so without this a typo (`evnt.path`, `size(1)`, `'a' + 1`) would only show up
// on the first record. It infers types where they are known (literals, function results) and
// treats everything read from `event`/`enriched`/`record` as dyn, so it never rejects an
// expression that could succeed at runtime.

import type { CelEnv, CelType, parse } from '@bufbuild/cel';
import { closest } from '../spec/show.ts';
import { VARIABLE_NAMES } from './env.ts';

type Expr = NonNullable<ReturnType<typeof parse>['expr']>;

/** Types the checker tracks; anything else is "dyn". */
// "number" = one of int, uint, double (e.g. `event.x + 1`, which has int and double overloads).
type T =
  | 'int'
  | 'uint'
  | 'double'
  | 'number'
  | 'string'
  | 'bool'
  | 'bytes'
  | 'null_type'
  | 'list'
  | 'map'
  | 'timestamp'
  | 'duration'
  | 'type'
  | 'dyn';
const NUMERIC: ReadonlySet<T> = new Set<T>(['int', 'uint', 'double', 'number']);

export interface CheckProblem {
  /** Offset in the expression source (0-based). */
  offset: number;
  message: string;
}

export interface CheckOptions {
  /** Names `enriched.<name>` may use here; undefined means `enriched` is not available at all. */
  enriched?: readonly string[];
  /** Explains why enriched is unavailable, e.g. "where runs before enrich". */
  enrichedUnavailable?: string;
}

export interface CheckResult {
  problems: CheckProblem[];
  type: T;
}

// Calls the planner implements itself (not in the function resolver).
const SPECIAL_CALLS = new Set([
  '_&&_',
  '_||_',
  '_?_:_',
  '_[_]',
  '_[?_]',
  '@not_strictly_false',
  'not_strictly_false',
]);

function typeName(t: CelType): T {
  switch (t.kind) {
    case 'list':
      return 'list';
    case 'map':
      return 'map';
    case 'object':
      return t.name === 'google.protobuf.Timestamp'
        ? 'timestamp'
        : t.name === 'google.protobuf.Duration'
          ? 'duration'
          : 'dyn';
    default:
      return t.name as T;
  }
}

const LABEL: Record<T, string> = {
  int: 'int',
  uint: 'uint',
  double: 'double',
  number: 'number',
  string: 'string',
  bool: 'bool',
  bytes: 'bytes',
  null_type: 'null',
  list: 'list',
  map: 'map',
  timestamp: 'timestamp',
  duration: 'duration',
  type: 'type',
  dyn: 'dyn',
};

function displayFunction(name: string): string {
  const m = /^_(.+)_$/.exec(name);
  if (m) return `operator ${m[1]}`;
  if (name === '-_') return 'unary -';
  if (name === '!_') return 'operator !';
  if (name === '@in') return 'operator in';
  return name;
}

export class ExpressionChecker {
  private problems: CheckProblem[] = [];
  private positions: Record<string, number> = {};
  private scopes: Set<string>[] = [];
  private functionNames: string[];

  constructor(
    private readonly env: CelEnv,
    private readonly options: CheckOptions = {},
  ) {
    this.functionNames = [...new Set([...env.funcs].map((f) => f.name))].filter((n) => /^[a-zA-Z]/.test(n));
  }

  check(expr: Expr, positions: Record<string, number>): CheckResult {
    this.problems = [];
    this.positions = positions;
    this.scopes = [];
    const type = this.visit(expr);
    return { problems: this.problems, type };
  }

  private report(expr: Expr, message: string): void {
    this.problems.push({ offset: this.positions[String(expr.id)] ?? 0, message });
  }

  private inScope(name: string): boolean {
    return this.scopes.some((s) => s.has(name));
  }

  private visit(expr: Expr): T {
    const k = expr.exprKind;
    switch (k.case) {
      case 'constExpr':
        return this.constType(k.value.constantKind.case);
      case 'identExpr': {
        const name = k.value.name;
        if (this.inScope(name)) return 'dyn';
        if (name === 'enriched' && this.options.enriched === undefined) {
          this.report(
            expr,
            `enriched is not available here${this.options.enrichedUnavailable ? ` (${this.options.enrichedUnavailable})` : ''}`,
          );
          return 'dyn';
        }
        if ((VARIABLE_NAMES as readonly string[]).includes(name)) return name === 'event' ? 'dyn' : 'map';
        const guess = closest(name, VARIABLE_NAMES);
        this.report(
          expr,
          `unknown name ${JSON.stringify(name)}${guess ? ` (did you mean ${guess}?)` : ''}; expressions can use event, enriched and record` +
            (/^[a-z]/.test(name) ? ` (a string needs quotes: '${name}')` : ''),
        );
        return 'dyn';
      }
      case 'selectExpr': {
        const operand = k.value.operand;
        if (operand === undefined) return 'dyn';
        if (
          operand.exprKind.case === 'identExpr' &&
          operand.exprKind.value.name === 'enriched' &&
          !this.inScope('enriched') &&
          this.options.enriched !== undefined &&
          !this.options.enriched.includes(k.value.field)
        ) {
          const known = this.options.enriched;
          this.report(
            expr,
            known.length === 0
              ? `enriched.${k.value.field} is not available: no earlier enrich lookup sets it`
              : `enriched.${k.value.field} is not set by an earlier enrich lookup (available: ${known.join(', ')})`,
          );
          return 'dyn';
        }
        const t = this.visit(operand);
        if (t !== 'dyn' && t !== 'map') {
          this.report(expr, `cannot select field ${JSON.stringify(k.value.field)} from a ${LABEL[t]}`);
        }
        return k.value.testOnly ? 'bool' : 'dyn';
      }
      case 'callExpr':
        return this.visitCall(expr, k.value.function, k.value.target, k.value.args);
      case 'listExpr':
        for (const e of k.value.elements) this.visit(e);
        return 'list';
      case 'structExpr':
        if (k.value.messageName !== '') {
          this.report(
            expr,
            `creating messages (${k.value.messageName}{...}) is not supported; use a map literal {'k': v}`,
          );
        }
        for (const entry of k.value.entries) {
          if (entry.keyKind.case === 'mapKey') this.visit(entry.keyKind.value);
          if (entry.value) this.visit(entry.value);
        }
        return 'map';
      case 'comprehensionExpr': {
        const c = k.value;
        if (c.iterRange) this.visit(c.iterRange);
        if (c.accuInit) this.visit(c.accuInit);
        this.scopes.push(new Set([c.iterVar, c.iterVar2, c.accuVar].filter((v) => v !== '')));
        if (c.loopCondition) this.visit(c.loopCondition);
        if (c.loopStep) this.visit(c.loopStep);
        const t = c.result ? this.visit(c.result) : 'dyn';
        this.scopes.pop();
        return t;
      }
      default:
        return 'dyn';
    }
  }

  private constType(kind: string | undefined): T {
    switch (kind) {
      case 'boolValue':
        return 'bool';
      case 'int64Value':
        return 'int';
      case 'uint64Value':
        return 'uint';
      case 'doubleValue':
        return 'double';
      case 'stringValue':
        return 'string';
      case 'bytesValue':
        return 'bytes';
      case 'nullValue':
        return 'null_type';
      default:
        return 'dyn';
    }
  }

  private visitCall(expr: Expr, name: string, target: Expr | undefined, args: Expr[]): T {
    const targetType = target ? this.visit(target) : undefined;
    const argTypes = args.map((a) => this.visit(a));
    if (SPECIAL_CALLS.has(name)) {
      if (name === '_&&_' || name === '_||_') {
        for (const [i, t] of argTypes.entries()) {
          if (t !== 'bool' && t !== 'dyn')
            this.report(
              args[i] as Expr,
              `${name === '_&&_' ? '&&' : '||'} needs true/false on both sides, got a ${LABEL[t]}`,
            );
        }
        return 'bool';
      }
      if (name === '_?_:_') {
        const cond = argTypes[0];
        if (cond !== undefined && cond !== 'bool' && cond !== 'dyn')
          this.report(args[0] as Expr, `the condition of ?: must be true/false, got a ${LABEL[cond]}`);
        return argTypes[1] === argTypes[2] ? (argTypes[1] ?? 'dyn') : 'dyn';
      }
      return 'dyn';
    }
    const group = this.env.funcs.find(name);
    if (group === undefined) {
      const guess = closest(name, this.functionNames);
      this.report(
        expr,
        `unknown function ${JSON.stringify(name)}${guess ? ` (did you mean ${guess}?)` : ''}`,
      );
      return 'dyn';
    }
    const candidates = [...group].filter(
      (f) => (f.target !== undefined) === (target !== undefined) && f.arguments.length === args.length,
    );
    if (candidates.length === 0) {
      const shapes = [...group].map((f) =>
        f.target ? `x.${name}(${f.arguments.length} args)` : `${name}(${f.arguments.length} args)`,
      );
      this.report(
        expr,
        `${displayFunction(name)} cannot be called like this; it is used as ${[...new Set(shapes)].join(' or ')}`,
      );
      return 'dyn';
    }
    const matches = (want: CelType, got: T | undefined) => {
      const w = typeName(want);
      return (
        got === undefined || got === 'dyn' || w === 'dyn' || w === got || (got === 'number' && NUMERIC.has(w))
      );
    };
    const matching = candidates.filter(
      (f) =>
        (f.target === undefined || matches(f.target, targetType)) &&
        f.arguments.every((a, i) => matches(a, argTypes[i])),
    );
    if (matching.length === 0) {
      const got = [...(targetType ? [targetType] : []), ...argTypes].map((t) => LABEL[t]).join(', ');
      this.report(expr, `${displayFunction(name)} does not accept (${got})`);
      return 'dyn';
    }
    const results = new Set(matching.map((f) => typeName(f.result)));
    if (results.size === 1) return [...results][0] as T;
    return [...results].every((r) => NUMERIC.has(r)) ? 'number' : 'dyn';
  }
}
