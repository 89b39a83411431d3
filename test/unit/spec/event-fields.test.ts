// Which top-level event fields an expression reads, so that a JSON record can be decoded with those only.
import { parse } from '@bufbuild/cel';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileExpression, type EvalContext } from '../../../processor/src/expr/compile.ts';
import { eventFieldsOf } from '../../../processor/src/expr/event-fields.ts';
import { toRuntimePipeline } from '../../../processor/src/runtime/compile.ts';
import { validateText } from '../../../processor/src/spec/validate.ts';

const fieldsOf = (source: string) => eventFieldsOf(parse(source).expr)?.sort();

/** Expressions the checker accepts, each reading the event through top-level fields only. */
const EXPRESSIONS = [
  'event.k',
  'event.v * 2.0',
  'event.st < 500 && event.k != "x"',
  'has(event.x) ? event.x : "none"',
  'event.y.z',
  'string(event.v) + "-" + string(event.st)',
  '[event.k, event.u].exists(e, e == "a")',
  '{"a": event.k}.a',
  'size(event.k)',
];

describe('the event fields an expression reads', () => {
  it('are its top-level selections of event', () => {
    expect(fieldsOf('event.k')).toEqual(['k']);
    expect(fieldsOf('event.st < 500')).toEqual(['st']);
    expect(fieldsOf('has(event.x) && event.y.z > 1')).toEqual(['x', 'y']);
    expect(fieldsOf('{"a": event.k}.a')).toEqual(['k']);
    expect(fieldsOf('[1, 2].exists(x, x > event.n)')).toEqual(['n']);
    expect(fieldsOf('enriched.region')).toEqual([]);
    expect(fieldsOf('record.key + "x"')).toEqual([]);
  });

  it('are unknown when the expression may see the event otherwise', () => {
    for (const source of [
      'event',
      'event["k"]',
      'size(event)',
      'event == {}',
      '[event].size()',
      '[1].exists(event, event > 1)',
      'event.k.startsWith("a") || event.exists(f, f == "k")',
    ])
      expect(fieldsOf(source), source).toBeUndefined();
  });

  it('give the same results and errors on an event holding those fields only (property)', () => {
    const value = fc.oneof(
      fc.string({ maxLength: 3 }),
      fc.integer({ min: -5, max: 600 }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(null),
      fc.dictionary(fc.constantFrom('z', 'w'), fc.oneof(fc.integer(), fc.string({ maxLength: 2 }))),
    );
    const event = fc.dictionary(fc.constantFrom('k', 'v', 'st', 'x', 'y', 'u', 'other'), value);
    const compiled = EXPRESSIONS.map((source) => {
      const r = compileExpression(['spec', 'where'], source, {});
      if (!r.compiled) throw new Error(`${source}: ${r.problems.map((p) => p.message).join('; ')}`);
      return r.compiled;
    });
    const run = (c: (typeof compiled)[number], ctx: EvalContext) => {
      try {
        return { value: c.evaluate(ctx) };
      } catch (error) {
        return { error: (error as Error).message };
      }
    };
    fc.assert(
      fc.property(event, fc.nat(EXPRESSIONS.length - 1), (full, n) => {
        const c = compiled[n]!;
        expect(c.eventFields).toBeDefined();
        const partial: Record<string, unknown> = {};
        for (const field of c.eventFields!) if (Object.hasOwn(full, field)) partial[field] = full[field];
        expect(run(c, { event: partial, enriched: {} })).toStrictEqual(run(c, { event: full, enriched: {} }));
      }),
      { numRuns: 1000 },
    );
  });

  it('decide which fields a JSON pipeline decodes: every expression and the event time', () => {
    const runtime = (spec: string) => {
      const r = validateText(
        `apiVersion: kappaflow.io/v1alpha1\nkind: Pipeline\nmetadata: { name: t }\nspec:\n  source: { topic: in, format: json, eventTime: { field: meta.ts } }\n  window: { type: tumbling, size: 1m }\n${spec}`,
      );
      if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
      return toRuntimePipeline(r.pipelines[0]!, 1);
    };
    const counted = runtime(
      '  where: "event.st < 500"\n  groupBy: { key: event.k }\n  aggregates:\n    n: { count: {} }\n    total: { sum: event.v }\n',
    );
    expect(counted.source.eventFields?.sort()).toEqual(['k', 'meta', 'st', 'v']);
    const whole = runtime(
      '  where: "size(event) > 2"\n  groupBy: { key: event.k }\n  aggregates:\n    n: { count: {} }\n',
    );
    expect(whole.source.eventFields).toBeUndefined();
  });
});
