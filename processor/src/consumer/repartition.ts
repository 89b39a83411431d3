import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import { createProducer } from '../kafka/client.ts';
import { repartitionGroupOf, repartitionTopicOf } from '../model/kafka-names.ts';
import type { RecordContext, RuntimePipeline } from '../model/pipeline.ts';
import type { Logger } from '../observability/logger.ts';
import { groupKeyOf } from '../state/keys.ts';
import {
  type KeyDecoder,
  keyDecoderFor,
  NO_SOURCE_KEY_HEADER,
  SOURCE_KEY_HEADER,
} from './formats/key-decoder.ts';
import { type ValueDecoder, valueDecoderFor } from './formats/value-decoder.ts';
import { registryWaitHooks } from './formats/wait.ts';
import {
  headerTexts,
  SOURCE_OFFSET_HEADER,
  SOURCE_PARTITION_HEADER,
  SOURCE_TOPIC_HEADER,
} from './source-record.ts';

/**
 * Session windows need every event of a group in one partition. When records are keyed by something
 * else, this first stage re-keys them by the group key into the repartition topic, in one Kafka
 * transaction per batch together with the source offsets (consume-transform-produce), so each source
 * record reaches the repartition topic exactly once. A transactional producer per source partition
 * (its transactional id names the partition) fences a previous owner of that partition after a
 * rebalance. Records whose group cannot be computed pass through with their own key; the second stage
 * dead-letters them with the reason.
 *
 * A new owner reads the partition's committed offset when it is assigned, which can be older than
 * the last transaction of the previous owner: that transaction's offsets become visible only once
 * its markers are written, after its commit returned (Kafka's `require_stable` offset fetch, which
 * waits for them, is not in kafkajs). Re-publishing from that stale offset would put the batch in
 * the repartition topic twice. So a new producer first fences the previous one (its first
 * transaction; Kafka answers only once the previous transaction has completed), and only then is
 * the committed offset read again; records below it are skipped.
 */
export class Repartitioner {
  private readonly consumer: Consumer;
  private readonly producers = new Map<string, Producer>();
  /** producers whose partition's committed offset has not been read again since they fenced the previous owner */
  private readonly unchecked = new Set<string>();
  private readonly admin: Admin;
  readonly topic: string;
  readonly groupId: string;
  private readonly decoder: ValueDecoder;
  private readonly keyDecoder: KeyDecoder;

  constructor(
    private readonly pipeline: RuntimePipeline,
    private readonly kafka: Kafka,
    private readonly logger: Logger,
  ) {
    this.topic = repartitionTopicOf(pipeline.name, pipeline.version);
    this.groupId = repartitionGroupOf(pipeline.name, pipeline.version);
    this.decoder = valueDecoderFor(pipeline.source);
    this.keyDecoder = keyDecoderFor(pipeline.source);
    this.consumer = kafka.consumer({
      groupId: this.groupId,
      maxBytesPerPartition: 1024 * 1024,
      maxWaitTimeInMs: 200,
    });
    this.admin = kafka.admin();
  }

  async start(): Promise<void> {
    await Promise.all([this.consumer.connect(), this.admin.connect()]);
    for (const topic of this.pipeline.source.topics) {
      await this.consumer.subscribe({ topic, fromBeginning: this.pipeline.source.startFrom === 'earliest' });
    }
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
    await Promise.all([...this.producers.values()].map((p) => p.disconnect()));
    await this.admin.disconnect();
  }

  private async producerFor(topic: string, partition: number): Promise<Producer> {
    const id = `${this.groupId}.${topic}.${partition}`;
    let producer = this.producers.get(id);
    if (!producer) {
      producer = createProducer(this.kafka, {
        transactionalId: id,
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await producer.connect();
      this.producers.set(id, producer);
      this.unchecked.add(id);
    }
    return producer;
  }

  private async onBatch({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const { topic, partition } = batch;
    const id = `${this.groupId}.${topic}.${partition}`;
    const producer = await this.producerFor(topic, partition);
    const hooks = registryWaitHooks(this.logger, { topic, partition }, { heartbeat, isRunning, isStale });
    await this.decoder.prepare(batch.messages, hooks);
    await this.keyDecoder.prepare(batch.messages, hooks);
    const next = String(BigInt(batch.lastOffset()) + 1n);
    // A fresh producer's first transaction fences the previous owner (see the class comment).
    const transaction = await producer.transaction();
    try {
      const fresh = await this.unpublished(id, topic, partition, batch.messages);
      if (fresh.length === 0) {
        await transaction.abort();
        return;
      }
      await transaction.send({
        topic: this.topic,
        messages: fresh.map((message) =>
          repartitionRecordOf(this.pipeline, this.decoder, this.keyDecoder, topic, partition, message),
        ),
      });
      await transaction.sendOffsets({
        consumerGroupId: this.groupId,
        topics: [{ topic, partitions: [{ partition, offset: next }] }],
      });
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => {});
      this.logger.warn(
        { topic, partition, error: (error as Error).message },
        'repartition transaction aborted; retrying',
      );
      // A fenced producer cannot be used again: a new one is made for the next attempt.
      await producer.disconnect().catch(() => {});
      this.producers.delete(id);
      this.unchecked.delete(id);
      throw error;
    }
    resolveOffset(batch.lastOffset());
    await heartbeat();
  }

  /**
   * The batch's records that are not in the repartition topic yet: all of them, unless the producer
   * has just fenced a previous owner whose last transaction committed offsets past the batch's start.
   * Seeks there when the whole batch is behind it.
   */
  private async unpublished(
    id: string,
    topic: string,
    partition: number,
    messages: KafkaMessage[],
  ): Promise<KafkaMessage[]> {
    if (!this.unchecked.has(id)) return messages;
    const [committed] = await this.admin.fetchOffsets({ groupId: this.groupId, topics: [topic] });
    this.unchecked.delete(id);
    const offset = committed?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
    if (BigInt(offset) <= BigInt(messages[0]!.offset)) return messages;
    const fresh = messages.filter((m) => BigInt(m.offset) >= BigInt(offset));
    this.logger.info(
      {
        topic,
        partition,
        from: messages[0]!.offset,
        committed: offset,
        skipped: messages.length - fresh.length,
      },
      'the previous owner had published these records already; skipping them',
    );
    if (fresh.length === 0) this.consumer.seek({ topic, partition, offset });
    return fresh;
  }
}

/**
 * The repartition record of a source record: keyed by its group (the source key when the group
 * cannot be computed: the aggregating stage reports why), the source's place and key in headers.
 */
export function repartitionRecordOf(
  pipeline: RuntimePipeline,
  decoder: ValueDecoder,
  keyDecoder: KeyDecoder,
  topic: string,
  partition: number,
  message: KafkaMessage,
): Message {
  let key: string | null = message.key ? message.key.toString('utf8') : null;
  try {
    const event = decoder.decode(message.value ?? null);
    const ctx: RecordContext = {
      event,
      // spec validation keeps enriched values out of a session window's groupBy
      enriched: {},
      record: {
        topic,
        key: keyDecoder.decode(message.key ?? null),
        partition,
        offset: message.offset,
        timestamp: Number(message.timestamp),
        headers: headerTexts(message.headers),
      },
    };
    key = groupKeyOf(pipeline.groupBy(ctx));
  } catch {
    // The aggregating stage reports it; here the record only has to move on.
  }
  return {
    key,
    value: message.value ?? null,
    timestamp: message.timestamp,
    headers: {
      ...message.headers,
      [SOURCE_TOPIC_HEADER]: topic,
      [SOURCE_PARTITION_HEADER]: String(partition),
      [SOURCE_OFFSET_HEADER]: message.offset,
      // the aggregating stage decodes this as record.key (absent: the record had none)
      ...(message.key ? { [SOURCE_KEY_HEADER]: message.key } : { [NO_SOURCE_KEY_HEADER]: '1' }),
    },
  };
}
