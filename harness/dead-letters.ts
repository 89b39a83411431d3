/** Reading topics back in tests: a dead-letter topic's letters, or any topic's records mapped one by one. */
import type { Kafka, KafkaMessage } from 'kafkajs';
import { waitUntil } from './service.ts';

export interface ReadLetter {
  /** `kf-source-offset`: the offset of the record on its source topic */
  offset: string;
  /** `kf-reason` */
  reason: string;
  /** `kf-error` */
  error: string;
}

/** A header of a record as text ('' when absent). */
export function headerOf(message: KafkaMessage, name: string): string {
  return String(message.headers?.[name] ?? '');
}

/**
 * Waits (generously) until at least `count` committed records of `topic` are read from its start;
 * returns them mapped by `map`, in the order read.
 */
export async function readRecords<T>(
  kafka: Kafka,
  topic: string,
  count: number,
  map: (message: KafkaMessage) => T,
  what = 'records',
): Promise<T[]> {
  const read: T[] = [];
  const consumer = kafka.consumer({ groupId: `reader-${topic}-${Date.now()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        read.push(map(message));
      },
    });
    await waitUntil(`${count} ${what} on ${topic}`, async () => read.length >= count, { timeoutMs: 60_000 });
  } finally {
    await consumer.disconnect();
  }
  return read;
}

/** Waits (generously) until `topic` holds at least `count` letters; returns them in source-offset order. */
export async function readDeadLetters(kafka: Kafka, topic: string, count: number): Promise<ReadLetter[]> {
  const letters = await readRecords(
    kafka,
    topic,
    count,
    (message) => ({
      offset: headerOf(message, 'kf-source-offset'),
      reason: headerOf(message, 'kf-reason'),
      error: headerOf(message, 'kf-error'),
    }),
    'dead letters',
  );
  return letters.sort((a, b) => Number(a.offset) - Number(b.offset));
}
