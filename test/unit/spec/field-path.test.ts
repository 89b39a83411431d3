// The bare-field shortcut must be invisible: for any event and any field chain, the result (or the
// error) is the one the CEL interpreter gives.

import { parse } from '@bufbuild/cel';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileExpression, type EvalContext } from '../../../processor/src/expr/compile.ts';
import { fieldPathOf, NOT_PLAIN, readPlain } from '../../../processor/src/expr/field-path.ts';
import { toKey } from '../../../processor/src/expr/values.ts';

const compile = (source: string, fieldPaths: boolean) => {
  const r = compileExpression(['spec', 'groupBy', 'g'], source, { enriched: ['page'], fieldPaths });
  if (!r.compiled) throw new Error(r.problems.map((p) => p.message).join('; '));
  return r.compiled;
};

/** The value, or the error message: what a caller can observe. */
const outcome = (run: () => unknown) => {
  try {
    return { value: toKey(run() as never) };
  } catch (error) {
    return { error: (error as Error).message };
  }
};

const names = fc.constantFrom('a', 'b', 'user', 'constructor', 'toString', '__proto__', 'n');
const leaf = fc.oneof(
  fc.constantFrom(0, -0, 1, '', '0', 'null', true, false),
  fc.string(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
);
const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('value'), { maxLength: 3 }), tie('object')),
  object: fc.dictionary(names, tie('value'), { maxKeys: 4 }),
})).value;

const path = fc.array(names, { minLength: 1, maxLength: 3 });
/** An event and a path, where the path usually leads somewhere (to a leaf or a nested value). */
const eventAndPath = fc.oneof(
  fc.tuple(json, path),
  fc.tuple(json, path, fc.oneof(leaf, leaf, json)).map(([base, fields, end]) => {
    const root: Record<string, unknown> =
      typeof base === 'object' && base !== null && !Array.isArray(base) ? { ...base } : {};
    let at = root;
    for (const [i, f] of fields.entries()) {
      if (i === fields.length - 1) {
        Object.defineProperty(at, f, { value: end, enumerable: true, writable: true, configurable: true });
      } else {
        const next: Record<string, unknown> = {};
        Object.defineProperty(at, f, { value: next, enumerable: true, writable: true, configurable: true });
        at = next;
      }
    }
    return [root, fields] as [unknown, string[]];
  }),
);

describe('bare field paths', () => {
  it('recognises field chains on event and enriched only', () => {
    const of = (s: string) => fieldPathOf(parse(s).expr);
    expect(of('event.user')).toEqual({ root: 'event', fields: ['user'] });
    expect(of('enriched.page.category')).toEqual({ root: 'enriched', fields: ['page', 'category'] });
    expect(of('record.key')).toBeUndefined();
    expect(of('has(event.user)')).toBeUndefined();
    expect(of('event["user"]')).toBeUndefined();
    expect(of('event.user + "x"')).toBeUndefined();
    expect(of('event')).toBeUndefined();
  });

  it('reads own plain values only', () => {
    expect(readPlain({ a: { b: 2 } }, ['a', 'b'])).toBe(2);
    expect(readPlain({ a: null }, ['a'])).toBeNull();
    expect(readPlain({ a: [1] }, ['a'])).toBe(NOT_PLAIN);
    expect(readPlain({ a: { b: 1 } }, ['a'])).toBe(NOT_PLAIN);
    expect(readPlain({}, ['constructor'])).toBe(NOT_PLAIN);
    expect(readPlain('text', ['a'])).toBe(NOT_PLAIN);
  });

  it('gives what CEL gives, values and errors alike (property)', () => {
    fc.assert(
      fc.property(eventAndPath, fc.boolean(), ([value, fields], onEnriched) => {
        const source = `${onEnriched ? 'enriched.page' : 'event'}.${fields.join('.')}`;
        const ctx: EvalContext = onEnriched ? { event: {}, enriched: { page: value } } : { event: value };
        const fast = outcome(() => compile(source, true).evaluate(ctx));
        const cel = outcome(() => compile(source, false).evaluate(ctx));
        expect(fast).toEqual(cel);
      }),
      { numRuns: 500 },
    );
  });
});
