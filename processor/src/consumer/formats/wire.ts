// The Confluent wire format: magic byte 0, the schema id as a 4-byte big-endian integer, then the
// payload. Protobuf payloads start with the message indexes (a zigzag varint count, then that many
// zigzag varint indexes; a single 0 byte stands for [0], the first message of the schema).
import { RecordFailure } from '../decode.ts';

export const MAGIC_BYTE = 0;
export const HEADER_BYTES = 5;

/** The schema id of a framed record, or a `parse` failure saying what is wrong with the frame. */
export function schemaIdOf(value: Buffer | null): number {
  if (value === null) throw new RecordFailure('parse', 'the record has no value (a tombstone)');
  if (value.length < HEADER_BYTES) {
    throw new RecordFailure(
      'parse',
      `the value is ${value.length} bytes, shorter than the 5-byte Schema Registry header (magic byte 0 + schema id)`,
    );
  }
  if (value[0] !== MAGIC_BYTE) {
    throw new RecordFailure(
      'parse',
      `wrong magic byte ${value[0]} (expected 0): the value is not in the Schema Registry wire format`,
    );
  }
  return value.readUInt32BE(1);
}

/** Reads one zigzag varint; returns the value and the offset after it. */
function readZigzag(buf: Buffer, offset: number): [number, number] {
  let result = 0;
  let shift = 0;
  let at = offset;
  for (;;) {
    if (at >= buf.length) throw new RecordFailure('parse', 'the Protobuf message indexes are cut short');
    const byte = buf[at++]!;
    result += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) break;
    shift += 7;
    if (shift > 28) throw new RecordFailure('parse', 'a Protobuf message index is not a valid varint');
  }
  // zigzag: 0,1,2,3 -> 0,-1,1,-2
  return [result % 2 === 0 ? result / 2 : -(result + 1) / 2, at];
}

/** The message indexes after the header and where the Protobuf payload starts. */
export function messageIndexesOf(value: Buffer): { indexes: number[]; payloadAt: number } {
  const [count, afterCount] = readZigzag(value, HEADER_BYTES);
  if (count === 0) return { indexes: [0], payloadAt: afterCount };
  if (count < 0 || count > 64) {
    throw new RecordFailure('parse', `the Protobuf message index count ${count} is out of range`);
  }
  const indexes: number[] = [];
  let at = afterCount;
  for (let i = 0; i < count; i++) {
    const [index, next] = readZigzag(value, at);
    if (index < 0) throw new RecordFailure('parse', `a Protobuf message index is negative (${index})`);
    indexes.push(index);
    at = next;
  }
  return { indexes, payloadAt: at };
}

/** Writes message indexes as the Confluent serializers do (tests and the benchmark produce with it). */
export function encodeMessageIndexes(indexes: readonly number[]): Buffer {
  if (indexes.length === 1 && indexes[0] === 0) return Buffer.from([0]);
  const bytes: number[] = [];
  const push = (n: number) => {
    let z = n >= 0 ? n * 2 : -n * 2 - 1;
    while (z >= 0x80) {
      bytes.push((z & 0x7f) | 0x80);
      z = Math.floor(z / 128);
    }
    bytes.push(z);
  };
  push(indexes.length);
  for (const i of indexes) push(i);
  return Buffer.from(bytes);
}

/** The 5-byte header for a schema id. */
export function headerFor(schemaId: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = MAGIC_BYTE;
  header.writeUInt32BE(schemaId, 1);
  return header;
}
