// The form the processor and operator consume: defaults applied, durations in milliseconds,
// maps turned into ordered lists, aggregates tagged by operator.
import { createHash } from 'node:crypto';
import type { KeyDecoding } from '../model/source-format.ts';
import {
  AGGREGATE_OPERATOR_NAMES,
  type AggregateOperator,
  DEFAULT_PERCENTILE_ACCURACY,
  DEFAULT_TOP_K,
} from './aggregates.ts';
import { parseDuration } from './duration.ts';
import type { AggregateSpec, KafkaSpec, Pipeline, RedisSpec } from './schema.ts';
import {
  REGISTRY_CREDENTIALS_ENV,
  type SchemaRegistrySpec,
  SINK_REGISTRY_CREDENTIALS_ENV,
  type SinkRegistrySpec,
} from './schema-registry.ts';
import type { EventTimeFormat, SOURCE_FORMATS } from './source.ts';

export type NormalizedWindow =
  | { type: 'tumbling'; sizeMs: number; graceMs: number }
  | {
      type: 'hopping';
      sizeMs: number;
      advanceMs: number;
      graceMs: number;
      /** window.rankWholeWindows; only when true, so pipelines without it keep their fingerprint */
      rankWholeWindows?: true;
    }
  | { type: 'session'; gapMs: number; graceMs: number };

/** `expr` is the CEL source of the operator's argument (absent only for count). */
export type NormalizedAggregate =
  | { name: string; op: 'count' }
  | { name: string; op: 'sum' | 'min' | 'max' | 'avg' | 'first' | 'last' | 'countDistinct'; expr: string }
  | { name: string; op: 'percentile'; expr: string; q: number; accuracy: number }
  | { name: string; op: 'topK'; expr: string; k: number };

export interface NormalizedEnrich {
  redisHash: string;
  key: string;
  as: string;
  onMissing: 'keep' | 'skip' | 'deadLetter';
}

export interface NormalizedPipeline {
  name: string;
  namespace?: string;
  source: {
    topics: string[];
    format: (typeof SOURCE_FORMATS)[number];
    schemaRegistry?: SchemaRegistrySpec;
    messageType?: string;
    /** spec.source.key; absent: the key as UTF-8 text */
    key?: KeyDecoding;
    /** `path` is `field` split on dots. Absent: use the Kafka record timestamp. */
    eventTime?: {
      field: string;
      path: string[];
      format: EventTimeFormat;
    };
    startFrom: 'earliest' | 'latest';
    /** spec.source.idleTimeout in ms; absent: partitions never count as idle */
    idleTimeoutMs?: number;
  };
  where?: string;
  enrich: NormalizedEnrich[];
  /** In the order written: the group key is this tuple. Empty means one global group. */
  groupBy: { name: string; expr: string }[];
  window: NormalizedWindow;
  aggregates: NormalizedAggregate[];
  /** spec.rankBy; absent: the count aggregates */
  rankBy?: string[];
  retentionMs: number;
  deadLetterTopic?: string;
  sinkTopic?: string;
  /** absent: json */
  sinkAvro?: { schemaRegistry: SinkRegistrySpec; credentialsEnv: string };
  /** spec.sink.delivery, set with sinkTopic */
  sinkDelivery?: 'atLeastOnce' | 'exactlyOnce';
  scaling: {
    mode: 'auto' | 'external';
    minReplicas: number;
    maxReplicas: number;
    lagThreshold: number;
    targetRecordsPerReplica?: number;
    catchUpSeconds: number;
    scaleDownStabilizationMs: number;
  };
  reprocessing: { promotion: 'auto' | 'manual'; maxRestarts: number; maxDeadLetterRatio?: number };
  replicas?: number;
  kafka?: KafkaSpec;
  redis?: RedisSpec;
  /** Hash of everything that changes results; a new value means a new pipeline version (replay). */
  logicFingerprint: string;
  /**
   * What earlier Kappaflow releases computed for the same logic, where it differs: a Deployment
   * annotated with one of them runs this logic already and keeps its version (no replay on upgrade).
   */
  earlierFingerprints: string[];
}

function normalizeAggregate(name: string, a: AggregateSpec): NormalizedAggregate {
  const op = AGGREGATE_OPERATOR_NAMES.find((o) => a[o] !== undefined) as AggregateOperator;
  if (op === 'count') return { name, op };
  const expr = a[op] as string;
  if (op === 'percentile')
    return { name, op, expr, q: a.q as number, accuracy: a.accuracy ?? DEFAULT_PERCENTILE_ACCURACY };
  if (op === 'topK') return { name, op, expr, k: a.k ?? DEFAULT_TOP_K };
  return { name, op, expr };
}

/** Normalizes a Pipeline that already passed pipelineSchema (it assumes valid input). */
export function normalizePipeline(p: Pipeline): NormalizedPipeline {
  const s = p.spec;
  const w = s.window;
  const window: NormalizedWindow =
    w.type === 'tumbling'
      ? { type: 'tumbling', sizeMs: parseDuration(w.size), graceMs: parseDuration(w.grace) }
      : w.type === 'hopping'
        ? {
            type: 'hopping',
            sizeMs: parseDuration(w.size),
            advanceMs: parseDuration(w.advance),
            graceMs: parseDuration(w.grace),
            ...(w.rankWholeWindows ? { rankWholeWindows: true as const } : {}),
          }
        : { type: 'session', gapMs: parseDuration(w.gap), graceMs: parseDuration(w.grace) };
  const out: NormalizedPipeline = {
    name: p.metadata.name,
    ...(p.metadata.namespace === undefined ? {} : { namespace: p.metadata.namespace }),
    source: {
      topics: s.source.topics ?? [s.source.topic as string],
      format: s.source.format,
      ...(s.source.schemaRegistry === undefined ? {} : { schemaRegistry: s.source.schemaRegistry }),
      ...(s.source.messageType === undefined ? {} : { messageType: s.source.messageType }),
      ...(s.source.key === undefined ? {} : { key: { ...s.source.key } }),
      ...(s.source.eventTime === undefined
        ? {}
        : { eventTime: { ...s.source.eventTime, path: s.source.eventTime.field.split('.') } }),
      startFrom: s.source.startFrom,
      ...(s.source.idleTimeout === undefined ? {} : { idleTimeoutMs: parseDuration(s.source.idleTimeout) }),
    },
    ...(s.where === undefined ? {} : { where: s.where }),
    enrich: (s.enrich ?? []).map((e) => ({ ...e.lookup })),
    groupBy: Object.entries(s.groupBy ?? {}).map(([name, expr]) => ({ name, expr })),
    window,
    aggregates: Object.entries(s.aggregates).map(([name, a]) => normalizeAggregate(name, a)),
    ...(s.rankBy === undefined ? {} : { rankBy: s.rankBy }),
    retentionMs: parseDuration(s.retention),
    ...(s.deadLetter === undefined ? {} : { deadLetterTopic: s.deadLetter.topic }),
    ...(s.sink?.format === 'avro'
      ? {
          sinkAvro: s.sink.schemaRegistry
            ? { schemaRegistry: s.sink.schemaRegistry, credentialsEnv: SINK_REGISTRY_CREDENTIALS_ENV }
            : { schemaRegistry: s.source.schemaRegistry!, credentialsEnv: REGISTRY_CREDENTIALS_ENV },
        }
      : {}),
    ...(s.sink === undefined ? {} : { sinkTopic: s.sink.topic, sinkDelivery: s.sink.delivery }),
    scaling: {
      mode: s.scaling.mode,
      minReplicas: s.scaling.minReplicas,
      maxReplicas: s.scaling.maxReplicas,
      lagThreshold: s.scaling.lagThreshold,
      ...(s.scaling.targetRecordsPerReplica === undefined
        ? {}
        : { targetRecordsPerReplica: s.scaling.targetRecordsPerReplica }),
      catchUpSeconds: s.scaling.catchUpSeconds,
      scaleDownStabilizationMs: parseDuration(s.scaling.scaleDownStabilization),
    },
    reprocessing: {
      promotion: s.reprocessing.promotion,
      maxRestarts: s.reprocessing.maxRestarts,
      ...(s.reprocessing.maxDeadLetterRatio === undefined
        ? {}
        : { maxDeadLetterRatio: s.reprocessing.maxDeadLetterRatio }),
    },
    ...(s.replicas === undefined ? {} : { replicas: s.replicas }),
    ...(s.kafka === undefined ? {} : { kafka: s.kafka }),
    ...(s.redis === undefined ? {} : { redis: s.redis }),
    logicFingerprint: '',
    earlierFingerprints: [],
  };
  out.logicFingerprint = logicFingerprint(out);
  // Until this release, any rankBy written out counted (the default listed, or on a session window).
  const before = logicFingerprint(out, { rankByAsWritten: true });
  if (before !== out.logicFingerprint) out.earlierFingerprints.push(before);
  return out;
}

/**
 * Hash of the fields that change what the aggregates contain. Scaling, retention, sink and
 * connection settings are left out: changing them must not trigger a replay.
 */
export function logicFingerprint(
  n: Omit<NormalizedPipeline, 'logicFingerprint' | 'earlierFingerprints'>,
  rules: { rankByAsWritten?: boolean } = {},
): string {
  const rankBy =
    n.rankBy !== undefined && (rules.rankByAsWritten || !(ranksTheDefault(n) || n.window.type === 'session'));
  const logic = {
    source: {
      topics: [...n.source.topics].sort(),
      format: n.source.format,
      // only when set, so pipelines without it keep their fingerprint
      ...(n.source.messageType === undefined ? {} : { messageType: n.source.messageType }),
      ...((n.source.key?.format ?? 'string') === 'string' ? {} : { key: n.source.key }),
      eventTime: n.source.eventTime ?? null,
    },
    where: n.where ?? null,
    enrich: n.enrich,
    groupBy: n.groupBy,
    window: n.window,
    aggregates: n.aggregates,
    // only when it differs from the default (the count aggregates), so writing the default out
    // does not start a replay; never on a session window, which keeps no index (top scans it)
    ...(rankBy ? { rankBy: n.rankBy } : {}),
  };
  return createHash('sha256').update(JSON.stringify(logic)).digest('hex').slice(0, 16);
}

/** Whether spec.rankBy lists exactly the aggregates ranked without it (in any order). */
function ranksTheDefault(n: Pick<NormalizedPipeline, 'aggregates' | 'rankBy'>): boolean {
  const defaults = n.aggregates.filter((a) => a.op === 'count').map((a) => a.name);
  const listed = new Set(n.rankBy);
  return listed.size === defaults.length && defaults.every((name) => listed.has(name));
}
