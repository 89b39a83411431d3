import type { KafkaMessage } from 'kafkajs';
import { AggregateInputError, BatchFold, type PreparedArgs } from '../aggregates/fold.ts';
import type { RecordContext, RuntimePipeline } from '../model/pipeline.ts';
import { groupKeyOf } from '../state/keys.ts';
import { isClosed, oldestWindowStart, sliceStartOf, windowStarts } from '../windows/assign.ts';
import { SessionFolder, type SessionStore, type SessionUpdate } from '../windows/session-folder.ts';
import type { DeadLetter as Letter } from './dead-letter.ts';
import { RecordFailure } from './decode.ts';
import { type EnrichmentTable, SKIP } from './enrich.ts';
import { eventTimeOf } from './event-time.ts';
import { type KeyDecoder, keyDecoderFor, sourceKeyOf } from './formats/key-decoder.ts';
import { type ValueDecoder, valueDecoderFor } from './formats/value-decoder.ts';
import { headerTexts, sourceRecordOf } from './source-record.ts';

export interface FoldedBatch {
  fold: BatchFold;
  deadLetters: Letter[];
  watermark: number;
  filtered: number;
  late: number;
  /** session windows: the sessions this batch created, extended or merged */
  sessionUpdates: SessionUpdate[];
}

interface Evaluated {
  message: KafkaMessage;
  eventTime: number;
  /** the partition's watermark just before this record */
  watermark: number;
  group: string;
  prepared: PreparedArgs;
}

interface Pending {
  message: KafkaMessage;
  ctx: RecordView;
  eventTime: number;
  watermark: number;
}

/**
 * Folds the records of one partition's batch, in offset order, into window deltas. Records that
 * fail at any step become dead letters with the reason; a record is late when every window it
 * belongs to has already closed at the watermark reached before it.
 *
 * The watermark is the newest valid event time of every parsed record so far, in offset order,
 * whether `where` (or an enrichment with onMissing: skip) keeps it or not, as in Flink and Kafka
 * Streams: a partition whose records are all filtered out still closes its windows.
 */
export async function foldBatch(
  pipeline: RuntimePipeline,
  topic: string,
  partition: number,
  messages: readonly KafkaMessage[],
  startWatermark: number,
  enrichment: EnrichmentTable,
  sessions?: SessionStore,
  /** prepared for these messages (registry formats); JSON and text decode without one */
  decoder?: ValueDecoder,
  /** `spec.source.key` (prepared for these messages with a registry format); absent: built from the pipeline */
  keys: KeyDecoder = keyDecoderFor(pipeline.source),
): Promise<FoldedBatch> {
  // JSON and text as the replica decodes them (a JSON pipeline reading a few fields reads only those)
  const decode = decoder ?? valueDecoderFor(plainSource(pipeline.source));
  const fold = new BatchFold(pipeline.aggregates);
  const deadLetters: Letter[] = [];
  // the source record's place, key and headers (a session window's repartition copy names them)
  const fail = (message: KafkaMessage, reason: RecordFailure['reason'], error: string) =>
    deadLetters.push({
      ...sourceRecordOf(topic, partition, message, pipeline.source.rekeyed === true),
      value: message.value ?? null,
      reason,
      error,
    });

  // Records are folded as they are read, in offset order. Two things defer that: enrichment
  // (lookups are gathered so they cost one round trip per batch) and session windows (the stored
  // sessions of the batch's groups are loaded, in one round trip, before any record is placed).
  const window = pipeline.window;
  const enriching = pipeline.enrich.length > 0;
  const pending: Pending[] = [];
  const evaluated: Evaluated[] = [];
  let filtered = 0;
  let late = 0;
  let watermark = startWatermark;

  const sizeMs = window.type === 'session' ? 0 : window.sizeMs;
  const sliceMs = window.type === 'hopping' ? (window.sliceMs ?? 0) : 0;
  const place = (
    message: KafkaMessage,
    eventTime: number,
    before: number,
    group: string,
    prepared: PreparedArgs,
  ) => {
    // Stream slicing: a record on time for every window it falls in updates its one slice. The
    // oldest window closes first, so checking it is enough.
    if (
      sliceMs > 0 &&
      window.type === 'hopping' &&
      !isClosed(oldestWindowStart(window, eventTime) + sizeMs, window.graceMs, before)
    ) {
      const sliceStart = sliceStartOf(eventTime, sliceMs);
      const slice =
        fold.slices.get(sliceStart) ??
        fold.slice(sliceStart, sliceStart + sliceMs, windowStarts(window, eventTime));
      fold.add(slice, group, eventTime, prepared);
      settle(message, eventTime, before, true);
      return;
    }
    // Tumbling: one window per record, found without the list of starts (a per-record array).
    if (window.type === 'tumbling') {
      const start = sliceStartOf(eventTime, sizeMs);
      const onTime = !isClosed(start + sizeMs, window.graceMs, before);
      if (onTime) fold.add(fold.window(start, start + sizeMs), group, eventTime, prepared);
      settle(message, eventTime, before, onTime);
      return;
    }
    const starts = windowStarts(window, eventTime);
    let onTime = false;
    for (const start of starts) {
      if (isClosed(start + sizeMs, window.graceMs, before)) continue;
      fold.add(fold.window(start, start + sizeMs), group, eventTime, prepared);
      onTime = true;
    }
    settle(message, eventTime, before, onTime);
  };
  const settle = (message: KafkaMessage, eventTime: number, before: number, onTime: boolean) => {
    if (onTime) {
      fold.records++;
      return;
    }
    late++;
    fail(
      message,
      'late',
      `event time ${new Date(eventTime).toISOString()} is behind the watermark ${new Date(before).toISOString()} by more than the grace period`,
    );
  };
  /** Group and aggregate arguments, then the record's windows (or the session queue). */
  const process = (message: KafkaMessage, ctx: RecordView, eventTime: number, before: number) => {
    const group = groupKeyOf(evaluate('group-by', pipeline, pipeline.groupBy, ctx));
    if (group.length > MAX_GROUP_KEY_LENGTH) {
      throw new RecordFailure(
        'group-by',
        `the group key is ${group.length} characters long (at most ${MAX_GROUP_KEY_LENGTH}); group by a smaller field`,
      );
    }
    const args = evaluate('aggregate', pipeline, pipeline.aggregateArgs, ctx);
    const prepared = fold.prepare(args);
    if (window.type === 'session') evaluated.push({ message, eventTime, watermark: before, group, prepared });
    else place(message, eventTime, before, group, prepared);
  };
  const readTime = (ctx: RecordView, message: KafkaMessage): number | RecordFailure => {
    try {
      return eventTimeOf(ctx.event, pipeline.source.eventTime, Number(message.timestamp));
    } catch (error) {
      return asFailure(error, 'event-time');
    }
  };

  for (const message of messages) {
    let ctx: RecordView;
    try {
      ctx = new RecordView(
        decode.decode(message.value ?? null),
        topic,
        partition,
        message,
        keys,
        pipeline.source.rekeyed === true,
      );
    } catch (error) {
      const failure = asFailure(error, 'parse');
      fail(message, failure.reason, failure.message);
      continue;
    }
    // Read before `where`: a filtered record's time moves the watermark too. Its lateness is
    // judged against the watermark before it.
    const before = watermark;
    const eventTime = readTime(ctx, message);
    if (typeof eventTime === 'number' && eventTime > watermark) watermark = eventTime;
    try {
      if (pipeline.where && !evaluate('where', pipeline, pipeline.where, ctx)) {
        filtered++; // whatever its time: a filtered record is never a dead letter
        continue;
      }
    } catch (error) {
      const failure = asFailure(error, 'where');
      fail(message, failure.reason, failure.message);
      continue;
    }
    if (typeof eventTime !== 'number') {
      fail(message, eventTime.reason, eventTime.message);
      continue;
    }
    if (enriching) {
      pending.push({ message, ctx, eventTime, watermark: before });
      continue;
    }
    try {
      process(message, ctx, eventTime, before);
    } catch (error) {
      const failure = asFailure(error, 'aggregate');
      fail(message, failure.reason, failure.message);
    }
  }

  if (enriching) {
    const enriched = await enrichment.resolve(
      pipeline.enrich,
      pending.map((p) => p.ctx),
    );
    for (let i = 0; i < pending.length; i++) {
      const { message, ctx, eventTime, watermark: before } = pending[i]!;
      try {
        const lookup = enriched[i]!;
        if (lookup === SKIP) {
          filtered++;
          continue;
        }
        if (lookup instanceof RecordFailure) throw lookup;
        ctx.enriched = lookup;
        process(message, ctx, eventTime, before);
      } catch (error) {
        const failure = asFailure(error, 'aggregate');
        fail(message, failure.reason, failure.message);
      }
    }
  }

  let sessionUpdates: SessionUpdate[] = [];
  if (window.type === 'session' && evaluated.length > 0) {
    if (!sessions) throw new Error('a session window pipeline needs the stored sessions');
    const groups = [...new Set(evaluated.map((e) => e.group))];
    // A loop, not Math.min(...): a batch of small records can exceed the engine's argument limit.
    let earliest = Number.POSITIVE_INFINITY;
    for (const e of evaluated) if (e.eventTime < earliest) earliest = e.eventTime;
    const from = earliest - window.gapMs;
    const folder = new SessionFolder(window.gapMs, window.graceMs, fold, await sessions.load(groups, from));
    for (const { message, eventTime, watermark: before, group, prepared } of evaluated) {
      settle(message, eventTime, before, folder.add(group, eventTime, before, prepared));
    }
    sessionUpdates = folder.finish();
  }
  return { fold, deadLetters, watermark, filtered, late, sessionUpdates };
}

/** A JSON or text source's decoding (registry formats come with their prepared decoder). */
function plainSource(source: RuntimePipeline['source']) {
  const format = source.format as 'json' | 'text';
  return source.eventFields ? { format, eventFields: source.eventFields } : { format };
}

/**
 * Group keys become Redis hash fields and query API values: a group of a whole (or deeply nested)
 * document is a mistake in the spec or the data, so the record goes to the dead-letter topic.
 */
export const MAX_GROUP_KEY_LENGTH = 4096;

/** `run` on the record (a function and its pipeline rather than a closure: this runs per record). */
function evaluate<T>(
  reason: RecordFailure['reason'],
  pipeline: RuntimePipeline,
  run: (this: RuntimePipeline, ctx: RecordContext) => T,
  ctx: RecordContext,
): T {
  try {
    return run.call(pipeline, ctx);
  } catch (error) {
    if (error instanceof RecordFailure) throw error;
    throw new RecordFailure(reason, `${reason}: ${(error as Error).message}`);
  }
}

function asFailure(error: unknown, fallback: RecordFailure['reason']): RecordFailure {
  if (error instanceof RecordFailure) return error;
  if (error instanceof AggregateInputError) return new RecordFailure('aggregate', error.message);
  return new RecordFailure(fallback, (error as Error)?.message ?? String(error));
}

const NOT_ENRICHED: Record<string, unknown> = Object.freeze({});

/**
 * What expressions see for one record. The Kafka metadata (`record`) is built on first use: most
 * pipelines never read it, and building it for every record was measurable garbage.
 */
class RecordView implements RecordContext {
  /** replaced, never changed, when the record is enriched: one empty object serves every record */
  enriched: Record<string, unknown> = NOT_ENRICHED;
  private meta: RecordContext['record'] | undefined;

  private readonly key: unknown;

  constructor(
    readonly event: unknown,
    private readonly topic: string,
    private readonly partition: number,
    private readonly message: KafkaMessage,
    private readonly keys: KeyDecoder,
    private readonly rekeyed: boolean,
  ) {
    // A key format that can fail is decoded now, so a bad key dead-letters the record whether or
    // not an expression reads it (a `string` key is decoded on first use, as before).
    this.key = keys.strict ? keys.decode(sourceKeyOf(message, rekeyed)) : undefined;
  }

  get record(): RecordContext['record'] {
    if (this.meta === undefined) {
      const source = sourceRecordOf(this.topic, this.partition, this.message, this.rekeyed);
      this.meta = {
        topic: source.topic,
        key: this.keys.strict ? this.key : this.keys.decode(source.key),
        partition: source.partition,
        offset: source.offset,
        timestamp: Number(this.message.timestamp),
        headers: headerTexts(source.headers),
      };
    }
    return this.meta;
  }
}
