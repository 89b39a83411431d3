/**
 * One real Kafka broker and one real Redis on loopback, with the clients every user of them opens
 * (an admin, a producer, a Redis connection): the shared start-up of the test run's global setup,
 * the benchmark and the demo. Tests that break services on purpose start their own with
 * startKafka()/startRedis().
 */
import { Redis } from 'ioredis';
import { type Admin, Kafka, logLevel, type Producer } from 'kafkajs';
import { startKafka } from './kafka.ts';
import { startRedis } from './redis.ts';

export interface KafkaAndRedis {
  brokers: string[];
  redisUrl: string;
  kafka: Kafka;
  admin: Admin;
  producer: Producer;
  redis: Redis;
  /** Creates topics (waiting for their leaders) that do not exist yet. */
  createTopics(topics: { topic: string; partitions: number }[]): Promise<void>;
  /** Closes the clients, then stops both services. */
  stop(): Promise<void>;
}

/** A kafkajs client for loopback brokers, quiet (tests and tools report their own errors). */
export function kafkaClient(brokers: string[], clientId?: string): Kafka {
  return new Kafka({ brokers, logLevel: logLevel.NOTHING, ...(clientId ? { clientId } : {}) });
}

/** Starts both services at once and connects the clients. */
export async function startKafkaAndRedis(): Promise<KafkaAndRedis> {
  const [kafkaCluster, redisDeployment] = await Promise.all([startKafka(), startRedis()]);
  const kafka = kafkaClient(kafkaCluster.brokers);
  const admin = kafka.admin();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await Promise.all([admin.connect(), producer.connect()]);
  const redis = new Redis(redisDeployment.url);
  return {
    brokers: kafkaCluster.brokers,
    redisUrl: redisDeployment.url,
    kafka,
    admin,
    producer,
    redis,
    async createTopics(topics) {
      await admin.createTopics({
        topics: topics.map((t) => ({ topic: t.topic, numPartitions: t.partitions })),
        waitForLeaders: true,
      });
    },
    async stop() {
      await producer.disconnect().catch(() => {});
      await admin.disconnect().catch(() => {});
      redis.disconnect();
      await Promise.all([redisDeployment.stop(), kafkaCluster.stop()]);
    },
  };
}
