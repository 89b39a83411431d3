import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeMessageIndexes,
  headerFor,
  messageIndexesOf,
  schemaIdOf,
} from '../../../processor/src/consumer/formats/wire.ts';
import { failure } from './failure.ts';

describe('Confluent wire format', () => {
  it('reads the schema id after magic byte 0', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.uint8Array({ maxLength: 20 }),
        (id, payload) => {
          expect(schemaIdOf(Buffer.concat([headerFor(id), payload]))).toBe(id);
        },
      ),
    );
  });

  it('refuses a wrong magic byte, a short value and a tombstone with the reason', () => {
    expect(failure(() => schemaIdOf(Buffer.from('{"a":1}')))).toMatch(/wrong magic byte 123/);
    expect(failure(() => schemaIdOf(Buffer.from([0, 0, 1])))).toMatch(/3 bytes, shorter than the 5-byte/);
    expect(failure(() => schemaIdOf(null))).toMatch(/tombstone/);
  });

  it('encodes message indexes as the Confluent serializers do', () => {
    // From the wire format's definition: [0] is the single byte 0; otherwise a zigzag count and indexes.
    expect([...encodeMessageIndexes([0])]).toEqual([0]);
    expect([...encodeMessageIndexes([1])]).toEqual([2, 2]);
    expect([...encodeMessageIndexes([0, 1])]).toEqual([4, 0, 2]);
    expect([...encodeMessageIndexes([100])]).toEqual([2, 200, 1]);
  });

  it('reads back any message index path and finds where the payload starts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 1, maxLength: 6 }),
        fc.uint8Array({ maxLength: 10 }),
        (indexes, payload) => {
          const indexBytes = encodeMessageIndexes(indexes);
          const value = Buffer.concat([headerFor(7), indexBytes, payload]);
          const read = messageIndexesOf(value);
          expect(read.indexes).toEqual(indexes);
          expect(read.payloadAt).toBe(5 + indexBytes.length);
        },
      ),
    );
  });

  it('refuses message indexes that are cut short', () => {
    expect(failure(() => messageIndexesOf(Buffer.concat([headerFor(1), Buffer.from([4, 0])])))).toMatch(
      /cut short/,
    );
  });
});
