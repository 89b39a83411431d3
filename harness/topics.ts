/**
 * The Kafka set-up in-process pipeline tests repeat: a topic created and waited for, records sent
 * to it, each with its own short-lived client so that a test has nothing to disconnect afterwards.
 */
import { Kafka, logLevel, type Message } from 'kafkajs';

const clientOf = (brokers: string[]) => new Kafka({ brokers, logLevel: logLevel.NOTHING });

/** Creates `topic` with `partitions` partitions and waits until each has a leader. */
export async function createTopic(brokers: string[], topic: string, partitions = 1): Promise<void> {
  const admin = clientOf(brokers).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** Sends `messages` to `topic` in one request (acknowledged by every in-sync replica). */
export async function produceTo(brokers: string[], topic: string, messages: Message[]): Promise<void> {
  const producer = clientOf(brokers).producer();
  await producer.connect();
  try {
    await producer.send({ topic, messages });
  } finally {
    await producer.disconnect();
  }
}

/** A topic created with `partitions` partitions, then `messages` sent to it. */
export async function topicWith(
  brokers: string[],
  topic: string,
  messages: Message[],
  partitions = 1,
): Promise<void> {
  await createTopic(brokers, topic, partitions);
  await produceTo(brokers, topic, messages);
}
