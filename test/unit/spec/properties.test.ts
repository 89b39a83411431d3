// validate never throws and never hangs, whatever it is fed; it answers valid or a list of errors.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  type ValidationResult,
  validatePipelineObject,
  validateText,
} from '../../../processor/src/spec/validate.ts';

const example = readFileSync(join(import.meta.dirname, '../../../examples/page-views.yaml'), 'utf8');

function checkShape(r: ValidationResult): void {
  expect(r.ok).toBe(r.errors.length === 0);
  if (!r.ok) expect(r.errors.length).toBeGreaterThan(0);
  for (const e of r.errors) {
    expect(Number.isInteger(e.line) && e.line >= 1).toBe(true);
    expect(Number.isInteger(e.column) && e.column >= 1).toBe(true);
    expect(typeof e.path).toBe('string');
    expect(e.message.length).toBeGreaterThan(0);
    expect(e.message).not.toMatch(/internal error/);
  }
}

function timed(text: string): ValidationResult {
  const start = performance.now();
  const r = validateText(text, 'p.yaml');
  expect(performance.now() - start).toBeLessThan(2000);
  return r;
}

// Values shaped a bit like specs, so the generator reaches deep into the schema.
const scalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom(
    '1m',
    '10s',
    '0s',
    '7d',
    'tumbling',
    'hopping',
    'session',
    'event.a',
    'has(event.x)',
    'json',
    '',
    'auto',
  ),
  fc.integer({ min: -5, max: 2000 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const keys = fc.constantFrom(
  'apiVersion',
  'kind',
  'metadata',
  'name',
  'spec',
  'source',
  'topic',
  'topics',
  'window',
  'type',
  'size',
  'advance',
  'gap',
  'grace',
  'aggregates',
  'count',
  'sum',
  'percentile',
  'q',
  'topK',
  'k',
  'groupBy',
  'where',
  'enrich',
  'lookup',
  'scaling',
  'minReplicas',
  'maxReplicas',
  'retention',
  'sink',
  'replicas',
  'x',
  '__proto__',
  'constructor',
);
const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('obj'), tie('arr')),
  obj: fc.dictionary(keys, tie('node'), { maxKeys: 6 }),
  arr: fc.array(tie('node'), { maxLength: 4 }),
})).node;

describe('validate never throws (properties)', () => {
  it('random strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (s) => checkShape(timed(s))),
      { numRuns: 500 },
    );
  });

  it('random YAML-ish text built from YAML tokens', () => {
    const token = fc.constantFrom(
      '\n',
      '  ',
      ':',
      '- ',
      '---\n',
      '[',
      ']',
      '{',
      '}',
      ',',
      '&a ',
      '*a',
      '!!str ',
      "'",
      '"',
      '#',
      '|\n',
      '>\n',
      '? ',
      'spec',
      'window',
      'size: 1m',
      '%YAML 1.2\n',
      '\t',
      '<<: *a',
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 60 }), (tokens) => checkShape(timed(tokens.join('')))),
      { numRuns: 500 },
    );
  });

  it('random objects, as YAML and as objects', () => {
    fc.assert(
      fc.property(value, (v) => {
        checkShape(timed(stringify(v)));
        const r = validatePipelineObject(v);
        if (!r.ok) for (const i of r.issues) expect(i.message).not.toMatch(/internal error/);
      }),
      { numRuns: 500 },
    );
  });

  it('the example with one random line removed or a random character changed', () => {
    const lines = example.split('\n');
    fc.assert(
      fc.property(
        fc.nat(lines.length - 1),
        fc.nat(200),
        fc.string({ minLength: 1, maxLength: 1 }),
        (drop, at, ch) => {
          checkShape(timed(lines.filter((_, i) => i !== drop).join('\n')));
          const pos = at % example.length;
          checkShape(timed(example.slice(0, pos) + ch + example.slice(pos + 1)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('random values substituted into a valid spec', () => {
    const paths = [
      ['spec', 'window'],
      ['spec', 'window', 'size'],
      ['spec', 'aggregates'],
      ['spec', 'aggregates', 'views'],
      ['spec', 'groupBy'],
      ['spec', 'source'],
      ['spec', 'scaling'],
      ['spec', 'where'],
      ['metadata'],
      ['spec', 'enrich'],
      ['spec'],
      ['spec', 'retention'],
    ];
    const base = validateText(example).pipelines[0]!.pipeline as unknown as Record<string, unknown>;
    fc.assert(
      fc.property(fc.constantFrom(...paths), value, (path, v) => {
        const copy = structuredClone(base);
        let at: Record<string, unknown> = copy;
        for (const seg of path.slice(0, -1)) at = at[seg] as Record<string, unknown>;
        at[path[path.length - 1] as string] = v;
        checkShape(timed(stringify(copy)));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses alias bombs quickly', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x]',
      ...Array.from(
        { length: 9 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`,
      ),
    ].join('\n');
    const r = timed(bomb);
    expect(r.ok).toBe(false);
  });

  it('refuses huge inputs and deep nesting without crashing, saying why', () => {
    const refused = (r: ValidationResult) => {
      checkShape(r);
      expect(r.ok).toBe(false);
      return r.errors.map((e) => `${e.path}: ${e.message}`);
    };
    expect(refused(timed('a'.repeat(2 * 1024 * 1024)))).toEqual([
      ': file is larger than 1048576 bytes; a pipeline spec is a page of YAML',
    ]);
    const nested = refused(timed(`${'['.repeat(5000)}${']'.repeat(5000)}`));
    expect(nested.length).toBeGreaterThan(0);
    for (const error of nested) expect(error).toMatch(/^: invalid YAML/);
    const deepWhere = `"${'('.repeat(3000)}1${')'.repeat(3000)} < 2"`;
    expect(example).toContain('"event.status < 500"'); // the line the next input replaces
    expect(refused(timed(example.replace('"event.status < 500"', deepWhere)))).toEqual([
      'spec.where: a CEL expression has at most 4096 characters',
    ]);
  });
});
