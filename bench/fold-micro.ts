/**
 * The processor's per-record CPU cost for workload 1, stage by stage, in one process without
 * Kafka or Redis (so it is less noisy than the end-to-end run): what the raw kafkajs ceiling does
 * per record (Buffer -> string -> JSON.parse), the CEL expressions alone, the whole foldBatch, and
 * the commit as the owner sends it (absolute values, write-side totals, command bytes); then workload 3's sketches (slices, packed HyperLogLogs and DDSketches).
 *
 *   node --import tsx bench/fold-micro.ts [--records 10000] [--rounds 30] [--w3-batch-ms 300000] [--w3-keys 100000]
 *
 * --w3-batch-ms and --w3-keys shape workload 3's batches: the event time one batch spans and the
 * keys of its partition. A live replica at half rate reads ~300-800 records per batch of one
 * partition, within a second of event time, over ~8,300 keys (100k keys, 12 partitions):
 * `--records 600 --rounds 200 --w3-batch-ms 250 --w3-keys 8300`.
 */
import type { KafkaMessage } from 'kafkajs';
import { PROBE_PIPELINE } from '../processor/src/capacity/probe.ts';
import { noEnrichment } from '../processor/src/consumer/enrich.ts';
import { foldBatch } from '../processor/src/consumer/fold-batch.ts';
import type { RecordContext } from '../processor/src/model/pipeline.ts';
import { toRuntimePipeline } from '../processor/src/runtime/compile.ts';
import { validateText } from '../processor/src/spec/validate.ts';
import { commitArguments } from '../processor/src/state/commit.ts';
import type { RedisClient } from '../processor/src/state/connection.ts';
import { OwnedTotals } from '../processor/src/state/owned-totals.ts';
import { DEFAULT_MAX_CACHED_FIELDS, OwnedWindows } from '../processor/src/state/owned-windows.ts';
import { encodeCommand } from '../processor/src/state/script-command.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const RECORDS = arg('records', 10_000);
const ROUNDS = arg('rounds', 30);
const W3_BATCH_MS = arg('w3-batch-ms', 300_000);
const W3_KEYS = arg('w3-keys', 100_000);

// workload 1's pipeline, the one the machine probe of `kappaflow plan --calibrate` folds
const yaml = PROBE_PIPELINE;
const valid = validateText(yaml);
if (!valid.ok) throw new Error(JSON.stringify(valid.errors));
const pipeline = toRuntimePipeline(valid.pipelines[0]!, 1);

let state = 1;
const random = () => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return state / 2 ** 32;
};
const start = Date.UTC(2026, 0, 1);
/** `RECORDS` events of the benchmark's shape over `keys` keys, `msPerRecord` of event time apart from `from`. */
const messagesOf = (keys: number, msPerRecord: number, from = start): KafkaMessage[] =>
  Array.from({ length: RECORDS }, (_, i) => ({
    key: null,
    value: Buffer.from(
      JSON.stringify({
        ts: from + Math.floor(i * msPerRecord),
        k: `k${Math.floor(random() * keys)}`,
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
const messages = messagesOf(10_000, 5);

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
/** OwnedWindows.load's one round trip, answered with empty hashes (a fresh pipeline's slices). */
const noStoredWindows = {
  pipeline() {
    const replies: [null, Record<string, string>][] = [];
    const pipe = {
      hgetall: () => {
        replies.push([null, {}]);
        return pipe;
      },
      hgetallBuffer: () => pipe.hgetall(),
      // the owner-kept totals sketches (state/owned-totals.ts): none stored yet
      getBuffer: () => {
        replies.push([null, null as unknown as Record<string, string>]);
        return pipe;
      },
      zrange: () => {
        replies.push([null, [] as unknown as Record<string, string>]);
        return pipe;
      },
      exec: async () => replies,
    };
    return pipe;
  },
} as unknown as RedisClient;
// The commit of the batch as the owner sends it: absolute values staged from its cache (one owner
// across rounds, as a replica's cache of open windows), with the write-side totals, as command bytes.
const owner1 = new OwnedWindows();
const encode = await timeAsync(async () => {
  await owner1.load(noStoredWindows, 'kf:{micro:1:0}', folded.fold);
  const absolute = owner1.stage(folded.fold);
  owner1.applied([]);
  const args = commitArguments({
    prefix: 'kf:{micro:1:0}',
    epoch: 1,
    expectedOffset: null,
    firstOffset: '0',
    nextOffset: String(RECORDS),
    watermark: start + 60_000,
    graceMs: 3_600_000,
    retentionMs: 86_400_000,
    fold: folded.fold,
    absolute,
    rollups: true,
  });
  sink += encodeCommand('evalsha', ['0'.repeat(40), 1, ...args]).length;
});
console.log(`${RECORDS} workload-1 records per batch, median of ${ROUNDS} rounds (µs per record):`);
console.table({
  'ceiling work: toString + JSON.parse': parse,
  'CEL: groupBy + aggregate args (on parsed events)': cel,
  'foldBatch (decode, CEL, windows, fold)': fold,
  'owner stage + commit arguments (totals too) + command bytes': encode,
  'processor total (foldBatch + commit)': fold + encode,
});
console.log(`processor / ceiling work: ${((fold + encode) / parse).toFixed(1)}x (sink ${sink % 10})`);

// Workload 3's shape (hopping 1 min / 10 s, countDistinct + p95 over 100,000 keys) through the
// owner's whole CPU path: foldBatch into slices, the packed sketches staged (HyperLogLogs in Redis'
// format, DDSketch text) with the write-side totals (the merged sketches the owner keeps), the
// cached values updated, and the commit command serialised by ioredis.
// A batch of one partition as in `npm run bench` (12 partitions, 10 min of event time): ~8,000
// records over ~5 min, so nearly every (slice, group) is new and holds one record.
const w3Yaml = `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata:
  name: micro3
spec:
  source:
    topic: micro3
    format: json
    eventTime: { field: ts }
  groupBy:
    key: event.k
  window: { type: hopping, size: 1m, advance: 10s, grace: 1h }
  aggregates:
    users: { countDistinct: event.u }
    p95: { percentile: event.lat, q: 0.95 }
`;
const valid3 = validateText(w3Yaml);
if (!valid3.ok) throw new Error(JSON.stringify(valid3.errors));
const pipeline3 = toRuntimePipeline(valid3.pipelines[0]!, 1);
// Each round is the partition's next batch (by default the next 5 min), folded by one owner whose
// cache of open slices grows as in a replica (nothing closes within the hour of grace).
const batches3 = Array.from({ length: ROUNDS }, (_, r) =>
  messagesOf(W3_KEYS, W3_BATCH_MS / RECORDS, start + r * W3_BATCH_MS),
);
const window3 = pipeline3.window as { sizeMs: number; advanceMs: number; sliceMs: number };
const stage3 = { fold: [] as number[], stage: [] as number[], command: [] as number[] };
const owned = new OwnedWindows(DEFAULT_MAX_CACHED_FIELDS, true, new OwnedTotals(pipeline3.aggregates));
for (let r = 0; r < ROUNDS; r++) {
  const t0 = performance.now();
  const { fold } = await foldBatch(pipeline3, 'micro3', 0, batches3[r]!, 0, noEnrichment);
  const t1 = performance.now();
  await owned.load(noStoredWindows, 'kf:{micro3:1:0}', fold);
  const absolute = owned.stage(fold);
  const ownedTotals = owned.stageTotals(fold);
  owned.applied([]);
  const t2 = performance.now();
  const args = commitArguments({
    prefix: 'kf:{micro3:1:0}',
    epoch: 1,
    expectedOffset: null,
    firstOffset: '0',
    nextOffset: String(RECORDS),
    watermark: start + (r + 1) * W3_BATCH_MS,
    graceMs: 3_600_000,
    retentionMs: 86_400_000,
    fold,
    absolute,
    packedSketches: true,
    rollups: true,
    ...(ownedTotals ? { ownedTotals } : {}),
    slicing: { sizeMs: window3.sizeMs, advanceMs: window3.advanceMs, sliceMs: window3.sliceMs },
  });
  // the bytes the commit's script call writes (state/script-command.ts): sha, key count, arguments
  sink += encodeCommand('evalsha', ['0'.repeat(40), 1, ...args]).length;
  const t3 = performance.now();
  stage3.fold.push(t1 - t0);
  stage3.stage.push(t2 - t1);
  stage3.command.push(t3 - t2);
}
const median = (ms: number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return (sorted[Math.floor(sorted.length / 2)]! * 1000) / RECORDS;
};
const w3 = {
  'foldBatch into slices': median(stage3.fold),
  'owner: stage packed sketches and totals + apply': median(stage3.stage),
  'commit arguments + ioredis command bytes': median(stage3.command),
};
const w3Total = Object.values(w3).reduce((a, b) => a + b, 0);
console.log(
  `\n${RECORDS} workload-3 records per batch, median of ${ROUNDS} rounds per stage (µs per record):`,
);
console.table({ ...w3, 'processor total': w3Total });
console.log(`w3 processor / ceiling work: ${(w3Total / parse).toFixed(1)}x`);
