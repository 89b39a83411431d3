// CEL: compile-time checks and the per-record evaluator.
import { describe, expect, it } from 'vitest';
import { compileExpression, compilePipeline, type EvalContext } from '../../../processor/src/expr/compile.ts';
import { ExprCompileError, ExprEvalError } from '../../../processor/src/expr/errors.ts';
import type { NormalizedPipeline } from '../../../processor/src/spec/normalize.ts';
import { validateText } from '../../../processor/src/spec/validate.ts';

const record = {
  key: 'k1',
  partition: 3,
  offset: '42',
  timestamp: 1_700_000_000_000,
  headers: { source: 'web' },
};
const ctx = (event: unknown, enriched: Record<string, unknown> = {}): EvalContext => ({
  event,
  enriched,
  record,
});

function evalExpr(source: string, c: EvalContext) {
  const r = compileExpression(['spec', 'where'], source, { enriched: ['region'] });
  if (!r.compiled) throw new Error(r.problems.map((p) => p.message).join('; '));
  return r.compiled.evaluate(c);
}

function pipeline(spec: string): NormalizedPipeline {
  const text = `apiVersion: kappaflow.io/v1alpha1\nkind: Pipeline\nmetadata: { name: t }\nspec:\n  source: { topic: in }\n  window: { type: tumbling, size: 1m }\n${spec}`;
  const r = validateText(text);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  return r.pipelines[0]!.normalized;
}

describe('CEL evaluation over JSON events', () => {
  const event = JSON.parse(
    '{"status":200,"path":"/a","bytes":1024,"ratio":0.5,"tags":["x","y"],"user":{"id":"u1"},"nothing":null}',
  );

  it.each([
    ['event.status < 500', true],
    ['event.status == 200', true],
    ['event.status >= 200.0 && event.status < 300', true],
    ['event.status != 200', false],
    ['has(event.country)', false],
    ['has(event.path)', true],
    ['has(event.user.id)', true],
    ["event.path.startsWith('/a')", true],
    ["event.path.contains('b')", false],
    ["event.path + '!' == '/a!'", true],
    ["event.path.matches('^/[a-z]+$')", true],
    ["'x' in event.tags", true],
    ["event.tags.exists(t, t == 'y')", true],
    ['size(event.tags) == 2', true],
    ['event.bytes + 1 == 1025', true],
    ['event.bytes * 2 > 2000', true],
    ['event.ratio * 100 == 50', true],
    ['int(event.bytes) % 1000 == 24', true],
    ['event.nothing == null', true],
    ["record.partition == 3 && record.key == 'k1' && record.headers.source == 'web'", true],
    ["enriched.region == 'eu'", true],
    ["has(enriched.region) ? enriched.region : 'none'", 'eu'],
    ['event.path.upperAscii()', '/A'],
  ])('%s', (source, expected) => {
    expect(evalExpr(source, ctx(event, { region: 'eu' }))).toEqual(expected);
  });

  it('throws a typed error for a missing field, naming the path', () => {
    try {
      evalExpr("event.country == 'de'", ctx(event));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ExprEvalError);
      expect((e as ExprEvalError).path).toBe('spec.where');
      expect((e as ExprEvalError).reason).toMatch(/country/);
    }
  });

  it('throws a typed error for a runtime type mismatch', () => {
    expect(() => evalExpr('event.path + 1 == 2', ctx(event))).toThrow(ExprEvalError);
    expect(() => evalExpr('event.user < 3', ctx(event))).toThrow(ExprEvalError);
  });
});

describe('compilePipeline', () => {
  const p = pipeline(`  where: "event.status < 500"
  enrich:
    - lookup: { redisHash: "merchants:region", key: event.merchant, as: region }
  groupBy:
    page: event.path
    country: "has(event.country) ? event.country : 'unknown'"
    code: event.status
    region: enriched.region
  aggregates:
    views: { count: {} }
    bytes: { sum: event.bytes }
    p95: { percentile: event.latency, q: 0.95 }
    users: { countDistinct: event.user }
    refs: { topK: event.ref, k: 3 }
    first_path: { first: event.path }
    tags: { last: event.tags }
`);
  const c = compilePipeline(p);
  const ev = JSON.parse(
    '{"status":200,"path":"/a","bytes":10,"latency":3.5,"user":"u1","ref":"g","merchant":7,"tags":["a",1]}',
  );
  const base = ctx(ev, { region: 'eu' });

  it('evaluates where', () => {
    expect(c.where?.(base)).toBe(true);
    expect(c.where?.(ctx({ ...ev, status: 503 }))).toBe(false);
  });

  it('evaluates the group tuple in order, numbers without fractions', () => {
    expect(c.groupNames).toEqual(['page', 'country', 'code', 'region']);
    expect(c.groupBy(base)).toEqual(['/a', 'unknown', '200', 'eu']);
    expect(c.groupBy(ctx({ ...ev, country: 'de' }, { region: 'us' }))).toEqual(['/a', 'de', '200', 'us']);
  });

  it('turns enrich keys into strings', () => {
    expect(c.enrich[0]?.key(base)).toBe('7');
    expect(c.enrich[0]).toMatchObject({ as: 'region', redisHash: 'merchants:region', onMissing: 'keep' });
  });

  it('evaluates aggregate arguments with the right kinds', () => {
    const byName = Object.fromEntries(c.aggregates.map((a) => [a.name, a]));
    expect(byName.views).toEqual({ name: 'views', op: 'count' });
    const value = (name: string) => {
      const a = byName[name];
      if (a === undefined || a.op === 'count') throw new Error(name);
      return a.value(base);
    };
    expect(value('bytes')).toBe(10);
    expect(value('p95')).toBe(3.5);
    expect(value('users')).toBe('u1');
    expect(value('refs')).toBe('g');
    expect(value('first_path')).toBe('/a');
    expect(value('tags')).toEqual(['a', 1]);
    expect(byName.refs).toMatchObject({ k: 3 });
    expect(byName.p95).toMatchObject({ q: 0.95, accuracy: 0.01 });
  });

  it('refuses a non-number for numeric aggregates at runtime', () => {
    const sum = c.aggregates.find((a) => a.name === 'bytes');
    if (sum?.op !== 'sum') throw new Error('sum');
    expect(() => sum.value(ctx({ ...ev, bytes: '10' }))).toThrow(/expected a number, got the string "10"/);
  });

  it('refuses a where that does not give a bool at runtime', () => {
    const q = pipeline(`  where: event.flag\n  aggregates: { n: { count: {} } }\n`);
    expect(() => compilePipeline(q).where?.(ctx({ flag: 'yes' }))).toThrow(ExprEvalError);
    expect(compilePipeline(q).where?.(ctx({ flag: true }))).toBe(true);
  });

  it('sees updates to a reused context (enriched set after where, next event in the same object)', () => {
    const shared: EvalContext = { event: { ...ev }, record };
    expect(c.where?.(shared)).toBe(true);
    shared.enriched = { region: 'ap' };
    expect(c.groupBy(shared)[3]).toBe('ap');
    shared.enriched.region = 'us'; // mutated in place
    expect(c.groupBy(shared)[3]).toBe('us');
    shared.event = { ...ev, path: '/b', status: 503 };
    expect(c.where?.(shared)).toBe(false);
    expect(c.groupBy(shared)[0]).toBe('/b');
  });

  it('never reads inherited properties of events', () => {
    expect(() => c.groupBy(ctx({ ...ev, path: undefined }))).toThrow(ExprEvalError);
    const q = pipeline(
      `  where: "has(event.constructor) || has(event.toString)"\n  aggregates: { n: { count: {} } }\n`,
    );
    expect(compilePipeline(q).where?.(ctx({ a: 1 }))).toBe(false);
    expect(compilePipeline(q).where?.(ctx(JSON.parse('{"constructor": 1}')))).toBe(true);
  });

  it('reads nested objects and lists of objects', () => {
    const q = pipeline(
      `  where: "event.items.exists(i, i.sku == 'b' && i.qty > 1) && event.meta.geo.country == 'de' && size(event.meta) == 1"\n  aggregates: { n: { count: {} } }\n`,
    );
    const e = JSON.parse(
      '{"items":[{"sku":"a","qty":1},{"sku":"b","qty":2}],"meta":{"geo":{"country":"de"}}}',
    );
    expect(compilePipeline(q).where?.(ctx(e))).toBe(true);
  });

  it('has an empty group tuple without groupBy', () => {
    const q = pipeline(`  aggregates: { n: { count: {} } }\n`);
    expect(compilePipeline(q).groupBy(ctx({}))).toEqual([]);
    expect(compilePipeline(q).where).toBeUndefined();
  });

  it('reports every compile problem at once', () => {
    const bad: NormalizedPipeline = { ...p, where: 'evnt.x', groupBy: [{ name: 'a', expr: 'size(1)' }] };
    try {
      compilePipeline(bad);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ExprCompileError);
      expect((e as ExprCompileError).problems.map((x) => x.path)).toEqual(['spec.where', 'spec.groupBy.a']);
    }
  });
});

describe('compile-time checks with spec paths and positions', () => {
  const header =
    'apiVersion: kappaflow.io/v1alpha1\nkind: Pipeline\nmetadata: { name: t }\nspec:\n  source: { topic: in }\n  window: { type: tumbling, size: 1m }\n';
  const errorsOf = (spec: string) => validateText(header + spec, 'x.yaml').errors;

  it.each([
    ['  where: "event.a =="\n  aggregates: { n: { count: {} } }\n', 'spec.where', 'invalid CEL'],
    ['  where: "evnt.a"\n  aggregates: { n: { count: {} } }\n', 'spec.where', 'did you mean event?'],
    [
      '  where: "\'a\' + 1 == 2"\n  aggregates: { n: { count: {} } }\n',
      'spec.where',
      'operator + does not accept (string, int)',
    ],
    [
      "  where: \"size('a', 'b') > 1\"\n  aggregates: { n: { count: {} } }\n",
      'spec.where',
      'size cannot be called like this',
    ],
    ['  where: "\'a\'"\n  aggregates: { n: { count: {} } }\n', 'spec.where', 'must be a condition'],
    [
      '  where: "event.a.startsWith(1)"\n  aggregates: { n: { count: {} } }\n',
      'spec.where',
      'startsWith does not accept (dyn, int)',
    ],
    [
      '  where: "event.a && \'x\'"\n  aggregates: { n: { count: {} } }\n',
      'spec.where',
      '&& needs true/false',
    ],
    [
      '  groupBy: { a: "[1, 2].map(x, y)" }\n  aggregates: { n: { count: {} } }\n',
      'spec.groupBy.a',
      'unknown name "y"',
    ],
    [
      "  aggregates: { n: { sum: \"size('abc') + 'x'\" } }\n",
      'spec.aggregates.n.sum',
      'does not accept (int, string)',
    ],
    ['  aggregates: { n: { max: "event.a.lowerAscii()" } }\n', 'spec.aggregates.n.max', 'must give a number'],
    [
      '  aggregates: { n: { countDistinct: "enriched.zone" } }\n',
      'spec.aggregates.n.countDistinct',
      'enriched.zone is not available',
    ],
  ])('%s', (spec, path, message) => {
    const errors = errorsOf(spec);
    expect(
      errors.find((e) => e.path === path && e.message.includes(message)),
      JSON.stringify(errors),
    ).toBeDefined();
  });

  it('accepts comprehension variables and macros', () => {
    expect(
      errorsOf(
        '  where: "event.items.all(i, i.qty > 0) && event.items.exists(i, i.sku == \'a\')"\n  aggregates: { n: { count: {} } }\n',
      ),
    ).toEqual([]);
  });

  it('points at the column of the problem inside the expression', () => {
    const [err] = errorsOf('  where: "event.a < 3 && evnt.b"\n  aggregates: { n: { count: {} } }\n');
    // `  where: "` is 10 characters; evnt starts at index 15 of the expression.
    expect(err).toMatchObject({ line: 7, column: 11 + 15, path: 'spec.where' });
  });
});
