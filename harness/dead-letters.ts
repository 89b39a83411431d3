/** Reading a dead-letter topic back in tests: each letter's source offset, reason and error. */
import type { Kafka } from 'kafkajs';
import { waitUntil } from './service.ts';

export interface ReadLetter {
  /** `kf-source-offset`: the offset of the record on its source topic */
  offset: string;
  /** `kf-reason` */
  reason: string;
  /** `kf-error` */
  error: string;
}

/** Waits (generously) until `topic` holds at least `count` letters; returns them in source-offset order. */
export async function readDeadLetters(kafka: Kafka, topic: string, count: number): Promise<ReadLetter[]> {
  const letters: ReadLetter[] = [];
  const consumer = kafka.consumer({ groupId: `dlq-reader-${topic}-${Date.now()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const header = (h: string) => String(message.headers?.[h] ?? '');
        letters.push({
          offset: header('kf-source-offset'),
          reason: header('kf-reason'),
          error: header('kf-error'),
        });
      },
    });
    await waitUntil(`${count} dead letters on ${topic}`, async () => letters.length >= count, {
      timeoutMs: 30_000,
    });
  } finally {
    await consumer.disconnect();
  }
  return letters.sort((a, b) => Number(a.offset) - Number(b.offset));
}
