import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serveQueryApi } from '../../../harness/query-api.ts';
import { PipelineWriter, randomEvents } from '../../../harness/query-fixture.ts';
import type { RunningServer } from '../../../processor/src/http/app.ts';
import { openApiDocument } from '../../../processor/src/http/openapi.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { createResponseValidator } from './openapi-check.ts';

const BASE = Date.UTC(2024, 4, 1, 12, 0, 0);
const validate = createResponseValidator();

interface Parameter {
  name: string;
  in: 'path' | 'query';
  schema: { type?: string; minimum?: number; maximum?: number; examples?: string[]; enum?: string[] };
}

/** The JSON GET operations of /openapi.json (the stream, metrics and the page are not JSON). */
const operations = Object.entries(
  openApiDocument.paths as unknown as Record<string, { get?: { parameters?: Parameter[] } }>,
)
  .filter(([path, ops]) => ops.get && path.startsWith('/api/'))
  .filter(([path]) => !path.endsWith('/stream'))
  .map(([path, ops]) => ({ path, parameters: ops.get!.parameters ?? [] }));

/** Hostile strings: empty, huge, control characters, unicode, percent signs, numbers out of range. */
const junk = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom(
    '',
    '-1',
    '0',
    '1e400',
    '9'.repeat(40),
    'NaN',
    'null',
    '%',
    '..',
    '../..',
    '[]',
    '{}',
    '\u0000',
  ),
  fc.integer({ min: 1, max: 8000 }).map((n) => 'x'.repeat(n)),
);

function valueFor(parameter: Parameter, name: string): fc.Arbitrary<string> {
  const s = parameter.schema ?? {};
  const fitting: fc.Arbitrary<string>[] = [junk];
  if (parameter.in === 'path') fitting.push(fc.constant(name));
  if (s.examples?.length) fitting.push(fc.constantFrom(...s.examples));
  if (s.enum?.length) fitting.push(fc.constantFrom(...s.enum));
  if (s.type === 'integer')
    fitting.push(fc.integer({ min: (s.minimum ?? 0) - 5, max: (s.maximum ?? 1000) + 5 }).map(String));
  if (parameter.name === 'from' || parameter.name === 'to')
    fitting.push(fc.integer({ min: BASE - 600_000, max: BASE + 600_000 }).map(String));
  if (parameter.name === 'aggregate') fitting.push(fc.constantFrom('orders', 'revenue', 'visitors', 'p90'));
  return fc.oneof(...fitting);
}

let redis: RedisClient;
let api: RunningServer;
let writer: PipelineWriter;

beforeAll(async () => {
  redis = connectRedis(inject('redisUrl'));
  writer = new PipelineWriter(redis, { partitions: 2 });
  await writer.register();
  const events = randomEvents(7, { base: BASE, windows: 3, count: 200 }).sort((a, b) => a.time - b.time);
  await writer.commitSpread(events);
  api = await serveQueryApi(redis);
});

afterAll(async () => {
  await api?.close();
  redis?.disconnect();
});

/**
 * Requests generated from /openapi.json itself: every operation, its parameters filled with values
 * that fit the schema, values that do not, and junk, plus unknown parameters. No answer may be a
 * 5xx, and every JSON answer must be one the document declares, with the declared shape.
 */
describe('query API fuzzed from its OpenAPI document', () => {
  it('never answers 5xx and always answers as the document says', { timeout: 120_000 }, async () => {
    const request = fc.constantFrom(...operations).chain((op) =>
      fc.record({
        op: fc.constant(op),
        values: fc.tuple(
          ...op.parameters.map((p) => fc.option(valueFor(p, writer.name), { nil: undefined, freq: 3 })),
        ),
        groups: fc.dictionary(fc.constantFrom('country', 'device', 'nope', 'limit'), junk, { maxKeys: 2 }),
        extra: fc.option(fc.tuple(fc.string({ maxLength: 10 }), junk), { nil: undefined }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(request, async ({ op, values, groups, extra }) => {
        let path = op.path;
        const query = new URLSearchParams();
        op.parameters.forEach((p, i) => {
          const v = values[i] as string | undefined;
          // An empty segment would be another route (`/pipelines/` is the list), not this operation.
          if (p.in === 'path') path = path.replace(`{${p.name}}`, encodeURIComponent(v || writer.name));
          else if (v !== undefined && p.name !== 'groupFilter') query.set(p.name, v);
        });
        if (op.parameters.some((p) => p.name === 'groupFilter'))
          for (const [k, v] of Object.entries(groups)) query.set(k, v);
        if (extra) query.set(extra[0], extra[1]);
        const url = `${api.url}${path}${query.size > 0 ? `?${query}` : ''}`;
        const res = await fetch(url);
        const text = await res.text();
        expect(res.status, `${url.slice(0, 300)} -> ${text.slice(0, 300)}`).toBeLessThan(500);
        if (res.headers.get('content-type')?.includes('json'))
          validate(op.path, res.status, JSON.parse(text));
      }),
      { numRuns: Number(process.env.KAPPAFLOW_FUZZ_RUNS ?? 300), seed: 20261128 },
    );
  });

  it('refuses oversized URLs and headers with a 4xx', async () => {
    const long = await fetch(
      `${api.url}/api/v1/pipelines/${writer.name}/windows?country=${'x'.repeat(100_000)}`,
    );
    expect(long.status).toBeGreaterThanOrEqual(400);
    expect(long.status).toBeLessThan(500);
    const header = await fetch(`${api.url}/api/v1/pipelines`, { headers: { 'x-junk': 'y'.repeat(100_000) } });
    expect(header.status).toBeGreaterThanOrEqual(400);
    expect(header.status).toBeLessThan(500);
  });
});
