import type { Admin, Kafka, Producer } from 'kafkajs';
import { createProducer } from '../kafka/client.ts';
import { sinkGroupOf } from '../model/kafka-names.ts';
import type { RuntimePipeline } from '../model/pipeline.ts';
import { crashPoint } from '../observability/fault-points.ts';
import type { Logger } from '../observability/logger.ts';
import type { RedisClient } from '../state/connection.ts';
import type { Claim } from './claims.ts';
import { readOutbox, sinkMessages, trimOutbox } from './sink.ts';
import type { SinkEncoder } from './sink-avro.ts';

/** One claim's transactional producer and the outbox sequence number it publishes next. */
interface Publisher {
  claim: Claim;
  producer: Producer;
  transactionalId: string;
  /** read from Kafka at the claim's first publish */
  next?: bigint;
}

/**
 * `sink.delivery: exactlyOnce`: each source partition publishes the windows of its Redis outbox in
 * Kafka transactions that also commit, as the "offset" of that source partition in the consumer
 * group `<pipeline group>.sink`, the outbox sequence number published up to. So the records and
 * the progress become visible together or not at all, and a new owner resumes exactly after the
 * last committed window. The transactional id names the partition: a new owner's producer fences
 * the previous owner's (a zombie's transaction is aborted, or has committed, before the new owner
 * reads the progress). Redis is trimmed only after Kafka committed; a crash in between leaves
 * entries the next owner skips by their sequence numbers.
 */
export class TransactionalSink {
  private readonly publishers = new Map<string, Publisher>();
  private readonly groupId: string;

  constructor(
    private readonly pipeline: RuntimePipeline,
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly redis: RedisClient,
    private readonly logger: Logger,
  ) {
    this.groupId = sinkGroupOf(pipeline.name, pipeline.version);
  }

  /** Publishes everything queued in the partition's outbox; returns how many windows. */
  async publish(
    claim: Claim,
    topic: string,
    partition: number,
    prefix: string,
    id: string,
    encode: SinkEncoder,
  ): Promise<number> {
    const sinkTopic = this.pipeline.sinkTopic!;
    const publisher = await this.publisherFor(claim, topic, partition);
    let published = 0;
    for (;;) {
      // The first transaction of a producer registers its transactional id, fencing older holders.
      const transaction = await publisher.producer.transaction();
      try {
        publisher.next ??= await this.committedProgress(topic, partition);
        const { head, starts } = await readOutbox(this.redis, prefix);
        const skip = publisher.next - head;
        if (skip < 0n) {
          // Trimmed without a Kafka commit: published at least once before exactlyOnce was set.
          this.logger.warn(
            { topic, partition, progress: String(publisher.next), head: String(head) },
            'sink outbox starts past the committed progress (published by atLeastOnce); going on from it',
          );
          publisher.next = head;
        }
        const pending = starts.slice(Number(skip > 0n ? skip : 0n));
        if (pending.length === 0) {
          await transaction.abort(); // nothing was sent: kafkajs ends it locally
          await trimOutbox(this.redis, prefix, publisher.next);
          return published;
        }
        const messages = await sinkMessages(
          this.redis,
          this.pipeline,
          prefix,
          id,
          pending,
          encode,
          publisher.next,
        );
        const upTo = publisher.next + BigInt(pending.length);
        if (messages.length > 0) await transaction.send({ topic: sinkTopic, acks: -1, messages });
        crashPoint('sink-sent');
        await transaction.sendOffsets({
          consumerGroupId: this.groupId,
          topics: [{ topic, partitions: [{ partition, offset: String(upTo) }] }],
        });
        await transaction.commit();
        // One line per transaction (the evidence when a reader reports a duplicate): who published
        // which outbox range under which transactional id.
        this.logger.info(
          {
            transactionalId: publisher.transactionalId,
            epoch: claim.epoch,
            partition: id,
            seq: [String(publisher.next), String(upTo)],
            records: messages.length,
          },
          'sink transaction committed',
        );
        crashPoint('sink-committed');
        publisher.next = upTo;
        published += pending.length;
      } catch (error) {
        this.logger.warn(
          {
            transactionalId: publisher.transactionalId,
            epoch: claim.epoch,
            partition: id,
            error: (error as Error).message,
          },
          'sink transaction aborted',
        );
        await transaction.abort().catch(() => {});
        // A fenced (or broken) producer cannot be used again; the next publish makes a new one.
        this.publishers.delete(`${topic}:${partition}`);
        await publisher.producer.disconnect().catch(() => {});
        throw error;
      }
      await trimOutbox(this.redis, prefix, publisher.next);
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.publishers.values()].map((p) => p.producer.disconnect().catch(() => {})));
    this.publishers.clear();
  }

  /** A fresh producer per claim: a replica that lost and regained a partition was fenced meanwhile. */
  private async publisherFor(claim: Claim, topic: string, partition: number): Promise<Publisher> {
    const key = `${topic}:${partition}`;
    const held = this.publishers.get(key);
    if (held?.claim === claim) return held;
    if (held) await held.producer.disconnect().catch(() => {});
    // The same id for the partition whoever owns it: that is what fences a previous owner.
    const transactionalId = `${this.groupId}.${topic}.${partition}`;
    const producer = createProducer(this.kafka, {
      transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
    await producer.connect();
    const publisher: Publisher = { claim, producer, transactionalId };
    this.publishers.set(key, publisher);
    return publisher;
  }

  /** The outbox sequence number the partition's last committed transaction published up to. */
  private async committedProgress(topic: string, partition: number): Promise<bigint> {
    const [entry] = await this.admin.fetchOffsets({ groupId: this.groupId, topics: [topic] });
    const offset = entry?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
    return offset === '-1' ? 0n : BigInt(offset);
  }
}
