import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
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

/**
 * Session windows need every event of a group in one partition. When records are keyed by something
 * else, this first stage re-keys them by the group key into the repartition topic, in one Kafka
 * transaction per batch together with the source offsets (consume-transform-produce), so each source
 * record reaches the repartition topic exactly once. A transactional producer per source partition
 * (its transactional id names the partition) fences a previous owner of that partition after a
 * rebalance. Records whose group cannot be computed pass through with their own key; the second stage
 * dead-letters them with the reason.
 */
export class Repartitioner {
  private readonly consumer: Consumer;
  private readonly producers = new Map<string, Producer>();
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
  }

  async start(): Promise<void> {
    await this.consumer.connect();
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
    const producer = await this.producerFor(topic, partition);
    const hooks = registryWaitHooks(this.logger, { topic, partition }, { heartbeat, isRunning, isStale });
    await this.decoder.prepare(batch.messages, hooks);
    await this.keyDecoder.prepare(batch.messages, hooks);
    const messages = batch.messages.map((message) => {
      let key: string | null = message.key ? message.key.toString('utf8') : null;
      try {
        const event = this.decoder.decode(message.value ?? null);
        const ctx: RecordContext = {
          event,
          enriched: {},
          record: {
            topic,
            key: this.keyDecoder.decode(message.key ?? null),
            partition,
            offset: message.offset,
            timestamp: Number(message.timestamp),
            headers: {},
          },
        };
        key = groupKeyOf(this.pipeline.groupBy(ctx));
      } catch {
        // The aggregating stage reports it; here the record only has to move on.
      }
      return {
        key,
        value: message.value ?? null,
        timestamp: message.timestamp,
        headers: {
          ...message.headers,
          'kf-source-topic': topic,
          'kf-source-partition': String(partition),
          'kf-source-offset': message.offset,
          // the aggregating stage decodes this as record.key (absent: the record had none)
          ...(message.key ? { [SOURCE_KEY_HEADER]: message.key } : { [NO_SOURCE_KEY_HEADER]: '1' }),
        },
      };
    });
    const next = String(BigInt(batch.lastOffset()) + 1n);
    const transaction = await producer.transaction();
    try {
      await transaction.send({ topic: this.topic, messages });
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
      this.producers.delete(`${this.groupId}.${topic}.${partition}`);
      throw error;
    }
    resolveOffset(batch.lastOffset());
    await heartbeat();
  }
}
