import type { KafkaMessage } from 'kafkajs';
import { AggregateInputError, BatchFold, type PreparedArgs } from '../aggregates/fold.ts';
import type { RecordContext, RuntimePipeline } from '../runtime/pipeline.ts';
import { groupKeyOf } from '../state/keys.ts';
import { isClosed, windowStarts } from '../windows/assign.ts';
import { SessionFolder, type SessionUpdate, type StoredSession } from '../windows/session-folder.ts';
import type { DeadLetter as Letter } from './dead-letter.ts';
import { decodeValue, eventTimeOf, RecordFailure } from './decode.ts';
import { type EnrichmentTable, SKIP } from './enrich.ts';

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
  group: string;
  prepared: PreparedArgs;
}

/** Reads the stored sessions of some groups that end at or after `from` (one round trip per batch). */
export interface SessionStore {
  load(groups: readonly string[], from: number): Promise<Map<string, StoredSession[]>>;
}

interface Pending {
  message: KafkaMessage;
  ctx: RecordContext;
}

/**
 * Folds the records of one partition's batch, in offset order, into window deltas. Records that
 * fail at any step become dead letters with the reason; a record is late when every window it
 * belongs to has already closed at the watermark reached before it.
 */
export async function foldBatch(
  pipeline: RuntimePipeline,
  topic: string,
  partition: number,
  messages: readonly KafkaMessage[],
  startWatermark: number,
  enrichment: EnrichmentTable,
  sessions?: SessionStore,
): Promise<FoldedBatch> {
  const fold = new BatchFold(pipeline.aggregates);
  const deadLetters: Letter[] = [];
  const fail = (message: KafkaMessage, reason: RecordFailure['reason'], error: string) =>
    deadLetters.push({
      topic,
      partition,
      offset: message.offset,
      key: message.key ?? null,
      value: message.value ?? null,
      headers: message.headers ?? {},
      reason,
      error,
    });

  // Pass 1: decode and filter, and gather the enrichment keys so lookups cost one round trip per batch.
  const pending: Pending[] = [];
  let filtered = 0;
  for (const message of messages) {
    try {
      const event = decodeValue(message.value ?? null, pipeline.source.format);
      const ctx: RecordContext = { event, enriched: {}, record: recordOf(topic, partition, message) };
      if (pipeline.where && !evaluate('where', () => pipeline.where!(ctx))) {
        filtered++;
        continue;
      }
      pending.push({ message, ctx });
    } catch (error) {
      const failure = asFailure(error, 'parse');
      fail(message, failure.reason, failure.message);
    }
  }
  const enriched = await enrichment.resolve(
    pipeline.enrich,
    pending.map((p) => p.ctx),
  );

  // Pass 2: event time, group and aggregate arguments of each record.
  const evaluated: Evaluated[] = [];
  for (let i = 0; i < pending.length; i++) {
    const { message, ctx } = pending[i]!;
    try {
      const lookup = enriched[i]!;
      if (lookup === SKIP) {
        filtered++;
        continue;
      }
      if (lookup instanceof RecordFailure) throw lookup;
      ctx.enriched = lookup;
      const eventTime = eventTimeOf(ctx.event, pipeline.source.eventTimeField, ctx.record.timestamp);
      const group = groupKeyOf(evaluate('group-by', () => pipeline.groupBy(ctx)));
      const args = evaluate('aggregate', () => pipeline.aggregateArgs(ctx));
      evaluated.push({ message, eventTime, group, prepared: fold.prepare(args) });
    } catch (error) {
      const failure = asFailure(error, 'aggregate');
      fail(message, failure.reason, failure.message);
    }
  }

  // Pass 3: windows, in offset order, against the watermark reached before each record.
  const window = pipeline.window;
  let sessionFolder: SessionFolder | undefined;
  if (window.type === 'session') {
    if (!sessions) throw new Error('a session window pipeline needs the stored sessions');
    const groups = [...new Set(evaluated.map((e) => e.group))];
    // A loop, not Math.min(...): a batch of small records can exceed the engine's argument limit.
    let earliest = Number.POSITIVE_INFINITY;
    for (const e of evaluated) if (e.eventTime < earliest) earliest = e.eventTime;
    const from = earliest - window.gapMs;
    sessionFolder = new SessionFolder(window.gapMs, window.graceMs, fold, await sessions.load(groups, from));
  }
  let watermark = startWatermark;
  let late = 0;
  for (const { message, eventTime, group, prepared } of evaluated) {
    let onTime: boolean;
    if (window.type === 'session') {
      onTime = sessionFolder!.add(group, eventTime, watermark, prepared);
    } else {
      const starts = windowStarts(window, eventTime).filter(
        (start) => !isClosed(start + window.sizeMs, window.graceMs, watermark),
      );
      for (const start of starts)
        fold.add(fold.window(start, start + window.sizeMs), group, eventTime, prepared);
      onTime = starts.length > 0;
    }
    if (!onTime) {
      late++;
      fail(
        message,
        'late',
        `event time ${new Date(eventTime).toISOString()} is behind the watermark ${new Date(watermark).toISOString()} by more than the grace period`,
      );
      continue;
    }
    fold.records++;
    if (eventTime > watermark) watermark = eventTime;
  }
  const sessionUpdates = sessionFolder?.finish() ?? [];
  return { fold, deadLetters, watermark, filtered, late, sessionUpdates };
}

function evaluate<T>(reason: RecordFailure['reason'], run: () => T): T {
  try {
    return run();
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

function recordOf(topic: string, partition: number, message: KafkaMessage): RecordContext['record'] {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? String(value[0]) : String(value);
  }
  return {
    topic,
    key: message.key ? message.key.toString('utf8') : null,
    partition,
    offset: message.offset,
    timestamp: Number(message.timestamp),
    headers,
  };
}
