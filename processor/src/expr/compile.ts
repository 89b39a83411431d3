// Compiling a Pipeline's expressions once, and evaluating them per record (the hot path).
import { type CelValue, isCelError, parse, plan } from '@bufbuild/cel';
import type { NormalizedPipeline } from '../spec/normalize.ts';
import { type CheckOptions, ExpressionChecker } from './check.ts';
import { pipelineEnv } from './env.ts';
import { ExprCompileError, ExprEvalError, type ExprProblem } from './errors.ts';
import { eventFieldsOf } from './event-fields.ts';
import { fieldPathOf, NOT_PLAIN, readPlain } from './field-path.ts';
import { celInput } from './inputs.ts';
import { type JsonValue, toBool, toJson, toKey, toNumber, ValueKindError } from './values.ts';

/** Kafka metadata bound to `record`. */
export interface RecordMeta {
  /** Useful when the source has several topics. */
  topic?: string;
  /** a string, or the decoded key with `spec.source.key.format` */
  key: unknown;
  partition: number;
  /** As kafkajs reports it (a decimal string). */
  offset: string;
  /** Epoch milliseconds. */
  timestamp: number;
  headers: Record<string, string>;
}

/** What expressions see. `enriched` may be omitted before enrichment. */
export interface EvalContext {
  event: unknown;
  enriched?: Record<string, unknown>;
  record?: RecordMeta;
}

export type ExpectedType = 'bool' | 'number' | 'any';

export interface CompiledExpression {
  /** Spec path, e.g. `spec.groupBy.country`. */
  readonly path: string;
  readonly source: string;
  /**
   * The top-level event fields it reads, when it reads the event only through them (see
   * event-fields.ts); absent when it may read the event otherwise.
   */
  readonly eventFields?: readonly string[];
  /** Evaluates to a CEL value; throws ExprEvalError. */
  evaluate(ctx: EvalContext): CelValue;
}

const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;
const NO_RECORD: RecordMeta = Object.freeze({
  key: null,
  partition: -1,
  offset: '-1',
  timestamp: 0,
  headers: {},
});

/** The CEL bindings of one context, shared by all expressions evaluated on it. */
interface Bindings {
  event: unknown;
  enriched: unknown;
  record: unknown;
  fromEvent: unknown;
  fromEnriched: unknown;
  fromRecord: unknown;
}

// The processor evaluates all expressions of a record one after another with the same context,
// so a one-entry cache shares the conversion between them. (A WeakMap keyed by context cost more
// in garbage collection than it saved.) Evaluation is synchronous, so there is no interleaving.
let lastContext: EvalContext | undefined;
let lastBindings: Bindings | undefined;

function bindingsFor(ctx: EvalContext): Bindings {
  const b = lastBindings;
  // Contexts may be reused or updated between steps (enriched is set after where): check the parts.
  if (
    lastContext === ctx &&
    b !== undefined &&
    b.fromEvent === ctx.event &&
    b.fromEnriched === ctx.enriched &&
    b.fromRecord === ctx.record
  ) {
    return b;
  }
  const fresh: Bindings = {
    event: celInput(ctx.event),
    enriched: celInput(ctx.enriched ?? EMPTY),
    record: celInput(ctx.record ?? NO_RECORD),
    fromEvent: ctx.event,
    fromEnriched: ctx.enriched,
    fromRecord: ctx.record,
  };
  lastContext = ctx;
  lastBindings = fresh;
  return fresh;
}

/** `spec.enrich[0].lookup.key` from ["spec", "enrich", 0, "lookup", "key"]. */
export function formatPath(segments: readonly (string | number | symbol)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (typeof s === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(String(s))}]`;
  }
  return out;
}

function parseMessage(raw: string): string {
  // The parser reports where it gave up; "expecting end of input" means an operand is missing there.
  const m = /^found (.*) but expecting end of input$/.exec(raw);
  if (m)
    return `invalid CEL: cannot continue at ${m[1]} (an operand or closing bracket is missing, or a string lacks quotes)`;
  return `invalid CEL: ${raw}`;
}

function problemFromParseError(segments: (string | number)[], source: string, e: unknown): ExprProblem {
  const err = e as { message?: unknown; location?: { start?: { offset?: number } } };
  const raw = typeof err.message === 'string' ? err.message : String(e);
  return {
    path: formatPath(segments),
    segments,
    source,
    offset: err.location?.start?.offset ?? 0,
    message: parseMessage(raw.replace(/^<input>:\d+:\d+: /, '')),
  };
}

/**
 * Parses, checks and plans one expression. Returns the problems instead of throwing so that
 * validation can report every expression of a spec at once.
 */
export function compileExpression(
  segments: (string | number)[],
  source: string,
  options: CheckOptions & { expect?: ExpectedType; fieldPaths?: boolean } = {},
): { compiled?: CompiledExpression; problems: ExprProblem[] } {
  const path = formatPath(segments);
  const problem = (message: string): ExprProblem => ({ path, segments, source, offset: 0, message });
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (e) {
    return { problems: [problemFromParseError(segments, source, e)] };
  }
  const env = pipelineEnv();
  const positions: Record<string, number> = {};
  for (const [id, offset] of Object.entries(parsed.sourceInfo?.positions ?? {})) positions[id] = offset;
  let result: ReturnType<ExpressionChecker['check']>;
  try {
    result = new ExpressionChecker(env, options).check(parsed.expr, positions);
  } catch (e) {
    return { problems: [problem(`cannot check expression: ${(e as Error).message ?? e}`)] };
  }
  const problems: ExprProblem[] = result.problems.map((p) => ({ path, segments, source, ...p }));
  const expect = options.expect ?? 'any';
  if (expect === 'bool' && result.type !== 'bool' && result.type !== 'dyn') {
    problems.push(problem(`must be a condition (true or false), but this expression gives a ${result.type}`));
  }
  if (expect === 'number' && !['int', 'uint', 'double', 'number', 'dyn'].includes(result.type)) {
    problems.push(
      problem(`must give a number, but this expression gives a ${result.type} (convert with double(...))`),
    );
  }
  if (problems.length > 0) return { problems };
  let run: (ctx: Record<string, unknown>) => unknown;
  try {
    run = plan(env, parsed) as unknown as (ctx: Record<string, unknown>) => unknown;
  } catch (e) {
    return { problems: [problem(`cannot plan expression: ${(e as Error).message ?? e}`)] };
  }
  // A bare field (`event.user`) is read straight from the JSON when it holds a plain value; CEL
  // runs otherwise, so results and errors are CEL's either way (see field-path.ts).
  const field = options.fieldPaths === false ? undefined : fieldPathOf(parsed.expr);
  const eventFields = eventFieldsOf(parsed.expr);
  const compiled: CompiledExpression = {
    path,
    source,
    ...(eventFields ? { eventFields } : {}),
    evaluate(ctx: EvalContext): CelValue {
      if (field !== undefined) {
        const plain = readPlain(field.root === 'event' ? ctx.event : ctx.enriched, field.fields);
        if (plain !== NOT_PLAIN) return plain;
      }
      let out: unknown;
      try {
        out = run(bindingsFor(ctx) as unknown as Record<string, unknown>);
      } catch (e) {
        // plan() should return errors rather than throw; this guards against library bugs.
        throw new ExprEvalError(path, source, (e as Error)?.message ?? String(e), { cause: e });
      }
      if (isCelError(out)) throw new ExprEvalError(path, source, out.message, { cause: out });
      return out as CelValue;
    },
  };
  return { compiled, problems: [] };
}

function convert<T>(expr: CompiledExpression, fn: (v: CelValue) => T): (ctx: EvalContext) => T {
  return (ctx) => {
    const v = expr.evaluate(ctx);
    try {
      return fn(v);
    } catch (e) {
      if (e instanceof ValueKindError)
        throw new ExprEvalError(expr.path, expr.source, e.message, { cause: e });
      throw e;
    }
  };
}

export type CompiledAggregate =
  | { name: string; op: 'count' }
  | { name: string; op: 'sum' | 'min' | 'max' | 'avg'; value: (ctx: EvalContext) => number }
  | { name: string; op: 'percentile'; q: number; accuracy: number; value: (ctx: EvalContext) => number }
  | { name: string; op: 'countDistinct'; value: (ctx: EvalContext) => string }
  | { name: string; op: 'topK'; k: number; value: (ctx: EvalContext) => string }
  | { name: string; op: 'first' | 'last'; value: (ctx: EvalContext) => JsonValue };

export interface CompiledEnrich {
  as: string;
  redisHash: string;
  onMissing: 'keep' | 'skip' | 'deadLetter';
  /** The hash field to read for this event. */
  key: (ctx: EvalContext) => string;
}

export interface CompiledPipeline {
  /** Absent when the spec has no `where`: every event passes. */
  where?: (ctx: EvalContext) => boolean;
  enrich: CompiledEnrich[];
  groupNames: string[];
  /** Values of the groupBy expressions in `groupNames` order (empty without groupBy). */
  groupBy: (ctx: EvalContext) => string[];
  aggregates: CompiledAggregate[];
  /**
   * The top-level event fields the expressions read, when every one reads the event only through
   * such fields (a JSON record can then be decoded with those only); absent otherwise.
   */
  eventFields?: string[];
}

const NUMERIC_OPS = ['sum', 'min', 'max', 'avg', 'percentile'];

/**
 * Checks the expressions of a spec that failed schema validation, as far as they can be found,
 * so one run of `kappaflow validate` reports CEL mistakes together with the other errors.
 */
export function checkRawExpressions(raw: unknown): ExprProblem[] {
  const obj = (v: unknown): Record<string, unknown> | undefined =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  const spec = obj(obj(raw)?.spec);
  if (spec === undefined) return [];
  const problems: ExprProblem[] = [];
  const check = (
    segments: (string | number)[],
    source: unknown,
    options: CheckOptions & { expect?: ExpectedType },
  ) => {
    if (typeof source === 'string' && source.length > 0 && source.length <= 4096) {
      problems.push(...compileExpression(segments, source, options).problems);
    }
  };
  const steps = Array.isArray(spec.enrich) ? spec.enrich : [];
  const names = steps.map((s) => obj(obj(s)?.lookup)?.as).filter((a): a is string => typeof a === 'string');
  check(['spec', 'where'], spec.where, {
    expect: 'bool',
    enrichedUnavailable: 'where runs before enrich; filter on event instead',
  });
  for (const [i, s] of steps.entries()) {
    check(['spec', 'enrich', i, 'lookup', 'key'], obj(obj(s)?.lookup)?.key, { enriched: names.slice(0, i) });
  }
  const grouping = groupingScope(names, obj(spec.window)?.type === 'session');
  for (const [name, source] of Object.entries(obj(spec.groupBy) ?? {}))
    check(['spec', 'groupBy', name], source, grouping);
  for (const [name, agg] of Object.entries(obj(spec.aggregates) ?? {})) {
    for (const [op, source] of Object.entries(obj(agg) ?? {})) {
      if (op === 'count' || op === 'q' || op === 'k' || op === 'accuracy') continue;
      check(['spec', 'aggregates', name, op], source, {
        enriched: names,
        expect: NUMERIC_OPS.includes(op) ? 'number' : 'any',
      });
    }
  }
  return problems;
}

/**
 * What `groupBy` may read. A session window's records are re-keyed by their group into one
 * partition per group before the lookups run (consumer/repartition.ts), so its groups cannot use them.
 */
function groupingScope(enriched: string[], session: boolean): CheckOptions {
  return session
    ? {
        enrichedUnavailable:
          'a session window groups records before enrich runs, to put each group in one partition; group by event, record or header fields, or use a tumbling or hopping window',
      }
    : { enriched };
}

/** Compiles every expression of a normalized pipeline; throws ExprCompileError listing all problems. */
export function compilePipeline(p: NormalizedPipeline): CompiledPipeline {
  const problems: ExprProblem[] = [];
  const take = (
    path: (string | number)[],
    source: string,
    options: CheckOptions & { expect?: ExpectedType },
  ) => {
    const r = compileExpression(path, source, options);
    problems.push(...r.problems);
    return r.compiled;
  };
  const allEnriched = p.enrich.map((e) => e.as);

  const where =
    p.where === undefined
      ? undefined
      : take(['spec', 'where'], p.where, {
          expect: 'bool',
          enrichedUnavailable: 'where runs before enrich; move the condition or filter on event',
        });

  const enrich = p.enrich.map((e, i) => ({
    e,
    key: take(['spec', 'enrich', i, 'lookup', 'key'], e.key, { enriched: allEnriched.slice(0, i) }),
  }));
  const grouping = groupingScope(allEnriched, p.window.type === 'session');
  const groups = p.groupBy.map((g) => ({
    name: g.name,
    expr: take(['spec', 'groupBy', g.name], g.expr, grouping),
  }));
  const aggregates = p.aggregates.map((a) => ({
    a,
    expr:
      a.op === 'count'
        ? undefined
        : take(['spec', 'aggregates', a.name, a.op], a.expr, {
            enriched: allEnriched,
            expect: NUMERIC_OPS.includes(a.op) ? 'number' : 'any',
          }),
  }));
  if (problems.length > 0) throw new ExprCompileError(problems);

  const groupExprs = groups.map((g) => g.expr as CompiledExpression);
  const n = groupExprs.length;
  const groupBy =
    n === 0
      ? () => []
      : (ctx: EvalContext) => {
          const out = new Array<string>(n);
          for (let i = 0; i < n; i++) {
            const g = groupExprs[i] as CompiledExpression;
            out[i] = toKey(g.evaluate(ctx));
          }
          return out;
        };

  const used = [where, ...enrich.map((e) => e.key), ...groupExprs, ...aggregates.map((a) => a.expr)];
  const eventFields = fieldsReadBy(used.filter((x): x is CompiledExpression => x !== undefined));
  return {
    ...(eventFields ? { eventFields } : {}),
    ...(where === undefined ? {} : { where: convert(where, toBool) }),
    enrich: enrich.map(({ e, key }) => ({
      as: e.as,
      redisHash: e.redisHash,
      onMissing: e.onMissing,
      key: convert(key as CompiledExpression, toKey),
    })),
    groupNames: groups.map((g) => g.name),
    groupBy,
    aggregates: aggregates.map(({ a, expr }): CompiledAggregate => {
      const x = expr as CompiledExpression;
      switch (a.op) {
        case 'count':
          return { name: a.name, op: 'count' };
        case 'sum':
        case 'min':
        case 'max':
        case 'avg':
          return { name: a.name, op: a.op, value: convert(x, toNumber) };
        case 'percentile':
          return { name: a.name, op: a.op, q: a.q, accuracy: a.accuracy, value: convert(x, toNumber) };
        case 'countDistinct':
          return { name: a.name, op: a.op, value: convert(x, toKey) };
        case 'topK':
          return { name: a.name, op: a.op, k: a.k, value: convert(x, toKey) };
        case 'first':
        case 'last':
          return { name: a.name, op: a.op, value: convert(x, toJson) };
        default:
          throw new Error(`unknown aggregate operator ${(a satisfies never as { op: string }).op}`);
      }
    }),
  };
}

/** The union of the expressions' top-level event fields, or undefined when one may read more. */
function fieldsReadBy(expressions: readonly CompiledExpression[]): string[] | undefined {
  const fields = new Set<string>();
  for (const expression of expressions) {
    if (!expression.eventFields) return undefined;
    for (const field of expression.eventFields) fields.add(field);
  }
  return [...fields];
}
