// The corpus of broken specs: each must fail with the right path, line and a useful message.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatSpecError } from '../../../processor/src/spec/errors.ts';
import { validateFile, validateText } from '../../../processor/src/spec/validate.ts';

const dir = join(import.meta.dirname, 'broken');

/** file -> [line, path, message substring] of an error that must be reported. */
const expected: Record<string, [number, string, string]> = {
  'aggregate-bad-name': [19, 'spec.aggregates["page-views"]', 'cannot be an aggregate name'],
  'aggregate-no-operator': [19, 'spec.aggregates.views', 'an aggregate needs one operator'],
  'aggregate-reserved-name': [19, 'spec.aggregates.in', 'reserved word in CEL'],
  'aggregate-two-operators': [19, 'spec.aggregates.views.max', 'exactly one operator, got count and max'],
  'aggregates-empty': [18, 'spec.aggregates', 'at least one aggregate'],
  'api-version': [1, 'apiVersion', 'expected apiVersion kappaflow.io/v1alpha1, got "kappaflow.io/v1"'],
  'cel-sum-string': [20, 'spec.aggregates.bytes.sum', 'must give a number'],
  'cel-syntax': [11, 'spec.where', 'invalid CEL'],
  'cel-type-error': [
    20,
    'spec.aggregates.bytes.sum',
    'must give a number, but this expression gives a string',
  ],
  'cel-unknown-function': [13, 'spec.groupBy.page', 'unknown function "lower"'],
  'cel-unknown-variable': [11, 'spec.where', 'unknown name "evt"'],
  'cel-where-enriched': [11, 'spec.where', 'where runs before enrich'],
  'cel-where-not-bool': [11, 'spec.where', 'must be a condition'],
  'dead-letter-is-source': [22, 'spec.deadLetter.topic', 'also a source topic'],
  'duplicate-key': [18, '', 'Map keys must be unique'],
  'duration-number': [16, 'spec.window.size', 'expected a duration like'],
  'duration-order': [16, 'spec.window.size', 'got "30s1m"'],
  'duration-words': [
    16,
    'spec.window.size',
    'expected a duration like 500ms, 10s, 1m, 1h30m or 7d, got "1 minute"',
  ],
  'duration-zero-size': [16, 'spec.window.size', 'must be longer than 0'],
  empty: [1, '', 'no Pipeline found'],
  'enrich-duplicate-as': [14, 'spec.enrich[1].lookup.as', 'already set by an earlier lookup'],
  'enrich-unknown-enriched': [13, 'spec.groupBy.page', 'enriched.region is not available'],
  'event-time-field': [10, 'spec.source.eventTime.field', 'got "meta ts"'],
  'registry-missing': [6, 'spec.source.schemaRegistry', 'format avro needs schemaRegistry'],
  'sink-avro-no-registry': [19, 'spec.sink.format', 'add sink.schemaRegistry'],
  'sink-registry-unused': [21, 'spec.sink.schemaRegistry', 'only read with sink format avro'],
  'registry-creds-in-url': [10, 'spec.source.schemaRegistry.url', 'must not contain credentials'],
  'message-type-not-protobuf': [11, 'spec.source.messageType', 'messageType needs format: protobuf'],
  'key-format-unknown': [
    10,
    'spec.source.key.format',
    'expected one of string, json, avro, protobuf, jsonSchema, none, got "bytes"',
  ],
  'key-registry-unused': [10, 'spec.source.schemaRegistry', 'only read with format (or key.format) avro'],
  'key-registry-missing': [10, 'spec.source.key.format', 'key.format avro needs schemaRegistry'],
  'key-message-type-not-protobuf': [
    13,
    'spec.source.key.messageType',
    'key.messageType needs key.format: protobuf',
  ],
  'format-unknown': [
    8,
    'spec.source.format',
    'expected one of json, text, avro, protobuf, jsonSchema, got "parquet"',
  ],
  'group-reserved': [13, 'spec.groupBy.from', 'is reserved'],
  // not one of the names first reserved, but a parameter of /windows: ?order= could never filter it
  'group-query-param': [
    14,
    'spec.groupBy.order',
    '"order" is one of its own parameters, so the group could never be filtered by (reserved: access_token, aggregate, cursor, from, limit, order, rollup, to, version, window)',
  ],
  'hopping-advance-too-long': [17, 'spec.window.advance', 'must not be longer than size'],
  'hopping-missing-advance': [14, 'spec.window.advance', 'missing required field advance'],
  'hopping-not-divisor': [17, 'spec.window.advance', '15m is not a multiple of 7m (try 5m)'],
  'k-without-topk': [20, 'spec.aggregates.bytes.k', 'k only applies to topK'],
  'multi-doc-duplicate-name': [30, 'metadata.name', 'already defined on line 1'],
  'multi-doc-second-bad': [43, 'spec.window.grace', 'got "-5s"'],
  'name-too-long': [4, 'metadata.name', 'at most 40 characters'],
  'name-uppercase': [4, 'metadata.name', 'not a valid pipeline name'],
  'not-a-mapping': [1, '', 'got a list'],
  'percentile-no-q': [20, 'spec.aggregates.bytes.q', 'percentile needs q'],
  'percentile-q-range': [20, 'spec.aggregates.bytes.q', 'between 0 and 1'],
  'rankby-dup': [21, 'spec.rankBy[1]', 'rankBy lists "views" twice'],
  'rankby-distinct': [
    22,
    'spec.rankBy[1]',
    'users is a countDistinct aggregate; only count, sum, min, max and percentile',
  ],
  'rankby-unknown': [21, 'spec.rankBy[1]', 'not an aggregate of this pipeline (views, bytes)'],
  'redis-url-password': [24, 'spec.redis.url', 'must not contain credentials'],
  'redis-username-key': [12, 'spec.redis.secretRef.usernameKey', '"user name" is not a valid Secret key'],
  'kafka-brokers-empty': [12, 'spec.kafka.brokers', 'list at least one broker'],
  'redis-cluster-database': [12, 'spec.redis.url', 'Redis Cluster has only database 0'],
  'redis-wait-replicas': [24, 'spec.redis.waitForReplicas', '5'],
  'reprocessing-dead-letter-ratio': [
    24,
    'spec.reprocessing.maxDeadLetterRatio',
    'expected a fraction between 0 and 1 (e.g. 0.01 for 1%), got 5',
  ],
  'reprocessing-promotion': [24, 'spec.reprocessing.promotion', 'expected auto or manual, got "later"'],
  'replicas-in-auto': [23, 'spec.replicas', 'only used with scaling.mode: external'],
  'retention-too-short': [21, 'spec.retention', 'at least the window size plus grace'],
  'sasl-inline-password': [26, 'spec.kafka.sasl.password', 'unknown field "password"'],
  'scaling-max-below-min': [25, 'spec.scaling.maxReplicas', 'must be at least'],
  'scaling-min-gt-max': [25, 'spec.scaling.maxReplicas', 'maxReplicas (4) must be at least minReplicas (8)'],
  'scaling-not-int': [25, 'spec.scaling.maxReplicas', 'whole number'],
  'session-with-size': [16, 'spec.window.size', 'unknown field "size"'],
  'session-group-enriched': [14, 'spec.groupBy.region', 'a session window groups records before enrich runs'],
  'sink-delivery': [23, 'spec.sink.delivery', 'expected atLeastOnce or exactlyOnce, got "exactly-once"'],
  'source-no-topic': [6, 'spec.source.topic', 'source needs a topic'],
  'source-topic-and-topics': [8, 'spec.source.topics', 'either topic or topics'],
  'topic-space': [7, 'spec.source.topic', 'not a valid Kafka topic name'],
  'topk-k-range': [20, 'spec.aggregates.bytes.k', 'from 1 to 1000'],
  'unknown-spec-field': [12, 'spec.groupby', '(did you mean "groupBy"?)'],
  // each unknown key gets its own message, whether or not a known field is close
  'unknown-fields-two': [9, 'spec.source.topicc', 'unknown field "topicc" (did you mean "topic"?)'],
  'aggregate-count-null': [10, 'spec.aggregates.views.count', 'expected an empty object {}, got null'],
  'window-missing-size': [14, 'spec.window.size', 'missing required field size'],
  'window-missing-type': [14, 'spec.window.type', 'window needs a type'],
  'window-typo-field': [16, 'spec.window.sise', '(did you mean "size"?)'],
  'window-whole-ranks-tumbling': [18, 'spec.window.rankWholeWindows', 'unknown field "rankWholeWindows"'],
  'window-unknown-type': [
    15,
    'spec.window.type',
    'expected one of tumbling, hopping, session, got "sliding"',
  ],
};

describe('broken specs', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

  it('has a corpus of at least 30 files, each with an expectation', () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
    expect(files.map((f) => f.replace(/\.yaml$/, '')).sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))('%s', async (name, [line, path, message]) => {
    const r = await validateFile(join(dir, `${name}.yaml`));
    expect(r.ok).toBe(false);
    const rendered = r.errors.map(formatSpecError).join('\n');
    const match = r.errors.find((e) => e.path === path && e.message.includes(message));
    expect(match, `expected ${path}: ...${message}... in\n${rendered}`).toBeDefined();
    expect(match?.line, rendered).toBe(line);
    expect(match?.column).toBeGreaterThanOrEqual(1);
    // Every error points inside the file.
    for (const e of r.errors) expect(e.file).toBe(join(dir, `${name}.yaml`));
  });
});

// Not well-formed YAML cannot live in broken/ (the repository's formatter parses every .yaml file).
describe('malformed YAML', () => {
  it.each([
    [
      'a bad indentation',
      'apiVersion: kappaflow.io/v1alpha1\nkind: Pipeline\nspec:\n  groupBy:\n    page: event.path\n   bad: [unclosed\n',
      6,
    ],
    [
      'an unclosed quote',
      'apiVersion: kappaflow.io/v1alpha1\nkind: Pipeline\nmetadata:\n  name: "page-views\n',
      5,
    ],
    ['a tab indentation', 'apiVersion: kappaflow.io/v1alpha1\nkind: Pipeline\nspec:\n\tsource: {}\n', 4],
  ])('reports %s with its line', (_name, text, line) => {
    const r = validateText(text, 'm.yaml');
    expect(r.ok).toBe(false);
    const first = r.errors[0];
    expect(first?.message).toMatch(/^invalid YAML: /);
    expect(first?.path).toBe('');
    expect(first?.line).toBeLessThanOrEqual(line);
    expect(first?.line).toBeGreaterThanOrEqual(line - 2);
  });
});
