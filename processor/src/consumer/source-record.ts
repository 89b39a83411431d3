// Where a record came from. A session window's second stage reads the repartition topic, whose
// records carry their source's place and key in headers (consumer/repartition.ts), so expressions
// (`record.*`) and dead letters see the source record in both stages, not the repartition copy.
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { NO_SOURCE_KEY_HEADER, SOURCE_KEY_HEADER, sourceKeyOf } from './formats/key-decoder.ts';

export const SOURCE_TOPIC_HEADER = 'kf-source-topic';
export const SOURCE_PARTITION_HEADER = 'kf-source-partition';
export const SOURCE_OFFSET_HEADER = 'kf-source-offset';

/** the headers the first stage adds to a repartition record */
const STAGE_HEADERS = new Set([
  SOURCE_TOPIC_HEADER,
  SOURCE_PARTITION_HEADER,
  SOURCE_OFFSET_HEADER,
  SOURCE_KEY_HEADER,
  NO_SOURCE_KEY_HEADER,
]);

export interface SourceRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  headers: IHeaders;
}

/**
 * The source record of `message`, read from `topic`/`partition`: itself, or for a repartition record
 * (`rekeyed`) the place, key and headers its first stage kept. A repartition record without them
 * (none are written without them) is taken as it is.
 */
export function sourceRecordOf(
  topic: string,
  partition: number,
  message: KafkaMessage,
  rekeyed: boolean,
): SourceRecord {
  const headers = message.headers ?? {};
  const sourceTopic = rekeyed ? text(headers[SOURCE_TOPIC_HEADER]) : undefined;
  if (sourceTopic === undefined)
    return { topic, partition, offset: message.offset, key: message.key ?? null, headers };
  const own: IHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (!STAGE_HEADERS.has(name)) own[name] = value;
  return {
    topic: sourceTopic,
    partition: Number(text(headers[SOURCE_PARTITION_HEADER]) ?? partition),
    offset: text(headers[SOURCE_OFFSET_HEADER]) ?? message.offset,
    key: sourceKeyOf(message, true),
    headers: own,
  };
}

/** Headers as expressions see them (`record.headers`): text, the first value of a repeated one. */
export function headerTexts(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = String(first);
  }
  return out;
}

function text(value: IHeaders[string]): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : String(first);
}
