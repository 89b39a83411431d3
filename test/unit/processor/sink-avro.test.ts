// The Avro sink schema is derived from the pipeline and mirrors the JSON sink record field for field.
import { join } from 'node:path';
import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RegistryUnavailableError } from '../../../processor/src/consumer/formats/registry-client.ts';
import {
  avroSinkEncoder,
  type SinkRecord,
  sinkAvroSchema,
  sinkEncoderFor,
} from '../../../processor/src/consumer/sink-avro.ts';
import { logger } from '../../../processor/src/observability/logger.ts';
import { toRuntimePipeline } from '../../../processor/src/runtime/compile.ts';
import { validateFile } from '../../../processor/src/spec/validate.ts';

const examples = join(import.meta.dirname, '../../../examples');

async function example(file: string) {
  const r = await validateFile(join(examples, file));
  expect(r.ok).toBe(true);
  return toRuntimePipeline(r.pipelines[0]!, 1);
}

const fieldsOf = (schema: avro.schema.RecordType, name: string) =>
  Object.fromEntries(
    (schema.fields.find((f) => f.name === name)!.type as avro.schema.RecordType).fields.map((f) => [
      f.name,
      f.type,
    ]),
  );

describe('sink Avro schema', () => {
  it('page-views: window bounds as timestamp-millis, numbers as nullable long/double, no sketches', async () => {
    const schema = sinkAvroSchema(await example('page-views.yaml'));
    expect(schema.fields.map((f) => f.name)).toEqual(['pipeline', 'window', 'partition', 'group', 'values']);
    expect(fieldsOf(schema, 'window')).toEqual({
      start: { type: 'long', logicalType: 'timestamp-millis' },
      end: { type: 'long', logicalType: 'timestamp-millis' },
    });
    const anyGroupValue = ['null', 'string', 'double', 'boolean'];
    expect(fieldsOf(schema, 'group')).toEqual({ page: anyGroupValue, country: anyGroupValue });
    // percentile, countDistinct and topK are sketches: the JSON sink does not publish them either
    expect(fieldsOf(schema, 'values')).toEqual({
      views: ['null', 'long'],
      bytes: ['null', 'double'],
      slowest: ['null', 'double'],
    });
    expect(() => avro.Type.forSchema(schema)).not.toThrow();
  });

  it('orders-hopping: count, sum and avg', async () => {
    const schema = sinkAvroSchema(await example('orders-hopping.yaml'));
    expect(fieldsOf(schema, 'values')).toEqual({
      orders: ['null', 'long'],
      revenue: ['null', 'double'],
      avg_basket: ['null', 'double'],
    });
  });

  it('sessions: first and last as nullable strings', async () => {
    const schema = sinkAvroSchema(await example('sessions.yaml'));
    expect(fieldsOf(schema, 'values')).toEqual({
      clicks: ['null', 'long'],
      first_page: ['null', 'string'],
      last_page: ['null', 'string'],
    });
  });

  it('a wire-format value decodes to the JSON record (missing values as null)', async () => {
    const pipeline = await example('sessions.yaml');
    const encode = avroSinkEncoder(pipeline, 42);
    const type = avro.Type.forSchema(sinkAvroSchema(pipeline));
    const groupValue = fc.oneof(fc.string(), fc.double({ noNaN: true }), fc.boolean(), fc.constant(null));
    const text = fc.option(fc.string(), { nil: undefined });
    fc.assert(
      fc.property(
        fc.record({
          start: fc.integer({ min: 0, max: 2 ** 45 }),
          group: fc.record({ user: groupValue }),
          clicks: fc.integer({ min: 0, max: 2 ** 40 }),
          first: text,
          last: text,
        }),
        ({ start, group, clicks, first, last }) => {
          const record: SinkRecord = {
            pipeline: pipeline.name,
            window: { start, end: start + 1000 },
            partition: '3',
            group,
            values: {
              clicks,
              ...(first === undefined ? {} : { first_page: first }),
              ...(last === undefined ? {} : { last_page: last }),
            },
          };
          const bytes = encode(record) as Buffer;
          expect(bytes[0]).toBe(0);
          expect(bytes.readUInt32BE(1)).toBe(42);
          expect(type.fromBuffer(bytes.subarray(5))).toEqual({
            ...record,
            group: { user: group.user },
            values: { clicks, first_page: first ?? null, last_page: last ?? null },
          });
        },
      ),
    );
  });

  it('registration waits for an unreachable registry, then uses the id it gives', async () => {
    const pipeline = await example('sessions.yaml');
    let calls = 0;
    const subjects: string[] = [];
    const encoder = await sinkEncoderFor(
      {
        ...pipeline,
        sinkTopic: 'sessions.windows',
        sinkAvro: { schemaRegistry: { url: 'http://unused' }, credentialsEnv: 'UNUSED' },
      },
      logger,
      () => true,
      {
        async register(subject) {
          subjects.push(subject);
          if (++calls < 3) throw new RegistryUnavailableError('down');
          return 7;
        },
      },
    );
    expect(calls).toBe(3);
    expect(subjects).toEqual(['sessions.windows-value', 'sessions.windows-value', 'sessions.windows-value']);
    const bytes = encoder({
      pipeline: 'x',
      window: { start: 1, end: 2 },
      partition: '0',
      group: {},
      values: {},
    }) as Buffer;
    expect(bytes.readUInt32BE(1)).toBe(7);
  });
});
