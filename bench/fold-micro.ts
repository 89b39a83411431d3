/**
 * The processor's per-record CPU cost for workload 1, stage by stage, in one process without
 * Kafka or Redis (so it is less noisy than the end-to-end run): what the raw kafkajs ceiling does
 * per record (Buffer -> string -> JSON.parse), the CEL expressions alone, the whole foldBatch, and
 * encoding the commit payload.
 *
 *   node --import tsx bench/fold-micro.ts [--records 10000] [--rounds 30]
 */
import type { KafkaMessage } from 'kafkajs';
import { noEnrichment } from '../processor/src/consumer/enrich.ts';
import { foldBatch } from '../processor/src/consumer/fold-batch.ts';
import type { RecordContext } from '../processor/src/model/pipeline.ts';
import { toRuntimePipeline } from '../processor/src/runtime/compile.ts';
import { validateText } from '../processor/src/spec/validate.ts';
import { encodePayload } from '../processor/src/state/commit.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const RECORDS = arg('records', 10_000);
const ROUNDS = arg('rounds', 30);

const yaml = `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata:
  name: micro
spec:
  source:
    topic: micro
    format: json
    eventTime: { field: ts }
  groupBy:
    key: event.k
  window: { type: tumbling, size: 10s, grace: 1h }
  aggregates:
    n: { count: {} }
    total: { sum: event.v }
`;
const valid = validateText(yaml);
if (!valid.ok) throw new Error(JSON.stringify(valid.errors));
const pipeline = toRuntimePipeline(valid.pipelines[0]!, 1);

let state = 1;
const random = () => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return state / 2 ** 32;
};
const start = Date.UTC(2026, 0, 1);
const messages: KafkaMessage[] = Array.from({ length: RECORDS }, (_, i) => ({
  key: null,
  value: Buffer.from(
    JSON.stringify({
      ts: start + Math.floor(i * 5),
      k: `k${Math.floor(random() * 10_000)}`,
      v: Math.floor(random() * 1000),
      u: `u${Math.floor(random() * 50_000)}`,
      lat: 1 + Math.floor(random() * 2000),
      st: 200,
    }),
  ),
  offset: String(i),
  timestamp: String(start + i),
  attributes: 0,
  headers: {},
  size: 0,
})) as unknown as KafkaMessage[];

const time = (fn: () => unknown) => {
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return (samples[Math.floor(samples.length / 2)]! * 1000) / RECORDS; // µs per record (median round)
};
const timeAsync = async (fn: () => Promise<unknown>) => {
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return (samples[Math.floor(samples.length / 2)]! * 1000) / RECORDS;
};

let sink = 0;
const parse = time(() => {
  for (const m of messages) sink += (JSON.parse(m.value!.toString('utf8')) as { v: number }).v;
});
const contexts: RecordContext[] = messages.map((m) => ({
  event: JSON.parse(m.value!.toString('utf8')),
  enriched: {},
  record: { topic: 'micro', key: null, partition: 0, offset: m.offset, timestamp: 0, headers: {} },
}));
const cel = time(() => {
  for (const ctx of contexts) {
    sink += pipeline.groupBy(ctx).length;
    sink += pipeline.aggregateArgs(ctx).length;
  }
});
let folded = await foldBatch(pipeline, 'micro', 0, messages, 0, noEnrichment);
const fold = await timeAsync(async () => {
  folded = await foldBatch(pipeline, 'micro', 0, messages, 0, noEnrichment);
});
const encode = time(() => {
  sink += encodePayload(folded.fold).length;
});
console.log(`${RECORDS} workload-1 records per batch, median of ${ROUNDS} rounds (µs per record):`);
console.table({
  'ceiling work: toString + JSON.parse': parse,
  'CEL: groupBy + aggregate args (on parsed events)': cel,
  'foldBatch (decode, CEL, windows, fold)': fold,
  'encodePayload (commit payload)': encode,
  'processor total (foldBatch + encode)': fold + encode,
});
console.log(`processor / ceiling work: ${((fold + encode) / parse).toFixed(1)}x (sink ${sink % 10})`);
