import type { EventTimeFormat } from './event-time-format.ts';
import type { KeyDecoding, SchemaRegistrySettings, SourceFormat } from './source-format.ts';

/**
 * The processor's runtime view of a pipeline: the validated spec with durations in milliseconds
 * and every expression compiled. Built once at start-up (see runtime/compile.ts); the hot path only
 * reads it.
 */
export type WindowShape =
  | {
      type: 'tumbling';
      sizeMs: number;
      graceMs: number;
      /**
       * Owner-kept sketches: see the hopping variant (absent in registrations written before
       * tumbling windows packed them: sketch keys only; readers take both forms).
       */
      packedSketches?: boolean;
      /** Write-side rollups: see the hopping variant (absent in registrations written before them). */
      rollups?: boolean;
      /** The top-N index: see the hopping variant. */
      ranks?: boolean;
    }
  | {
      type: 'hopping';
      sizeMs: number;
      advanceMs: number;
      graceMs: number;
      /**
       * Stream slicing: on-time records are kept per slice of gcd(size, advance) and a window is the
       * merge of its slices (absent in registrations written before slicing: windows only).
       */
      sliceMs?: number;
      /**
       * The partition owner keeps each slice's (and window hash's) HyperLogLogs and DDSketches in
       * memory and writes them whole as fields of its hash (state/owned-windows.ts) instead of as
       * per-group sketch keys updated with deltas (absent in registrations written before: sketch keys only).
       */
      packedSketches?: boolean;
      /**
       * Every commit also keeps each window's and slice's all-groups totals (state/rollup-totals.ts),
       * so unfiltered rollups read them instead of every group (absent in registrations written
       * before: readers scan the groups).
       */
      rollups?: boolean;
      /**
       * With rollups, every commit also keeps each window's and slice's ranking index of the
       * aggregates whose kind has one (count, sum, min, max; query/top-index.ts), so `top` reads
       * O(k) entries instead of every group (absent in registrations written before: `top` scans).
       */
      ranks?: boolean;
      /**
       * spec.window.rankWholeWindows: with ranks, on one Redis node, every commit also moves each
       * slice's change of the ranked counts, min and max into one ranking per window across slices
       * and partitions (query/global-top.ts reads it when every part marked it).
       */
      rankWholeWindows?: boolean;
    }
  | { type: 'session'; gapMs: number; graceMs: number };

export type AggregateKind =
  | 'count'
  | 'sum'
  | 'min'
  | 'max'
  | 'avg'
  | 'first'
  | 'last'
  | 'countDistinct'
  | 'percentile'
  | 'topK';

export interface AggregateShape {
  name: string;
  kind: AggregateKind;
  /** quantile for `percentile` */
  q?: number;
  /** relative accuracy of the `percentile` sketch (absent in registrations written before it existed: 0.01) */
  accuracy?: number;
  /** how many members `topK` reports */
  k?: number;
}

/** What expressions see for one record. */
export interface RecordContext {
  event: unknown;
  enriched: Record<string, unknown>;
  record: {
    topic: string;
    /** the key as `spec.source.key.format` decodes it (a string by default) */
    key: unknown;
    partition: number;
    offset: string;
    timestamp: number;
    headers: Record<string, string>;
  };
}

export interface EnrichLookup {
  redisHash: string;
  as: string;
  /** what a key with no entry means: keep the record with null, skip it, or dead-letter it */
  onMissing: 'keep' | 'skip' | 'deadLetter';
  key(ctx: RecordContext): unknown;
}

/** Where a record's event time comes from: a field of the event, read as `format`. */
export interface EventTimeSpec {
  field: string;
  format: EventTimeFormat;
}

export interface RuntimePipeline {
  name: string;
  version: number;
  source: {
    topics: string[];
    format: SourceFormat;
    schemaRegistry?: SchemaRegistrySettings;
    messageType?: string;
    /** spec.source.key; absent: the key as UTF-8 text */
    key?: KeyDecoding;
    /**
     * Set on the stage that reads the repartition topic (session windows): there the Kafka key is
     * the group key, and the source record's key travels in the `kf-source-key` header.
     */
    rekeyed?: boolean;
    /** absent: the Kafka record timestamp */
    eventTime?: EventTimeSpec;
    /**
     * JSON: the only top-level fields of an event the pipeline reads (expressions and event time),
     * decoded alone (consumer/formats/json-fields.ts); absent: every record is decoded whole.
     */
    eventFields?: string[];
    startFrom: 'earliest' | 'latest';
    /** spec.source.idleTimeout (see consumer/idle.ts) */
    idleTimeoutMs?: number;
  };
  window: WindowShape;
  groupNames: string[];
  aggregates: AggregateShape[];
  /**
   * spec.rankBy: the aggregates whose top-N index the commits keep (with window.ranks;
   * query/top-index.ts). compile.ts fills in the default, the count aggregates.
   */
  rankBy?: string[];
  retentionMs: number;
  /** Redis WAIT after each commit: replicas that must have it, and how long to wait (0: no wait) */
  durability: { replicas: number; timeoutMs: number };
  deadLetterTopic?: string;
  sinkTopic?: string;
  /** `spec.sink.format: avro`: where its schema is registered (absent: JSON values) */
  sinkAvro?: {
    schemaRegistry: Pick<SchemaRegistrySettings, 'url' | 'auth' | 'tls'>;
    /** the variable its credentials come from without auth.file */
    credentialsEnv: string;
  };
  /** spec.sink.delivery (see consumer/sink-transactions.ts) */
  sinkDelivery?: 'atLeastOnce' | 'exactlyOnce';
  enrich: EnrichLookup[];
  where?: (ctx: RecordContext) => boolean;
  groupBy(ctx: RecordContext): unknown[];
  /** the argument of each aggregate, in `aggregates` order (undefined for count) */
  aggregateArgs(ctx: RecordContext): unknown[];
}
