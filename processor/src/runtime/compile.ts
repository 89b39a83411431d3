import type { AggregateShape, RecordContext, RuntimePipeline } from '../model/pipeline.ts';
import { parseDuration } from '../spec/duration.ts';
import type { ValidPipeline } from '../spec/validate.ts';

/**
 * The processor's view of a validated pipeline: shapes for the fold and the key layout, and one
 * function per step that evaluates the already compiled CEL expressions.
 */
export function toRuntimePipeline(valid: ValidPipeline, version: number): RuntimePipeline {
  const { normalized: spec, compiled } = valid;
  const aggregates: AggregateShape[] = spec.aggregates.map((a) => ({
    name: a.name,
    kind: a.op,
    ...(a.op === 'percentile' ? { q: a.q, accuracy: a.accuracy } : {}),
    ...(a.op === 'topK' ? { k: a.k } : {}),
  }));
  const argumentOf = compiled.aggregates.map((a) => (a.op === 'count' ? undefined : a.value));
  const count = argumentOf.length;
  return {
    name: spec.name,
    version,
    source: {
      topics: spec.source.topics,
      format: spec.source.format,
      ...(spec.source.schemaRegistry ? { schemaRegistry: spec.source.schemaRegistry } : {}),
      ...(spec.source.messageType ? { messageType: spec.source.messageType } : {}),
      ...(spec.source.key ? { key: spec.source.key } : {}),
      ...(spec.source.eventTime
        ? { eventTime: { field: spec.source.eventTime.field, format: spec.source.eventTime.format } }
        : {}),
      ...(spec.source.format === 'json'
        ? jsonFields(compiled.eventFields, spec.source.eventTime?.field)
        : {}),
      startFrom: spec.source.startFrom,
      ...(spec.source.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: spec.source.idleTimeoutMs }),
    },
    window:
      spec.window.type === 'hopping'
        ? {
            ...spec.window,
            sliceMs: gcd(spec.window.sizeMs, spec.window.advanceMs),
            packedSketches: true,
            rollups: true,
            ranks: true,
          }
        : spec.window.type === 'tumbling'
          ? { ...spec.window, packedSketches: true, rollups: true, ranks: true }
          : spec.window,
    groupNames: compiled.groupNames,
    aggregates,
    rankBy: spec.rankBy ?? aggregates.filter((a) => a.kind === 'count').map((a) => a.name),
    retentionMs: spec.retentionMs,
    durability: {
      replicas: spec.redis?.waitForReplicas ?? 0,
      timeoutMs: spec.redis ? parseDuration(spec.redis.waitTimeout) : 1000,
    },
    ...(spec.deadLetterTopic ? { deadLetterTopic: spec.deadLetterTopic } : {}),
    ...(spec.sinkTopic
      ? { sinkTopic: spec.sinkTopic, sinkDelivery: spec.sinkDelivery ?? 'atLeastOnce' }
      : {}),
    ...(spec.sinkAvro ? { sinkAvro: spec.sinkAvro } : {}),
    enrich: compiled.enrich.map((e) => ({
      redisHash: e.redisHash,
      as: e.as,
      onMissing: e.onMissing,
      key: e.key,
    })),
    ...(compiled.where ? { where: compiled.where } : {}),
    groupBy: compiled.groupBy,
    aggregateArgs(ctx: RecordContext) {
      const out = new Array<unknown>(count);
      for (let i = 0; i < count; i++) {
        const evaluate = argumentOf[i];
        if (evaluate) out[i] = evaluate(ctx);
      }
      return out;
    },
  };
}

/**
 * The top-level fields a JSON record is decoded with: those the expressions read and the event time
 * field's first segment, when the expressions read the event through such fields only.
 */
function jsonFields(expressions: string[] | undefined, eventTime: string | undefined) {
  if (!expressions) return {};
  const fields = new Set(expressions);
  if (eventTime !== undefined) fields.add(eventTime.split('.')[0]!);
  // JSON.parse keeps `__proto__` as an own field; a reader that sets it would change the prototype
  if (fields.has('__proto__')) return {};
  return { eventFields: [...fields] };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
