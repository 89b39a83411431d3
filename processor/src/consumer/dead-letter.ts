import type { IHeaders, Producer } from 'kafkajs';
import type { FailureReason } from './decode.ts';

export interface DeadLetter {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
  reason: FailureReason;
  error: string;
}

/**
 * Sends failed records to the dead-letter topic with the original key, value and headers plus why
 * and where they came from. Sent before the batch's Redis commit, so a crash can repeat a
 * dead-letter record but never lose one: consumers of the topic dedupe on
 * (kf-source-topic, kf-source-partition, kf-source-offset).
 */
export async function sendDeadLetters(
  producer: Producer,
  topic: string,
  pipeline: string,
  letters: readonly DeadLetter[],
): Promise<void> {
  if (letters.length === 0) return;
  await producer.send({
    topic,
    acks: -1,
    messages: letters.map((letter) => ({
      key: letter.key,
      value: letter.value,
      headers: {
        ...letter.headers,
        'kf-pipeline': pipeline,
        'kf-reason': letter.reason,
        'kf-error': letter.error,
        'kf-source-topic': letter.topic,
        'kf-source-partition': String(letter.partition),
        'kf-source-offset': letter.offset,
      },
    })),
  });
}
