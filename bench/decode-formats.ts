/**
 * Decode cost per record of Avro and Protobuf (Confluent wire format) against JSON, on workload 1's
 * record shape `{ts, k, v, u, lat, st}`, in one process without Kafka or Redis: the same events
 * encoded three ways, decoded by the processor's decoders (value only) and folded by foldBatch
 * (decode + CEL + windows), median of several rounds. The writer schemas are handed to the decoder
 * from memory: fetching them from a registry happens once per schema id and is not per-record cost.
 *
 *   node --import tsx bench/decode-formats.ts [--records 20000] [--rounds 15]
 */
import avro from 'avsc';
import type { KafkaMessage } from 'kafkajs';
import protobuf from 'protobufjs';
import { probeEvents } from '../processor/src/capacity/probe.ts';
import { noEnrichment } from '../processor/src/consumer/enrich.ts';
import { foldBatch } from '../processor/src/consumer/fold-batch.ts';
import type { RegisteredSchema, RegistryClient } from '../processor/src/consumer/formats/registry-client.ts';
import { type ValueDecoder, valueDecoderFor } from '../processor/src/consumer/formats/value-decoder.ts';
import { encodeMessageIndexes, headerFor } from '../processor/src/consumer/formats/wire.ts';
import { toRuntimePipeline } from '../processor/src/runtime/compile.ts';
import { validateText } from '../processor/src/spec/validate.ts';

type Format = 'json' | 'avro' | 'protobuf';

export interface DecodeRow {
  format: Format;
  /** bytes per record value */
  bytes: number;
  /** µs per record: decoding the value into the event */
  decodeUs: number;
  /** µs per record: foldBatch (decode, CEL, windows, fold) */
  foldUs: number;
  /** records per second of foldBatch on one core */
  foldRate: number;
}

const avroSchema = {
  type: 'record',
  name: 'View',
  namespace: 'bench',
  fields: [
    { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'k', type: 'string' },
    { name: 'v', type: 'int' },
    { name: 'u', type: 'string' },
    { name: 'lat', type: 'int' },
    { name: 'st', type: 'int' },
  ],
};
const protoSchema = `syntax = "proto3";
package bench;
message View { int64 ts = 1; string k = 2; int32 v = 3; string u = 4; int32 lat = 5; int32 st = 6; }`;

const schemas: Record<number, RegisteredSchema> = {
  1: { schemaType: 'AVRO', schema: JSON.stringify(avroSchema), references: [] },
  2: { schemaType: 'PROTOBUF', schema: protoSchema, references: [] },
};
const inMemory: RegistryClient = {
  schemaById: async (id) => schemas[id]!,
  schemaBySubjectVersion: async () => {
    throw new Error('no references here');
  },
};

const yaml = (format: Format) => `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata:
  name: decode-${format.toLowerCase()}
spec:
  source:
    topic: decode
    format: ${format}
${format === 'json' ? '' : '    schemaRegistry: { url: "http://registry.invalid:8081" }\n'}    eventTime: { field: ts }
  groupBy:
    key: event.k
  window: { type: tumbling, size: 10s, grace: 1h }
  aggregates:
    n: { count: {} }
    total: { sum: event.v }
`;

const events = probeEvents;

function encoder(format: Format): (e: ReturnType<typeof events>[number]) => Buffer {
  if (format === 'json') return (e) => Buffer.from(JSON.stringify(e));
  if (format === 'avro') {
    const type = avro.Type.forSchema(avroSchema as avro.Schema);
    return (e) => Buffer.concat([headerFor(1), type.toBuffer(e)]);
  }
  const View = protobuf.parse(protoSchema, { keepCase: true }).root.lookupType('bench.View');
  const header = Buffer.concat([headerFor(2), encodeMessageIndexes([0])]);
  return (e) => Buffer.concat([header, View.encode(View.fromObject(e)).finish()]);
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function measureDecodeFormats(options: { records?: number; rounds?: number } = {}) {
  const records = options.records ?? 20_000;
  const rounds = options.rounds ?? 15;
  const data = events(records);
  const prepared = [];
  for (const format of ['json', 'avro', 'protobuf'] as const) {
    const valid = validateText(yaml(format));
    if (!valid.ok) throw new Error(JSON.stringify(valid.errors));
    const pipeline = toRuntimePipeline(valid.pipelines[0]!, 1);
    const encode = encoder(format);
    const messages = data.map((e, i) => ({
      key: null,
      value: encode(e),
      offset: String(i),
      timestamp: String(e.ts),
      attributes: 0,
      headers: {},
      size: 0,
    })) as unknown as KafkaMessage[];
    const decoder: ValueDecoder = valueDecoderFor(pipeline.source, inMemory);
    await decoder.prepare(messages, { isRunning: () => true, onWait: async () => {} });
    prepared.push({
      format,
      pipeline,
      messages,
      decoder,
      decodeSamples: [] as number[],
      foldSamples: [] as number[],
    });
  }
  // Rounds interleave the formats (and the first round warms up and is dropped), so JIT warm-up and
  // the drift of a shared machine fall on all three alike.
  let sink = 0;
  for (let r = 0; r <= rounds; r++) {
    for (const p of prepared) {
      let t = performance.now();
      for (const m of p.messages) sink += (p.decoder.decode(m.value) as { v: number }).v;
      const decodeMs = performance.now() - t;
      t = performance.now();
      const folded = await foldBatch(
        p.pipeline,
        'decode',
        0,
        p.messages,
        0,
        noEnrichment,
        undefined,
        p.decoder,
      );
      const foldMs = performance.now() - t;
      sink += folded.fold.records;
      if (r === 0) continue;
      p.decodeSamples.push(decodeMs);
      p.foldSamples.push(foldMs);
    }
  }
  if (sink === 0) throw new Error('nothing decoded');
  const rows: DecodeRow[] = prepared.map((p) => {
    const foldUs = (median(p.foldSamples) * 1000) / records;
    return {
      format: p.format,
      bytes: p.messages.reduce((n, m) => n + m.value!.length, 0) / records,
      decodeUs: (median(p.decodeSamples) * 1000) / records,
      foldUs,
      foldRate: 1e6 / foldUs,
    };
  });
  return rows;
}

/** The markdown table of a measurement, with each format's cost relative to JSON. */
export function decodeFormatsTable(rows: DecodeRow[]): string[] {
  const json = rows.find((r) => r.format === 'json')!;
  return [
    '| source format (w1 shape) | bytes/record | decode µs/record | vs JSON | foldBatch µs/record | foldBatch rec/s (1 core) | vs JSON |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.format} | ${r.bytes.toFixed(1)} | ${r.decodeUs.toFixed(2)} | ${(r.decodeUs / json.decodeUs).toFixed(2)} | ${r.foldUs.toFixed(2)} | ${Math.round(r.foldRate).toLocaleString('en-US')} | ${(r.foldRate / json.foldRate).toFixed(2)} |`,
    ),
  ];
}

if (process.argv[1]?.endsWith('decode-formats.ts')) {
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i === -1 ? fallback : Number(process.argv[i + 1]);
  };
  const rows = await measureDecodeFormats({ records: arg('records', 20_000), rounds: arg('rounds', 15) });
  console.log(decodeFormatsTable(rows).join('\n'));
}
