import { Cluster } from 'ioredis';
import type { Admin, Batch, Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import {
  boundRankedAggregates,
  type HoppingRankMode,
  hoppingRankModes,
  rankedAggregates,
} from '../aggregates/kinds.ts';
import { createProducer } from '../kafka/client.ts';
import { consumerGroupOf, partitionIdOf } from '../model/kafka-names.ts';
import type { AggregateShape, RuntimePipeline } from '../model/pipeline.ts';
import { crashPoint } from '../observability/fault-points.ts';
import type { Logger } from '../observability/logger.ts';
import { type ProcessorMetrics, timeOutcome } from '../observability/metrics.ts';
import { type CommitResult, commitBatch } from '../state/commit.ts';
import type { RedisClient } from '../state/connection.ts';
import { keys, partitionPrefix } from '../state/keys.ts';
import type { StagedArguments } from '../state/number-pairs.ts';
import { HEARTBEAT_INTERVAL_MS, publishHeartbeat } from '../state/replica-status.ts';
import { redisSessionStore } from '../state/sessions.ts';
import { AUDIT_INTERVAL_MS, auditCheckpoints } from './checkpoint-audit.ts';
import { alignWithCheckpoint, type Claim, claimPartition, skipEmptyRange } from './claims.ts';
import { sendDeadLetters } from './dead-letter.ts';
import { type EnrichmentTable, noEnrichment, redisEnrichment } from './enrich.ts';
import { type FoldedBatch, foldBatch } from './fold-batch.ts';
import { type KeyDecoder, keyDecoderFor } from './formats/key-decoder.ts';
import { type ValueDecoder, valueDecoderFor } from './formats/value-decoder.ts';
import { registryWaitHooks } from './formats/wait.ts';
import { idleFloor, lastCommitOf, resumedAfterIdle } from './idle.ts';
import { publishClosedWindows } from './sink.ts';
import { jsonSinkEncoder, type SinkEncoder } from './sink-avro.ts';
import { TransactionalSink } from './sink-transactions.ts';

export interface ConsumerLoopOptions {
  pipeline: RuntimePipeline;
  kafka: Kafka;
  redis: RedisClient;
  metrics: ProcessorMetrics;
  logger: Logger;
  replicaId: string;
  /** partitions of this replica processed at the same time, so one hot partition does not stall the rest */
  partitionsConsumedConcurrently?: number;
  /** called when the consumer stalls or gives up; exits the process by default */
  onStall?: (reason: string) => void;
  /** the most bytes fetched per partition per batch: bounds memory under a burst */
  maxBytesPerPartition?: number;
  /** this long without a fetch is a stall (a healthy consumer fetches at least every maxWaitTimeInMs); 60 s by default */
  stallAfterMs?: number;
  /** most window-hash fields a claim keeps per partition (see state/owned-windows.ts) */
  maxCachedFields?: number;
}

/** How a batch ended: committed, refused by Redis, sent back to seek, or already fully committed. */
type BatchOutcome = CommitResult['status'] | 'seek' | 'skipped';

/**
 * One processor replica: a member of the pipeline's consumer group that folds each partition batch
 * into window deltas and commits them to Redis with the partition checkpoint in one script call.
 */
export class ConsumerLoop {
  private consumer: Consumer;
  private producer: Producer;
  private admin: Admin;
  private readonly claims = new Map<string, Claim>();
  /** where each claimed partition lives, for the checkpoint audit */
  private readonly places = new Map<string, { topic: string; partition: number; prefix: string }>();
  private auditing = false;
  private readonly fenced = new Set<string>();
  private generation = 0;
  private joined = false;
  private running = false;
  private readonly pendingKafkaCommits = new Map<
    string,
    { topic: string; partition: number; offset: string }
  >();
  private readonly lag = new Map<string, number>();
  private readonly watermarks = new Map<string, number>();
  private readonly earliest = new Map<string, string>();
  private processedSinceBeat = 0;
  private lastBeatAt = Date.now();
  private lastFetchAt = Date.now();
  private timers: NodeJS.Timeout[] = [];
  private readonly enrichment: EnrichmentTable;
  private readonly aggregateKinds: Record<string, string>;
  /** the aggregates of the top-N index (window.ranks), else none */
  private readonly ranked: string[];
  /** the percentiles of spec.rankBy: indexed by each part's upper bound (OwnedWindows.stagedBounds) */
  private readonly rankedBounds: AggregateShape[];
  /** the ranked sums, also kept in a window-level index on one Redis node (query/global-top.ts) */
  private readonly rankedSums: string[];
  /** window.rankWholeWindows: the ranked counts, min and max kept per hopping window on one Redis node */
  private readonly hoppingRanks: [string, HoppingRankMode][];
  private readonly decoder: ValueDecoder;
  /** how sink record values are written (sink-avro.ts); set before start */
  sinkEncoder: SinkEncoder = jsonSinkEncoder;
  private readonly keyDecoder: KeyDecoder;
  /** sink.delivery exactlyOnce: the transactional publisher (else the shared producer publishes) */
  private readonly transactionalSink: TransactionalSink | undefined;

  constructor(private readonly options: ConsumerLoopOptions) {
    const { pipeline, kafka, redis } = options;
    this.consumer = kafka.consumer({
      groupId: consumerGroupOf(pipeline.name, pipeline.version),
      maxBytesPerPartition: options.maxBytesPerPartition ?? 1024 * 1024,
      maxBytes: 16 * 1024 * 1024,
      sessionTimeout: 20_000,
      heartbeatInterval: 2000,
      rebalanceTimeout: 30_000,
      maxWaitTimeInMs: 200,
    });
    this.producer = createProducer(kafka, { allowAutoTopicCreation: false });
    this.admin = kafka.admin();
    this.transactionalSink =
      pipeline.sinkTopic && pipeline.sinkDelivery === 'exactlyOnce'
        ? new TransactionalSink(pipeline, kafka, this.admin, redis, options.logger)
        : undefined;
    this.decoder = valueDecoderFor(pipeline.source);
    this.keyDecoder = keyDecoderFor(pipeline.source);
    this.aggregateKinds = Object.fromEntries(pipeline.aggregates.map((a) => [a.name, a.kind]));
    // Without spec.rankBy compiled in (a pipeline built by hand), every aggregate that has an index.
    const rankBy =
      pipeline.window.type !== 'session' && pipeline.window.ranks
        ? (pipeline.rankBy ?? rankedAggregates(pipeline.aggregates))
        : [];
    // Percentiles are indexed by their parts' bounds, worked out by the owner; the rest by value.
    this.rankedBounds = boundRankedAggregates(pipeline.aggregates, rankBy);
    this.ranked = rankBy.filter((name) => !this.rankedBounds.some((shape) => shape.name === name));
    this.rankedSums = this.ranked.filter((name) => this.aggregateKinds[name] === 'sum');
    this.hoppingRanks =
      pipeline.window.type === 'hopping' && pipeline.window.rankWholeWindows
        ? hoppingRankModes(pipeline.aggregates, this.ranked)
        : [];
    this.enrichment =
      pipeline.enrich.length > 0
        ? redisEnrichment((hash, fields) => redis.hmget(hash, ...fields))
        : noEnrichment;
  }

  get ready(): boolean {
    return this.running && this.joined;
  }

  status() {
    return {
      generation: this.generation,
      partitions: [...this.claims.keys()],
      lag: Object.fromEntries(this.lag),
      watermarks: Object.fromEntries(this.watermarks),
    };
  }

  async start(): Promise<void> {
    const { pipeline, logger } = this.options;
    await Promise.all([this.consumer.connect(), this.producer.connect(), this.admin.connect()]);
    const { GROUP_JOIN, REBALANCING, CRASH, FETCH, END_BATCH_PROCESS } = this.consumer.events;
    // Progress for the stall watchdog: every fetch, even an empty one, proves the consumer is alive.
    this.consumer.on(FETCH, () => {
      this.lastFetchAt = Date.now();
    });
    // A fetched range with only aborted records and transaction markers never reaches onBatch.
    this.consumer.on(END_BATCH_PROCESS, ({ payload }) => {
      if (payload.batchSize !== 0 || payload.firstOffset === null) return;
      const claim = this.claims.get(partitionIdOf(pipeline, payload.topic, payload.partition));
      if (claim) skipEmptyRange(claim, payload.firstOffset, payload.lastOffset);
    });
    // No exit on STOP: kafkajs emits it from its crash handler before CRASH { restart: true } too
    // (e.g. "the coordinator is loading" on a fresh broker), then restarts by itself. What is not
    // restarted is reported as CRASH { restart: false }; a restart that never fetches again trips
    // the watchdog below.
    this.consumer.on(GROUP_JOIN, (event) => {
      // A new generation: every partition is claimed again (bumping its epoch) before its next batch.
      this.generation++;
      this.claims.clear();
      this.fenced.clear();
      this.lag.clear();
      this.joined = true;
      logger.info(
        { assignment: event.payload.memberAssignment, generation: this.generation },
        'joined the consumer group',
      );
    });
    this.consumer.on(REBALANCING, () => logger.info('rebalancing'));
    this.consumer.on(CRASH, (event) =>
      logger.error(
        { error: event.payload.error?.message, restart: event.payload.restart },
        'consumer crashed',
      ),
    );
    this.consumer.on(CRASH, (event) => {
      if (!event.payload.restart) this.stalled(`the Kafka consumer crashed: ${event.payload.error?.message}`);
      // Not ready while kafkajs rejoins; GROUP_JOIN makes it ready again.
      else this.joined = false;
    });
    for (const topic of pipeline.source.topics) {
      await this.consumer.subscribe({ topic, fromBeginning: pipeline.source.startFrom === 'earliest' });
    }
    this.running = true;
    // Heartbeats from now on, not from the first join: a replica waiting in a long rebalance is live
    // and counts in the API's `replicas`.
    void this.heartbeat();
    this.timers.push(setInterval(() => void this.heartbeat(), HEARTBEAT_INTERVAL_MS));
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 4,
      eachBatch: (payload) => this.onBatch(payload),
    });
    this.timers.push(setInterval(() => void this.flushKafkaCommits(), 1000));
    this.timers.push(setInterval(() => void this.audit(), AUDIT_INTERVAL_MS));
    this.lastFetchAt = Date.now();
    this.timers.push(
      setInterval(() => {
        const silentMs = Date.now() - this.lastFetchAt;
        if (this.running && silentMs > (this.options.stallAfterMs ?? 60_000))
          this.stalled(`no fetch from Kafka for ${Math.round(silentMs / 1000)} s`);
      }, 5000),
    );
  }

  /**
   * A consumer that gave up (retries exhausted after a long broker outage) or hangs cannot be trusted
   * to recover by itself: the replica reports it and exits, and its supervisor (Kubernetes, or the test
   * harness) starts a fresh one, which resumes from the Redis checkpoints. State is safe either way.
   */
  private stalled(reason: string): void {
    if (!this.running) return;
    this.running = false;
    this.options.logger.error({ reason }, 'consumer stalled; exiting so that a fresh replica takes over');
    (this.options.onStall ?? (() => process.exit(70)))(reason);
  }

  /** Drains: the batch in flight finishes and commits, offsets reach Kafka, the replica leaves the group. */
  async stop(): Promise<void> {
    this.running = false;
    for (const timer of this.timers) clearInterval(timer);
    await this.consumer.stop();
    await this.flushKafkaCommits();
    await this.consumer.disconnect();
    await this.transactionalSink?.stop();
    await Promise.all([this.producer.disconnect(), this.admin.disconnect()]);
  }

  /** One partition batch: the named steps below, timed whatever their outcome. */
  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, isRunning, isStale } = payload;
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const id = partitionIdOf(this.options.pipeline, batch.topic, batch.partition);
    if (this.fenced.has(id)) {
      // Another replica owns this partition now; wait for our rebalance instead of fighting for it.
      await new Promise((r) => setTimeout(r, 500));
      return;
    }
    const outcome = await timeOutcome(this.options.metrics.batchSeconds, () =>
      this.processBatch(payload, id),
    );
    if (outcome === 'applied') await payload.heartbeat();
  }

  private async processBatch(payload: EachBatchPayload, id: string): Promise<BatchOutcome> {
    const { batch, resolveOffset } = payload;
    const { pipeline, metrics } = this.options;
    const prefix = partitionPrefix(pipeline.name, pipeline.version, id);
    const claim = await this.claimOnce(id, prefix, batch);
    if (!claim) return 'seek';
    const messages = await this.alignWithCheckpoint(claim, batch);
    if (!messages) return 'seek';
    const lastOffset = batch.lastOffset();
    if (messages.length === 0) {
      // Redis has these records already: Kafka's offset lags because the owner that committed them
      // died before publishing their closed windows (offsets go to Kafka only after the publish).
      await this.publishClosed(claim, batch, prefix, id, []);
      resolveOffset(lastOffset);
      return 'skipped';
    }
    const labels = { topic: batch.topic, partition: String(batch.partition) };
    metrics.recordsIn.inc(labels, messages.length);
    // Registry formats: every writer schema the batch names is fetched first (held while the
    // registry is unreachable, so nothing past an undecoded record is committed or dead-lettered).
    const hooks = registryWaitHooks(
      this.options.logger,
      { topic: batch.topic, partition: batch.partition },
      payload,
      () => {
        this.lastFetchAt = Date.now();
      },
    );
    await this.decoder.prepare(messages, hooks);
    await this.keyDecoder.prepare(messages, hooks);
    const folded = await this.fold(
      prefix,
      batch,
      messages,
      await this.startWatermark(claim, prefix, messages),
    );
    await this.deadLetter(batch, folded.deadLetters);
    const absolute = await this.stageAbsolute(claim, prefix, folded);
    const nextOffset = String(BigInt(lastOffset) + 1n);
    const offsets = { first: messages[0]!.offset, next: nextOffset };
    crashPoint('before-commit');
    const result = await this.commit(claim, prefix, offsets, folded, absolute);
    if (result.status !== 'applied') {
      this.refused(claim, id, batch, result);
      return result.status;
    }
    claim.windows.applied(result.closedWindows);
    claim.nextOffset = nextOffset;
    claim.watermark = folded.watermark;
    claim.lastCommitAt = Date.now();
    if (!this.replicated(claim, batch, result)) {
      resolveOffset(lastOffset);
      return 'applied';
    }
    await this.publishClosed(claim, batch, prefix, id, result.closedWindows);
    resolveOffset(lastOffset);
    this.pendingKafkaCommits.set(`${batch.topic}:${batch.partition}`, {
      topic: batch.topic,
      partition: batch.partition,
      offset: nextOffset,
    });
    this.recordProgress(id, batch, messages.length, folded);
    return 'applied';
  }

  /**
   * The claim of the partition, taken at its first batch in this generation. Undefined when the
   * consumer was sent back to the start of the log instead (a partition with no state at all).
   */
  private async claimOnce(id: string, prefix: string, batch: Batch): Promise<Claim | undefined> {
    const { pipeline, redis, logger } = this.options;
    const { topic, partition } = batch;
    const held = this.claims.get(id);
    if (held) return held;
    const window = pipeline.window;
    const claim = await claimPartition(
      redis,
      prefix,
      this.generation,
      this.options.maxCachedFields,
      window.type !== 'session' && window.packedSketches === true,
      window.type !== 'session' && window.rollups === true ? pipeline.aggregates : undefined,
      this.rankedBounds,
    );
    this.claims.set(id, claim);
    this.places.set(id, { topic, partition, prefix });
    logger.info({ topic, partition, epoch: claim.epoch, checkpoint: claim.nextOffset }, 'claimed partition');
    if (claim.nextOffset === null && pipeline.source.startFrom === 'earliest') {
      // No state at all: the view is rebuilt from the start of the log, whatever Kafka's group offset says.
      const low = await this.earliestOffset(topic, partition);
      if (BigInt(batch.firstOffset() ?? '0') > BigInt(low)) {
        this.consumer.seek({ topic, partition, offset: low });
        return undefined;
      }
    }
    return claim;
  }

  /** The batch's records the checkpoint does not have yet; undefined when Kafka must seek back first. */
  private async alignWithCheckpoint(claim: Claim, batch: Batch): Promise<KafkaMessage[] | undefined> {
    const { topic, partition } = batch;
    // the first offset fetched, aborted records and transaction markers included (a transactional topic)
    const alignment = alignWithCheckpoint(claim, batch.firstOffset() ?? batch.messages[0]!.offset);
    if (alignment.action === 'seek') {
      const low = await this.earliestOffset(topic, partition, true);
      if (BigInt(alignment.offset) < BigInt(low)) {
        // Redis lost state that Kafka no longer holds: no replay can restore it. Say so loudly
        // (metric, log, and the checkpoint, which the query API reports), then go on from the
        // log's start: seeking further back would only bounce off it for ever.
        await this.reportUnrecoverable(claim, batch, alignment.offset, low);
        if (BigInt(batch.messages[0]!.offset) === BigInt(low)) return batch.messages;
        this.consumer.seek({ topic, partition, offset: low });
        return undefined;
      }
      this.options.logger.warn(
        { topic, partition, to: alignment.offset },
        'Kafka is ahead of the Redis checkpoint; seeking back',
      );
      this.consumer.seek({ topic, partition, offset: alignment.offset });
      return undefined;
    }
    return alignment.skipBefore === null
      ? batch.messages
      : batch.messages.filter((m) => BigInt(m.offset) >= alignment.skipBefore!);
  }

  /** Records Redis lost that Kafka's retention already deleted: counted once per claim. */
  private async reportUnrecoverable(claim: Claim, { topic, partition }: Batch, from: string, low: string) {
    if (claim.gapReported) return;
    claim.gapReported = true;
    const { metrics, logger, redis, pipeline } = this.options;
    const missing = Number(BigInt(low) - BigInt(from));
    metrics.unrecoverableRecords.inc({ topic, partition: String(partition) }, missing);
    logger.error(
      { topic, partition, checkpoint: from, logStart: low, missing },
      'records lost for good: Redis lost state and Kafka retention already deleted those records; the aggregates miss them',
    );
    const prefix = partitionPrefix(
      pipeline.name,
      pipeline.version,
      partitionIdOf(pipeline, topic, partition),
    );
    await redis.hincrby(keys.checkpoint(prefix), 'unrecoverable', missing);
  }

  /**
   * The watermark the batch starts from: the claim's, or after an idle stretch (spec.source.idleTimeout,
   * consumer/idle.ts) at least that of the partitions that kept going.
   */
  private async startWatermark(claim: Claim, prefix: string, messages: KafkaMessage[]): Promise<number> {
    const { pipeline, redis, logger } = this.options;
    const idleMs = pipeline.source.idleTimeoutMs;
    if (idleMs === undefined) return claim.watermark;
    if (claim.lastCommitAt === undefined) claim.lastCommitAt = await lastCommitOf(redis, prefix);
    if (!resumedAfterIdle(claim.lastCommitAt, Number(messages[0]!.timestamp), idleMs)) return claim.watermark;
    const others: string[] = [];
    for (const topic of pipeline.source.topics) {
      for (const { partition } of await this.admin.fetchTopicOffsets(topic)) {
        const other = partitionPrefix(
          pipeline.name,
          pipeline.version,
          partitionIdOf(pipeline, topic, partition),
        );
        if (other !== prefix) others.push(keys.checkpoint(other));
      }
    }
    const floor = await idleFloor(redis, others, Date.now(), idleMs);
    if (floor === null || floor <= claim.watermark) return claim.watermark;
    logger.info(
      { prefix, from: claim.watermark, to: floor },
      "partition resumed after being idle: starting from the active partitions' watermark",
    );
    return floor;
  }

  /** Folds the records into window deltas (sessions: against the stored sessions of their groups). */
  private fold(
    prefix: string,
    batch: Batch,
    messages: KafkaMessage[],
    startWatermark: number,
  ): Promise<FoldedBatch> {
    const { pipeline, redis } = this.options;
    const sessions = pipeline.window.type === 'session' ? redisSessionStore(redis, prefix) : undefined;
    return foldBatch(
      pipeline,
      batch.topic,
      batch.partition,
      messages,
      startWatermark,
      this.enrichment,
      sessions,
      this.decoder,
      this.keyDecoder,
    );
  }

  /**
   * Fixed windows: counts, sums, min/max and first/last go to Redis as absolute values computed
   * from what this claim knows of the partition's windows (read once per window per claim).
   */
  private async stageAbsolute(
    claim: Claim,
    prefix: string,
    folded: FoldedBatch,
  ): Promise<Map<string, StagedArguments> | undefined> {
    if (this.options.pipeline.window.type === 'session') return undefined;
    await claim.windows.load(this.options.redis, prefix, folded.fold);
    return claim.windows.stage(folded.fold);
  }

  /** Sends the batch's failed records to the dead-letter topic (or logs them when there is none). */
  private async deadLetter(batch: Batch, letters: FoldedBatch['deadLetters']): Promise<void> {
    if (letters.length === 0) return;
    const { pipeline, metrics, logger } = this.options;
    const { topic, partition } = batch;
    if (pipeline.deadLetterTopic) {
      await sendDeadLetters(this.producer, pipeline.deadLetterTopic, pipeline.name, letters);
    } else {
      logger.warn(
        { topic, partition, count: letters.length, first: letters[0]?.error },
        'records failed and no deadLetter topic is set',
      );
    }
    for (const letter of letters)
      metrics.recordsDeadLettered.inc({ topic, partition: String(partition), reason: letter.reason });
  }

  /** The one atomic, fenced Redis commit of the batch with the partition checkpoint. */
  private async commit(
    claim: Claim,
    prefix: string,
    offsets: { first: string; next: string },
    folded: FoldedBatch,
    absolute: Map<string, StagedArguments> | undefined,
  ): Promise<CommitResult> {
    const { pipeline, redis, metrics } = this.options;
    const stopCommit = metrics.commitSeconds.startTimer();
    const result = await commitBatch(redis, {
      prefix,
      epoch: claim.epoch,
      expectedOffset: claim.nextOffset,
      firstOffset: offsets.first,
      nextOffset: offsets.next,
      watermark: folded.watermark,
      graceMs: pipeline.window.graceMs,
      retentionMs: pipeline.retentionMs,
      ...(pipeline.window.type === 'session' ? {} : { windowSizeMs: pipeline.window.sizeMs }),
      fold: folded.fold,
      late: folded.late,
      deadLettered: folded.deadLetters.length,
      outbox: pipeline.sinkTopic !== undefined,
      ...(pipeline.durability.replicas > 0 ? { waitForReplicas: pipeline.durability } : {}),
      ...(absolute
        ? {
            absolute,
            absoluteBlocks: claim.windows.stagedBlocks(),
            packedSketches: claim.windows.packedSketches,
            ownedTotals: claim.windows.stageTotals(folded.fold),
          }
        : {}),
      ...(pipeline.window.type !== 'session' && pipeline.window.rollups
        ? {
            rollups: true,
            ranked: this.ranked,
            ...(absolute && this.rankedBounds.length > 0
              ? {
                  rankedBounds: {
                    aggregates: this.rankedBounds.map((shape) => shape.name),
                    perPartial: claim.windows.stagedBounds() ?? new Map(),
                  },
                }
              : {}),
            // The hopping windows' window-level ranking sets cost Redis CPU x3.1 on w3 with a
            // ranked count (docs/benchmarks.md): only with spec.window.rankWholeWindows.
            ...(redis instanceof Cluster || this.hoppingRanks.length === 0
              ? {}
              : {
                  hoppingRanks: {
                    base: keys.groupSets(pipeline.name, pipeline.version),
                    aggregates: this.hoppingRanks,
                  },
                }),
            // Window-level group sets: a tumbling window takes each batch's groups; a sliced hopping
            // window, with spec.window.rankWholeWindows, only a slice's groups no other slice of it
            // holds, worked out by the owner (still Redis CPU x1.9 on w3, whose 100k keys rarely
            // repeat across slices: a window's set needs ~4 members per record there).
            ...(redis instanceof Cluster
              ? {}
              : pipeline.window.type === 'tumbling'
                ? {
                    windowGroups: keys.groupSets(pipeline.name, pipeline.version),
                    globalRanks: this.rankedSums,
                  }
                : pipeline.window.sliceMs && pipeline.window.rankWholeWindows && absolute
                  ? {
                      windowGroups: keys.groupSets(pipeline.name, pipeline.version),
                      sliceGroups: claim.windows.stageSliceGroups(
                        folded.fold,
                        pipeline.window.sizeMs,
                        pipeline.window.sliceMs,
                      ),
                    }
                  : {}),
          }
        : {}),
      ...(pipeline.window.type === 'hopping' && pipeline.window.sliceMs
        ? {
            slicing: {
              sizeMs: pipeline.window.sizeMs,
              advanceMs: pipeline.window.advanceMs,
              sliceMs: pipeline.window.sliceMs,
            },
          }
        : {}),
      ...(pipeline.window.type === 'session'
        ? {
            sessions: {
              updates: folded.sessionUpdates,
              gapMs: pipeline.window.gapMs,
              kinds: this.aggregateKinds,
            },
          }
        : {}),
    });
    stopCommit();
    metrics.redisCommits.inc({ outcome: result.status });
    return result;
  }

  /** Redis refused the commit: the claim is dropped (and the partition left alone when fenced). */
  private refused(
    claim: Claim,
    id: string,
    { topic, partition }: Batch,
    result: Exclude<CommitResult, { status: 'applied' }>,
  ): void {
    const { logger } = this.options;
    this.claims.delete(id);
    if (result.status === 'fenced') {
      logger.warn(
        { topic, partition, epoch: claim.epoch, owner: result.storedEpoch },
        'fenced: another replica owns this partition',
      );
      if (claim.generation === this.generation) this.fenced.add(id);
    } else if (result.status === 'diverged') {
      // Redis lost writes it had acknowledged (failover, restore): claim again, which seeks back to
      // what Redis has and replays from there with a fresh view of the windows.
      logger.warn(
        { topic, partition, expected: claim.nextOffset, stored: result.storedOffset },
        'the Redis checkpoint moved back; claiming the partition again to replay the gap',
      );
      this.options.metrics.stateDivergences.inc({ topic, partition: String(partition), found_by: 'commit' });
    } else {
      // Already in Redis (the checkpoint is past this batch): nothing to apply, just move on.
      claim.nextOffset = result.storedOffset;
    }
  }

  /**
   * With spec.redis.waitForReplicas: whether enough replicas have the commit. When not, it is
   * applied on the master but a failover could still lose it, so nothing leaves for it (sink
   * records, Kafka offsets); the next replicated commit covers it (WAIT counts everything written
   * before it on the connection).
   */
  private replicated(claim: Claim, { topic, partition }: Batch, result: { replicated?: number }): boolean {
    const { pipeline, metrics, logger } = this.options;
    if ((result.replicated ?? 0) >= pipeline.durability.replicas) return true;
    metrics.unreplicatedCommits.inc();
    logger.warn(
      { topic, partition, replicas: result.replicated, wanted: pipeline.durability.replicas },
      'commit not replicated in time; its sink records and Kafka offset wait for a replicated commit',
    );
    claim.outboxDrained = false;
    return false;
  }

  /** Publishes closed windows to the sink topic, also right after a claim (a dead owner's leftovers). */
  private async publishClosed(
    claim: Claim,
    { topic, partition }: Batch,
    prefix: string,
    id: string,
    closed: number[],
  ): Promise<void> {
    const { pipeline, redis } = this.options;
    if (!pipeline.sinkTopic || (closed.length === 0 && claim.outboxDrained)) return;
    // A previous owner may have died between its commit and its publish.
    if (this.transactionalSink)
      await this.transactionalSink.publish(claim, topic, partition, prefix, id, this.sinkEncoder);
    else await publishClosedWindows(redis, this.producer, pipeline, prefix, id, this.sinkEncoder);
    claim.outboxDrained = true;
  }

  /** Metrics and the heartbeat's view of the partition after an applied batch. */
  private recordProgress(id: string, batch: Batch, records: number, folded: FoldedBatch): void {
    const { metrics } = this.options;
    const labels = { topic: batch.topic, partition: String(batch.partition) };
    metrics.recordsAggregated.inc(labels, folded.fold.records);
    metrics.recordsFiltered.inc(labels, folded.filtered);
    metrics.recordsLate.inc(labels, folded.late);
    metrics.watermark.set(labels, folded.watermark);
    const lag = Number(batch.offsetLag());
    metrics.lag.set(labels, lag);
    this.lag.set(id, lag);
    this.watermarks.set(id, folded.watermark);
    this.processedSinceBeat += records;
  }

  private async earliestOffset(topic: string, partition: number, fresh = false): Promise<string> {
    const cached = this.earliest.get(`${topic}:${partition}`);
    if (cached !== undefined && !fresh) return cached;
    for (const entry of await this.admin.fetchTopicOffsets(topic)) {
      this.earliest.set(`${topic}:${entry.partition}`, entry.low);
    }
    return this.earliest.get(`${topic}:${partition}`) ?? '0';
  }

  /** Replays every held partition whose Redis checkpoint went back (see checkpoint-audit.ts). */
  private async audit(): Promise<void> {
    if (this.auditing || this.claims.size === 0) return;
    this.auditing = true;
    const { redis, metrics, logger, pipeline } = this.options;
    try {
      const held = [...this.claims].flatMap(([id, claim]) => {
        const place = this.places.get(id);
        return place ? [{ id, prefix: place.prefix, claim }] : [];
      });
      for (const found of await auditCheckpoints(redis, held)) {
        // Claimed again (or lost) while the audit read: that claim starts from what Redis holds anyway.
        if (this.claims.get(found.id) !== found.claim) continue;
        const { topic, partition } = this.places.get(found.id)!;
        this.claims.delete(found.id);
        metrics.stateDivergences.inc({ topic, partition: String(partition), found_by: 'audit' });
        const offset =
          found.storedOffset ??
          (pipeline.source.startFrom === 'earliest'
            ? await this.earliestOffset(topic, partition, true)
            : null);
        logger.warn(
          {
            topic,
            partition,
            expected: found.claim.nextOffset,
            stored: found.storedOffset,
            replayFrom: offset,
          },
          'the Redis checkpoint moved back (lost writes); replaying the partition from what Redis kept',
        );
        if (offset === null) {
          logger.error(
            { topic, partition },
            'the partition state is gone and startFrom is latest: nothing to replay from; the aggregates miss what was lost',
          );
          continue;
        }
        this.consumer.seek({ topic, partition, offset });
      }
    } catch (error) {
      logger.debug({ error: (error as Error).message }, 'checkpoint audit skipped (Redis unavailable)');
    } finally {
      this.auditing = false;
    }
  }

  /** Kafka's group offsets follow Redis (for lag tools and the autoscaler); they are never the truth. */
  private async flushKafkaCommits(): Promise<void> {
    if (this.pendingKafkaCommits.size === 0) return;
    const offsets = [...this.pendingKafkaCommits.values()];
    this.pendingKafkaCommits.clear();
    try {
      await this.consumer.commitOffsets(offsets);
    } catch (error) {
      this.options.logger.debug(
        { error: (error as Error).message },
        'Kafka offset commit skipped (rebalance in progress)',
      );
    }
  }

  private async heartbeat(): Promise<void> {
    const { pipeline, redis, replicaId } = this.options;
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.lastBeatAt) / 1000);
    const recordsPerSecond = this.processedSinceBeat / seconds;
    this.processedSinceBeat = 0;
    this.lastBeatAt = now;
    try {
      await publishHeartbeat(redis, pipeline.name, pipeline.version, {
        replica: replicaId,
        at: now,
        partitions: [...this.claims.keys()],
        recordsPerSecond,
        lag: Object.fromEntries(this.lag),
        watermarks: Object.fromEntries(this.watermarks),
      });
    } catch (error) {
      this.options.logger.warn(
        { error: (error as Error).message },
        'could not publish the replica heartbeat',
      );
    }
  }
}
