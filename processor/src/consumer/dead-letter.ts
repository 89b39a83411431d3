import type { IHeaders, Producer } from 'kafkajs';
import type { FailureReason } from './decode.ts';
import { SOURCE_OFFSET_HEADER, SOURCE_PARTITION_HEADER, SOURCE_TOPIC_HEADER } from './source-record.ts';

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
 * A dead-letter record must fit the topic's default message size (1 MB): a larger source value
 * (the topic allowed it) would make every send fail and the batch retry for ever. Bigger values are
 * cut to this size with `kf-value-truncated: <original bytes>`; the whole record stays in the
 * source topic at kf-source-partition/kf-source-offset.
 */
export const DEAD_LETTER_VALUE_LIMIT = 256 * 1024;
/** Sends stay well below the broker's request and batch limits, however many letters a batch has. */
const SEND_BYTES = 768 * 1024;

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
  let chunk: ReturnType<typeof toMessage>[] = [];
  let bytes = 0;
  const flush = async () => {
    if (chunk.length > 0) await producer.send({ topic, acks: -1, messages: chunk });
    chunk = [];
    bytes = 0;
  };
  for (const letter of letters) {
    const message = toMessage(letter, pipeline);
    const size = (message.value?.length ?? 0) + (message.key?.length ?? 0) + 512;
    if (bytes + size > SEND_BYTES) await flush();
    chunk.push(message);
    bytes += size;
  }
  await flush();
}

function toMessage(letter: DeadLetter, pipeline: string) {
  const cut = (b: Buffer | null) =>
    b && b.length > DEAD_LETTER_VALUE_LIMIT ? b.subarray(0, DEAD_LETTER_VALUE_LIMIT) : b;
  const truncated = (letter.value?.length ?? 0) > DEAD_LETTER_VALUE_LIMIT;
  return {
    key: cut(letter.key),
    value: cut(letter.value),
    headers: {
      ...letter.headers,
      'kf-pipeline': pipeline,
      'kf-reason': letter.reason,
      'kf-error': letter.error.slice(0, 4096),
      [SOURCE_TOPIC_HEADER]: letter.topic,
      [SOURCE_PARTITION_HEADER]: String(letter.partition),
      [SOURCE_OFFSET_HEADER]: letter.offset,
      ...(truncated ? { 'kf-value-truncated': String(letter.value!.length) } : {}),
    },
  };
}
