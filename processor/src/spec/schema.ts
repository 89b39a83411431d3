// The Pipeline resource: the single source of truth for the YAML files, the CRD and the docs.
import { z } from 'zod';
import { AGGREGATE_OPERATOR_NAMES, aggregatesSchema, RANK_INDEX_OPERATORS } from './aggregates.ts';
import { kafkaSchema, redisSchema } from './connections.ts';
import { tryParseDuration } from './duration.ts';
import { enrichSchema } from './enrich.ts';
import {
  celExpression,
  duration,
  identifier,
  identifierKeysRule,
  k8sRules,
  strictObject,
  topicName,
} from './fields.ts';
import { PIPELINE_NAME_MAX, PIPELINE_NAME_PATTERN, pipelineNameProblem, QUERY_RESERVED } from './names.ts';
import { reprocessingSchema } from './reprocessing.ts';
import { scalingSchema } from './scaling.ts';
import { sinkRegistrySchema } from './schema-registry.ts';
import { show } from './show.ts';
import { sourceSchema } from './source.ts';
import { windowSchema } from './window.ts';

export const API_GROUP = 'kappaflow.io';
export const API_VERSION = 'v1alpha1';
export const KIND = 'Pipeline';
export const API_VERSION_FULL = `${API_GROUP}/${API_VERSION}`;
export const DEFAULT_RETENTION = '7d';
export const MAX_GROUP_BY = 8;

export const groupBySchema = z
  .record(
    identifier('a group name', QUERY_RESERVED),
    celExpression('A CEL expression for one part of the group key.'),
    {
      error: (iss) =>
        iss.code === 'invalid_type'
          ? `expected a map of group name to CEL expression, e.g. page: event.path, got ${show(iss.input)}`
          : undefined,
    },
  )
  .refine((r) => Object.keys(r).length <= MAX_GROUP_BY, { error: `at most ${MAX_GROUP_BY} groupBy fields` })
  .meta({ ...k8sRules(identifierKeysRule('group name', QUERY_RESERVED)), maxProperties: MAX_GROUP_BY })
  .describe(
    'Named CEL expressions; their values (as strings) form the group key. Omit for one global group. Names are query parameters of the HTTP API.',
  );

const topicTarget = (what: string) => strictObject({ topic: topicName.describe(`The topic ${what}.`) });

export const SINK_DELIVERIES = ['atLeastOnce', 'exactlyOnce'] as const;

export const pipelineSpecSchema = strictObject({
  source: sourceSchema,
  where: celExpression(
    'CEL condition; events for which it is false are skipped (e.g. `event.status < 500`).',
  ).optional(),
  enrich: enrichSchema.optional(),
  groupBy: groupBySchema.optional(),
  window: windowSchema,
  aggregates: aggregatesSchema,
  rankBy: z
    .array(z.string({ error: (iss) => `expected an aggregate name, got ${show(iss.input)}` }), {
      error: (iss) => `expected a list of aggregate names, e.g. [orders, revenue], got ${show(iss.input)}`,
    })
    .max(16, { error: 'at most 16 aggregates in rankBy' })
    .optional()
    .describe(
      'The aggregates the query API ranks groups by from an index kept at commit time (`top?aggregate=<name>` reads O(k) entries per window part instead of every group): `count`, `sum`, `min`, `max` or `percentile` aggregates. The index of a percentile holds, per partition, an upper bound of the value of each group (its upper quantile), and `top` reads the exact values of the groups it has to compare (tumbling and hopping windows; the processor computes the bounds, so it costs replica CPU per touched group and batch). Each costs Redis work on every commit (a sorted-set update per touched group); `top` by an aggregate not listed scans the window. Default: the `count` aggregates; `[]`: none. Session windows keep no index (`top` scans their sessions), so it is ignored there and changes nothing. Part of the logic: changing it starts a new version that replays the log (listing exactly the `count` aggregates, in any order, is the default and changes nothing).',
    ),
  retention: duration(1)
    .default(DEFAULT_RETENTION)
    .describe(
      'How long windows are kept in Redis after they end: listed and queryable until the watermark is this far past their end (event time), and deleted this long after they close (wall clock). Session windows: a closed session is listed until the watermark is this far past its start, an open one always. Must be at least the window size plus grace.',
    ),
  deadLetter: topicTarget(
    'that receives unparseable, failing and late records, with the reason, partition and offset in headers',
  )
    .optional()
    .describe(
      'Where bad records go. Without it they are only counted (metric `kappaflow_dead_letter_records_total`) and logged.',
    ),
  sink: strictObject({
    topic: topicName.describe(
      'The topic that receives, when a window closes, one record per group and source partition (`kf-partial: true`, with `kf-window-start` and `kf-partition` headers: a consumer merges the partials of a group; see docs/exactly-once.md) with the `count`, `sum`, `min`, `max`, `avg`, `first` and `last` aggregates (sketches stay in Redis: a pipeline with only `countDistinct`, `percentile` or `topK` aggregates publishes none).',
    ),
    format: z
      .enum(['json', 'avro'], {
        error: (iss) => `expected sink format json or avro, got ${show(iss.input)}`,
      })
      .default('json')
      .describe(
        '`json`: each record value is a JSON object. `avro`: the same fields as an Avro record in the Confluent wire format, its schema (derived from the pipeline) registered under `<topic>-value` at start in `schemaRegistry` (or `source.schemaRegistry`) (see docs/avro-protobuf.md).',
      ),
    schemaRegistry: sinkRegistrySchema.optional(),
    delivery: z
      .enum(SINK_DELIVERIES, {
        error: (iss) => `expected atLeastOnce or exactlyOnce, got ${show(iss.input)}`,
      })
      .default('atLeastOnce')
      .describe(
        '`atLeastOnce`: a crash between the Redis commit and the publish repeats the window\'s records. `exactlyOnce`: each partition publishes its closed windows in Kafka transactions that also record how far it got (consumer group `<pipeline group>.sink`), so a `read_committed` consumer sees every closed window exactly once across crashes; needs a broker with transactions (see docs/exactly-once.md, "Sink topic").',
      ),
  })
    .optional()
    .describe('Publish closed windows to a Kafka topic, so later pipelines can build on them.'),
  scaling: scalingSchema.default({
    mode: 'auto',
    minReplicas: 1,
    maxReplicas: 10,
    lagThreshold: 5000,
    catchUpSeconds: 300,
    scaleDownStabilization: '5m',
  }),
  reprocessing: reprocessingSchema.default({ promotion: 'auto', maxRestarts: 3 }),
  replicas: z
    .number({ error: (iss) => `expected a whole number of replicas, got ${show(iss.input)}` })
    .int({ error: (iss) => `expected a whole number of replicas, got ${show(iss.input)}` })
    .min(0, { error: (iss) => `replicas must be 0 or more, got ${show(iss.input)}` })
    .max(1000, { error: (iss) => `replicas must be at most 1000, got ${show(iss.input)}` })
    .optional()
    .describe(
      'Replica count when `scaling.mode` is `external` (set by `kubectl scale` or an HPA through the scale subresource).',
    ),
  kafka: kafkaSchema.optional(),
  redis: redisSchema.optional(),
})
  .superRefine((spec, ctx) => {
    const w = spec.window;
    const span =
      (tryParseDuration(w.type === 'session' ? w.gap : w.size) ?? 0) + (tryParseDuration(w.grace) ?? 0);
    const retention = tryParseDuration(spec.retention);
    if (retention !== undefined && retention < span) {
      ctx.addIssue({
        code: 'custom',
        path: ['retention'],
        message: `retention (${spec.retention}) must be at least the window ${w.type === 'session' ? 'gap' : 'size'} plus grace, or windows would expire before they close`,
      });
    }
    spec.rankBy?.forEach((name, i) => {
      const aggregate = spec.aggregates[name] as Record<string, unknown> | undefined;
      const operator = AGGREGATE_OPERATOR_NAMES.find((op) => aggregate?.[op] !== undefined);
      if (!aggregate) {
        ctx.addIssue({
          code: 'custom',
          path: ['rankBy', i],
          message: `rankBy names ${show(name)}, which is not an aggregate of this pipeline (${Object.keys(spec.aggregates).join(', ')})`,
        });
      } else if (operator && !RANK_INDEX_OPERATORS.includes(operator)) {
        ctx.addIssue({
          code: 'custom',
          path: ['rankBy', i],
          message: `rankBy: ${name} is a ${operator} aggregate; only count, sum, min, max and percentile aggregates can be ranked from an index (top by ${name} still works, by scanning)`,
        });
      }
      if (spec.rankBy!.indexOf(name) !== i) {
        ctx.addIssue({ code: 'custom', path: ['rankBy', i], message: `rankBy lists ${show(name)} twice` });
      }
    });
    const sources = spec.source.topics ?? (spec.source.topic === undefined ? [] : [spec.source.topic]);
    for (const key of ['sink', 'deadLetter'] as const) {
      const topic = spec[key]?.topic;
      if (topic !== undefined && sources.includes(topic)) {
        ctx.addIssue({
          code: 'custom',
          path: [key, 'topic'],
          message: `${key} topic ${show(topic)} is also a source topic; the pipeline would read its own output`,
        });
      }
    }
    if (
      spec.sink?.format === 'avro' &&
      (spec.sink.schemaRegistry ?? spec.source.schemaRegistry) === undefined
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['sink', 'format'],
        message:
          'sink format avro registers its schema in a Schema Registry; add sink.schemaRegistry: { url: http://registry:8081 } or use format json',
      });
    }
    // as source.schemaRegistry without a registry format: a registry given but never used is a mistake
    if (spec.sink?.schemaRegistry !== undefined && spec.sink.format !== 'avro') {
      ctx.addIssue({
        code: 'custom',
        path: ['sink', 'schemaRegistry'],
        message: `sink.schemaRegistry is only read with sink format avro, not ${spec.sink.format}; remove it or set sink.format: avro`,
      });
    }
    if (spec.replicas !== undefined && spec.scaling.mode !== 'external') {
      ctx.addIssue({
        code: 'custom',
        path: ['replicas'],
        message: 'replicas is only used with scaling.mode: external; remove it or set scaling.mode: external',
      });
    }
  })
  .meta(
    k8sRules(
      {
        rule: "!has(self.replicas) || (has(self.scaling) && self.scaling.mode == 'external')",
        message: 'spec.replicas is only used with scaling.mode external',
        fieldPath: '.replicas',
      },
      {
        rule: '!has(self.sink) || ((!has(self.source.topic) || self.sink.topic != self.source.topic) && (!has(self.source.topics) || !(self.sink.topic in self.source.topics)))',
        message: 'the sink topic must not be a source topic',
      },
      {
        rule: "!has(self.sink) || !has(self.sink.format) || self.sink.format != 'avro' || has(self.sink.schemaRegistry) || has(self.source.schemaRegistry)",
        message: 'sink format avro needs sink.schemaRegistry (or source.schemaRegistry)',
        fieldPath: '.sink.format',
      },
      {
        rule: '!has(self.deadLetter) || ((!has(self.source.topic) || self.deadLetter.topic != self.source.topic) && (!has(self.source.topics) || !(self.deadLetter.topic in self.source.topics)))',
        message: 'the deadLetter topic must not be a source topic',
      },
    ),
  )
  .describe('What the pipeline reads, computes and where its results go.');

export const pipelineMetadataSchema = z
  .looseObject({
    name: z
      .string({ error: (iss) => `expected a pipeline name, got ${show(iss.input)}` })
      .max(PIPELINE_NAME_MAX, {
        error: (iss) => pipelineNameProblem(String(iss.input)) ?? 'too long',
        abort: true,
      })
      .regex(new RegExp(PIPELINE_NAME_PATTERN), {
        error: (iss) => pipelineNameProblem(String(iss.input)) ?? 'invalid name',
      })
      .describe('Name of the pipeline: lowercase letters, digits and `-`, at most 40 characters.'),
    namespace: z.string().optional().describe('Kubernetes namespace (ignored when running locally).'),
  })
  .describe('Standard Kubernetes metadata; only `name` is required.');

export const pipelineSchema = strictObject({
  apiVersion: z.literal(API_VERSION_FULL, {
    error: (iss) => `expected apiVersion ${API_VERSION_FULL}, got ${show(iss.input)}`,
  }),
  kind: z.literal(KIND, { error: (iss) => `expected kind ${KIND}, got ${show(iss.input)}` }),
  metadata: pipelineMetadataSchema,
  spec: pipelineSpecSchema,
  // Objects read back from the API server carry a status; it is the operator's, not the user's.
  status: z.unknown().optional(),
}).describe('A Kappaflow Pipeline.');

/** The Pipeline as written by a user (defaults optional). */
export type PipelineInput = z.input<typeof pipelineSchema>;
/** The Pipeline after validation, with defaults applied (durations still strings). */
export type Pipeline = z.output<typeof pipelineSchema>;
export type PipelineSpec = Pipeline['spec'];
export type SourceSpec = PipelineSpec['source'];
export type WindowSpec = PipelineSpec['window'];
export type AggregateSpec = PipelineSpec['aggregates'][string];
export type EnrichSpec = NonNullable<PipelineSpec['enrich']>[number];
export type ScalingSpec = PipelineSpec['scaling'];
export type KafkaSpec = NonNullable<PipelineSpec['kafka']>;
export type RedisSpec = NonNullable<PipelineSpec['redis']>;
