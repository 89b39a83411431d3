// `spec.source.key.format`: what `record.key` is for each format, and which keys fail with
// `key-decode`. Registry formats use an in-memory RegistryClient (the HTTP client against a real
// registry is covered by test/integration/formats/key-format.test.ts); payloads are written by
// avsc and protobufjs themselves, not by our decoders.
import avro from 'avsc';
import fc from 'fast-check';
import type { KafkaMessage } from 'kafkajs';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { RecordFailure } from '../../../processor/src/consumer/decode.ts';
import { noEnrichment } from '../../../processor/src/consumer/enrich.ts';
import { foldBatch } from '../../../processor/src/consumer/fold-batch.ts';
import {
  keyDecoderFor,
  NO_SOURCE_KEY_HEADER,
  SOURCE_KEY_HEADER,
  sourceKeyOf,
} from '../../../processor/src/consumer/formats/key-decoder.ts';
import {
  type RegisteredSchema,
  type RegistryClient,
  SchemaNotFoundError,
} from '../../../processor/src/consumer/formats/registry-client.ts';
import { encodeMessageIndexes, headerFor } from '../../../processor/src/consumer/formats/wire.ts';
import type { KeyFormat } from '../../../processor/src/model/source-format.ts';
import { toRuntimePipeline } from '../../../processor/src/runtime/compile.ts';
import { validateText } from '../../../processor/src/spec/validate.ts';
import { NO_WATERMARK } from '../../../processor/src/windows/watermark.ts';

const hooks = { isRunning: () => true, onWait: async () => {} };
const registry = { url: 'http://registry.invalid', cacheSize: 8 };

/** The RecordFailure `run` throws: its reason and message. */
function failureOf(run: () => unknown): { reason: string; message: string } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RecordFailure);
    return { reason: (error as RecordFailure).reason, message: (error as RecordFailure).message };
  }
  throw new Error('expected a RecordFailure');
}

function clientOf(schemas: Record<number, RegisteredSchema>): RegistryClient {
  return {
    schemaById: async (id) => {
      const schema = schemas[id];
      if (!schema) throw new Error(`no schema ${id} in this test`);
      return schema;
    },
    schemaBySubjectVersion: async () => {
      throw new Error('unused');
    },
  };
}

async function decodeKeys(
  format: KeyFormat,
  client: RegistryClient,
  keys: (Buffer | null)[],
  messageType?: string,
) {
  const decoder = keyDecoderFor(
    { key: { format, ...(messageType ? { messageType } : {}) }, schemaRegistry: registry },
    client,
  );
  // The value is not a framed record: prepare() must look at the keys only.
  await decoder.prepare(
    keys.map((key) => ({ key, value: Buffer.from('{}') }) as KafkaMessage),
    hooks,
  );
  return decoder;
}

describe('key formats', () => {
  it('string (the default): the key as UTF-8 text, null without a key, never failing', () => {
    for (const decoder of [keyDecoderFor({}), keyDecoderFor({ key: { format: 'string' } })]) {
      expect(decoder.strict).toBe(false);
      expect(decoder.decode(Buffer.from('user-1'))).toBe('user-1');
      expect(decoder.decode(null)).toBeNull();
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
          expect(decoder.decode(Buffer.from(bytes))).toBe(Buffer.from(bytes).toString('utf8'));
        }),
      );
    }
  });

  it('none: the key is never read', () => {
    const decoder = keyDecoderFor({ key: { format: 'none' } });
    expect(decoder.strict).toBe(false);
    expect(decoder.decode(Buffer.from('{"userId":"u1"}'))).toBeNull();
    expect(decoder.decode(Buffer.from([0xff, 0xfe]))).toBeNull();
  });

  it('json: the parsed key; a key that is not JSON or not UTF-8 fails with key-decode', () => {
    const decoder = keyDecoderFor({ key: { format: 'json' } });
    expect(decoder.strict).toBe(true);
    expect(decoder.decode(Buffer.from('{"userId":"u1","shard":3}'))).toEqual({ userId: 'u1', shard: 3 });
    expect(decoder.decode(Buffer.from('"plain"'))).toBe('plain');
    expect(decoder.decode(null)).toBeNull();
    const notJson = failureOf(() => decoder.decode(Buffer.from('user-1')));
    expect(notJson.reason).toBe('key-decode');
    expect(notJson.message).toMatch(/^key: the key is not JSON/);
    expect(failureOf(() => decoder.decode(Buffer.from([0x7b, 0xff, 0x7d])))).toEqual({
      reason: 'key-decode',
      message: 'key: the key is not valid UTF-8',
    });
    // any JSON document reads back as itself
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        expect(decoder.decode(Buffer.from(text))).toEqual(JSON.parse(text));
      }),
    );
  });

  it('avro: the key decoded with its writer schema; a bad frame, unknown id or bad payload fails with key-decode', async () => {
    const schema = { type: 'record', name: 'Key', fields: [{ name: 'userId', type: 'string' }] };
    const decoder = await decodeKeys(
      'avro',
      clientOf({ 7: { schemaType: 'AVRO', schema: JSON.stringify(schema), references: [] } }),
      [Buffer.concat([headerFor(7), Buffer.from([])])],
    );
    const payload = avro.Type.forSchema(schema as avro.Schema).toBuffer({ userId: 'u9' });
    expect(decoder.decode(Buffer.concat([headerFor(7), payload]))).toEqual({ userId: 'u9' });
    expect(decoder.decode(null)).toBeNull();
    const wrongMagic = failureOf(() => decoder.decode(Buffer.from('{"userId":"u9"}')));
    expect(wrongMagic).toEqual({
      reason: 'key-decode',
      message: expect.stringMatching(
        /^key: wrong magic byte 123 .*the key is not in the Schema Registry wire format/,
      ),
    });
    const badPayload = failureOf(() =>
      decoder.decode(Buffer.concat([headerFor(7), Buffer.from([0xff, 0xff])])),
    );
    expect(badPayload.reason).toBe('key-decode');
  });

  it('avro: an id the registry does not know fails with key-decode', async () => {
    const client: RegistryClient = {
      schemaById: async (id) => {
        throw new SchemaNotFoundError(`schema ${id} not found`);
      },
      schemaBySubjectVersion: async () => {
        throw new Error('unused');
      },
    };
    const key = Buffer.concat([headerFor(42), Buffer.from([2, 4])]);
    const decoder = await decodeKeys('avro', client, [key]);
    expect(failureOf(() => decoder.decode(key))).toEqual({
      reason: 'key-decode',
      message: expect.stringMatching(/^key: unknown schema id 42/),
    });
  });

  it('protobuf: the message named by the indexes, or key.messageType', async () => {
    const text =
      'syntax = "proto3"; package k; message A { string user_id = 1; } message B { int32 shard = 1; }';
    const root = protobuf.parse(text).root;
    const client = clientOf({ 3: { schemaType: 'PROTOBUF', schema: text, references: [] } });
    const a = Buffer.concat([
      headerFor(3),
      encodeMessageIndexes([0]),
      root.lookupType('k.A').encode({ userId: 'u1' }).finish(),
    ]);
    const b = Buffer.concat([
      headerFor(3),
      encodeMessageIndexes([1]),
      root.lookupType('k.B').encode({ shard: 5 }).finish(),
    ]);
    const byIndexes = await decodeKeys('protobuf', client, [a, b]);
    expect(byIndexes.decode(a)).toEqual({ user_id: 'u1' });
    expect(byIndexes.decode(b)).toEqual({ shard: 5 });
    const named = await decodeKeys('protobuf', client, [b], 'k.B');
    expect(named.decode(b)).toEqual({ shard: 5 });
  });

  it('jsonSchema: the key validated against its schema; a key that does not match fails with key-decode', async () => {
    const schema = JSON.stringify({
      type: 'object',
      properties: { userId: { type: 'string' } },
      required: ['userId'],
    });
    const client = clientOf({ 5: { schemaType: 'JSON', schema, references: [] } });
    const good = Buffer.concat([headerFor(5), Buffer.from('{"userId":"u2"}')]);
    const bad = Buffer.concat([headerFor(5), Buffer.from('{"user":"u2"}')]);
    const decoder = await decodeKeys('jsonSchema', client, [good, bad]);
    expect(decoder.decode(good)).toEqual({ userId: 'u2' });
    expect(failureOf(() => decoder.decode(bad)).reason).toBe('key-decode');
  });

  it('a schema of another type than key.format fails with key-decode', async () => {
    const client = clientOf({ 9: { schemaType: 'JSON', schema: '{}', references: [] } });
    const key = Buffer.concat([headerFor(9), Buffer.from('{}')]);
    const decoder = await decodeKeys('avro', client, [key]);
    expect(failureOf(() => decoder.decode(key))).toEqual({
      reason: 'key-decode',
      message: expect.stringMatching(/schema 9 is JSON, but the pipeline reads format avro/),
    });
  });
});

describe('spec.source.key', () => {
  const spec = (source: string) => `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: keys }
spec:
  source: { topic: t, ${source} }
  groupBy: { user: record.key.userId }
  window: { type: tumbling, size: 1m, grace: 10s }
  aggregates: { n: { count: {} } }
`;
  const pipelineOf = (source: string) => {
    const r = validateText(spec(source));
    expect(r.errors).toEqual([]);
    return r.pipelines[0]!;
  };

  it('reaches the processor: a registry key format on a JSON topic reads the registry', () => {
    const runtime = toRuntimePipeline(
      pipelineOf('key: { format: avro }, schemaRegistry: { url: "http://registry:8081" }'),
      1,
    );
    expect(runtime.source.format).toBe('json');
    expect(runtime.source.key).toEqual({ format: 'avro' });
    expect(runtime.source.schemaRegistry?.url).toBe('http://registry:8081');
    expect(keyDecoderFor(runtime.source).strict).toBe(true);
  });

  it('absent means string; only a format other than string changes the logic fingerprint (a replay)', () => {
    const absent = pipelineOf('format: json');
    expect(absent.normalized.source.key).toBeUndefined();
    expect(keyDecoderFor(toRuntimePipeline(absent, 1).source).decode(Buffer.from('k'))).toBe('k');
    expect(pipelineOf('key: { format: string }').normalized.logicFingerprint).toBe(
      absent.normalized.logicFingerprint,
    );
    expect(pipelineOf('key: { format: json }').normalized.logicFingerprint).not.toBe(
      absent.normalized.logicFingerprint,
    );
  });
});

describe('after repartitioning (session windows)', () => {
  // On the repartition topic the Kafka key is the group key; the source key rides in a header.
  const message = (sourceKey: Buffer | null, i: number) =>
    ({
      key: Buffer.from(`["group-${i}"]`),
      value: Buffer.from(JSON.stringify({ ts: Date.UTC(2026, 5, 1, 12, 0, i) })),
      timestamp: '0',
      offset: String(i),
      attributes: 0,
      headers: sourceKey ? { [SOURCE_KEY_HEADER]: sourceKey } : { [NO_SOURCE_KEY_HEADER]: Buffer.from('1') },
    }) as KafkaMessage;

  it('record.key is the source key from the header, null without one; other stages read the Kafka key', () => {
    const m = message(Buffer.from('{"userId":"u1"}'), 0);
    expect(sourceKeyOf(m, true)?.toString()).toBe('{"userId":"u1"}');
    expect(sourceKeyOf(m, false)?.toString()).toBe('["group-0"]');
    expect(sourceKeyOf(message(null, 1), true)).toBeNull();
    // a record re-keyed by a version before the headers: its Kafka key, as that version read it
    expect(sourceKeyOf({ ...message(null, 2), headers: {} } as KafkaMessage, true)?.toString()).toBe(
      '["group-2"]',
    );
  });

  it('foldBatch groups by the decoded source key, and a registry key format prepares the header keys', async () => {
    const result = validateText(`apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: rekeyed }
spec:
  source: { topic: t, key: { format: json }, eventTime: { field: ts } }
  groupBy: { user: record.key.userId }
  window: { type: tumbling, size: 1m, grace: 1h }
  aggregates: { n: { count: {} } }
`);
    expect(result.errors).toEqual([]);
    const pipeline = toRuntimePipeline(result.pipelines[0]!, 1);
    const rekeyed = { ...pipeline, source: { ...pipeline.source, rekeyed: true } };
    const batch = [
      message(Buffer.from('{"userId":"u1"}'), 0),
      message(Buffer.from('{"userId":"u2"}'), 1),
      message(Buffer.from('{"userId":"u1"}'), 2),
      message(Buffer.from('not json'), 3),
    ];
    const folded = await foldBatch(rekeyed, 't-repartition', 0, batch, NO_WATERMARK, noEnrichment);
    expect(folded.deadLetters.map((l) => [l.offset, l.reason])).toEqual([['3', 'key-decode']]);
    expect(folded.fold.records).toBe(3);

    const schema = { type: 'record', name: 'K', fields: [{ name: 'userId', type: 'string' }] };
    const avroKey = Buffer.concat([
      headerFor(11),
      avro.Type.forSchema(schema as avro.Schema).toBuffer({ userId: 'u3' }),
    ]);
    const decoder = keyDecoderFor(
      { key: { format: 'avro' }, schemaRegistry: registry, rekeyed: true },
      clientOf({ 11: { schemaType: 'AVRO', schema: JSON.stringify(schema), references: [] } }),
    );
    await decoder.prepare([message(avroKey, 0)], hooks);
    expect(decoder.decode(avroKey)).toEqual({ userId: 'u3' });
  });
});
