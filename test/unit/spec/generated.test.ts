// The checked-in CRD and reference docs match what the schema generates, and the CRD is structural
// with rules that hold for valid specs and catch invalid ones.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isCelError, run } from '@bufbuild/cel';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildCrd, CRD_PATH, renderCrd } from '../../../processor/src/spec/crd.ts';
import { DOCS_PATH, renderSpecDocs } from '../../../processor/src/spec/docs.ts';
import { validateText } from '../../../processor/src/spec/validate.ts';

const root = join(import.meta.dirname, '../../..');
type Json = Record<string, unknown>;

const crd = buildCrd() as Json;
const version = ((crd.spec as Json).versions as Json[])[0] as Json;
const openApi = (version.schema as Json).openAPIV3Schema as Json;

function* nodes(s: Json, path = ''): Generator<[string, Json]> {
  yield [path, s];
  for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, Json>))
    yield* nodes(v, `${path}.${k}`);
  if (s.items) yield* nodes(s.items as Json, `${path}[]`);
  if (typeof s.additionalProperties === 'object') yield* nodes(s.additionalProperties as Json, `${path}.*`);
}

/** Evaluates every x-kubernetes-validations rule where the value exists; returns the failing ones. */
function failingRules(schema: Json, value: unknown, path = ''): string[] {
  const failures: string[] = [];
  for (const r of (schema['x-kubernetes-validations'] ?? []) as { rule: string }[]) {
    const out = run(r.rule, { self: value as never });
    if (out !== true) failures.push(`${path}: ${r.rule} -> ${isCelError(out) ? out.message : String(out)}`);
  }
  if (value !== null && typeof value === 'object') {
    const props = (schema.properties ?? {}) as Record<string, Json>;
    for (const [k, v] of Object.entries(value as Json)) {
      const sub = Array.isArray(value)
        ? (schema.items as Json | undefined)
        : (props[k] ?? (schema.additionalProperties as Json | undefined));
      if (sub && typeof sub === 'object') failures.push(...failingRules(sub, v, `${path}.${k}`));
    }
  }
  return failures;
}

describe('generated files', () => {
  it(`${CRD_PATH} is up to date (node --import tsx scripts/gen-crd.ts)`, () => {
    expect(readFileSync(join(root, CRD_PATH), 'utf8')).toBe(renderCrd());
  });

  it(`${DOCS_PATH} is up to date (node --import tsx scripts/gen-spec-docs.ts)`, () => {
    expect(readFileSync(join(root, DOCS_PATH), 'utf8')).toBe(renderSpecDocs());
  });

  it('the docs mention every spec field', () => {
    const docs = renderSpecDocs();
    const spec = (openApi.properties as Json).spec as Json;
    for (const [path] of nodes(spec, 'spec')) {
      if (path.includes('*') || path.includes('[]')) continue;
      expect(docs, path).toContain(`\`${path}\``);
    }
  });
});

describe('CRD', () => {
  it('declares the group, names, subresources and printer columns', () => {
    expect((crd.metadata as Json).name).toBe('pipelines.kappaflow.io');
    expect(crd.spec).toMatchObject({
      group: 'kappaflow.io',
      names: { kind: 'Pipeline', plural: 'pipelines', shortNames: ['kfp'] },
    });
    expect(version).toMatchObject({
      name: 'v1alpha1',
      served: true,
      storage: true,
      subresources: {
        status: {},
        scale: {
          specReplicasPath: '.spec.replicas',
          statusReplicasPath: '.status.replicas',
          labelSelectorPath: '.status.selector',
        },
      },
    });
    expect((version.additionalPrinterColumns as Json[]).map((c) => c.name)).toEqual([
      'Replicas',
      'Lag',
      'Watermark',
      'Active',
      'Replaying',
      'ETA(s)',
      'Ready',
      'Age',
    ]);
  });

  it('is structural: typed nodes, no $ref/oneOf/anyOf/const, maps only through additionalProperties', () => {
    const text = JSON.stringify(openApi);
    for (const word of ['"$ref"', '"oneOf"', '"anyOf"', '"allOf"', '"const"', '"propertyNames"', '"$schema"'])
      expect(text).not.toContain(word);
    for (const [path, node] of nodes(openApi)) {
      expect(node.type, `${path} has a type`).toBeTypeOf('string');
      if (node.properties)
        expect(
          node.additionalProperties,
          `${path}: properties and additionalProperties are exclusive`,
        ).toBeUndefined();
      if (node.additionalProperties !== undefined) expect(node.additionalProperties).toBeTypeOf('object');
      if (node.exclusiveMinimum !== undefined) expect(node.exclusiveMinimum).toBe(true);
    }
    const spec = (openApi.properties as Json).spec as Json;
    expect(((spec.properties as Json).replicas as Json).type).toBe('integer');
  });

  it('every rule holds for the examples (with defaults applied, as the API server stores them)', () => {
    for (const file of ['page-views.yaml', 'orders-hopping.yaml', 'sessions.yaml']) {
      const r = validateText(readFileSync(join(root, 'examples', file), 'utf8'));
      const obj = JSON.parse(JSON.stringify(r.pipelines[0]?.pipeline)) as Json;
      expect(failingRules(openApi, obj), file).toEqual([]);
    }
  });

  it.each([
    [
      'maxReplicas below minReplicas',
      (s: Json) => Object.assign(s.scaling as Json, { minReplicas: 5, maxReplicas: 2 }),
      'maxReplicas >= self.minReplicas',
    ],
    [
      'two aggregate operators',
      (s: Json) => Object.assign((s.aggregates as Json).views as Json, { sum: 'event.x' }),
      'filter(x, x).size() == 1',
    ],
    [
      'percentile without q',
      (s: Json) => delete ((s.aggregates as Json).p95_latency as Json).q,
      'has(self.percentile) == has(self.q)',
    ],
    [
      'a bad aggregate name',
      (s: Json) => Object.assign(s.aggregates as Json, { 'bad-name': { count: {} } }),
      'k.matches',
    ],
    [
      'a reserved group name',
      (s: Json) => Object.assign(s.groupBy as Json, { from: 'event.x' }),
      'k.matches',
    ],
    [
      'both topic and topics',
      (s: Json) => Object.assign(s.source as Json, { topics: ['a'] }),
      'has(self.topic) != has(self.topics)',
    ],
    [
      'a session window with size',
      (s: Json) => Object.assign(s.window as Json, { type: 'session', gap: '1m' }),
      "self.type == 'session'",
    ],
    ['replicas in auto mode', (s: Json) => Object.assign(s, { replicas: 3 }), 'self.replicas'],
    [
      'dead letter to the source topic',
      (s: Json) => Object.assign(s.deadLetter as Json, { topic: 'page-views' }),
      'self.deadLetter.topic',
    ],
    [
      'credentials in the Redis URL',
      (s: Json) => Object.assign(s, { redis: { url: 'redis://u:p@h:6379' } }),
      "contains('@')",
    ],
  ])('a rule refuses %s', (_name, mutate, rulePart) => {
    const r = validateText(readFileSync(join(root, 'examples/page-views.yaml'), 'utf8'));
    const obj = JSON.parse(JSON.stringify(r.pipelines[0]?.pipeline)) as Json;
    mutate(obj.spec as Json);
    const failures = failingRules(openApi, obj);
    expect(
      failures.some((f) => f.includes(rulePart)),
      failures.join('\n'),
    ).toBe(true);
  });

  it('round-trips through YAML', () => {
    expect(parse(renderCrd())).toEqual(crd);
  });
});
