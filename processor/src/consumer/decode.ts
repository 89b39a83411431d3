import { isUtf8 } from 'node:buffer';
/** Why a record could not be processed; travels in the dead-letter record's `kf-reason` header. */
export type FailureReason = 'parse' | 'where' | 'enrich' | 'event-time' | 'group-by' | 'aggregate' | 'late';

export class RecordFailure extends Error {
  constructor(
    readonly reason: FailureReason,
    message: string,
  ) {
    super(message);
  }
}

export function decodeValue(value: Buffer | null, format: 'json' | 'text'): unknown {
  if (value === null) throw new RecordFailure('parse', 'the record has no value (a tombstone)');
  // Invalid bytes would decode to U+FFFD and be counted under a mangled group: refuse them instead.
  // They always decode to U+FFFD, so text without one came from valid bytes (the search is free on
  // the one-byte strings ASCII records give); only text holding one needs the byte check.
  const text = value.toString('utf8');
  if (text.includes('\uFFFD') && !isUtf8(value))
    throw new RecordFailure('parse', 'the value is not valid UTF-8');
  if (format === 'text') return text;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RecordFailure('parse', `the value is not JSON: ${(error as Error).message}`);
  }
}
