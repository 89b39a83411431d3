import { quantile } from '../../../processor/src/aggregates/ddsketch.ts';
import type { RedisClient } from '../../../processor/src/state/connection.ts';
import { fieldOf, groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';

/** One generated page view; the test knows every one of them, so it can compute the exact answer. */
export interface View {
  ts: number;
  page: string;
  user: string;
  bytes: number;
  latency: number;
}

export const WINDOW_MS = 60_000;

/**
 * A deterministic stream (a small LCG, no Math.random) so a failure can be replayed. Lazy, so a soak
 * of millions of records never holds them all: the scenario folds each into the truth as it is sent.
 */
export function* viewStream(count: number, seed: number, startTime: number): Generator<View> {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  for (let i = 0; i < count; i++) {
    yield {
      // Ten minutes of event time, slightly out of order (within the grace period).
      ts: startTime + Math.floor((i / count) * 600_000) - Math.floor(next() * 5000),
      page: `/p${Math.floor(next() * 40)}`,
      user: `u${Math.floor(next() * 3000)}`,
      bytes: Math.floor(next() * 10_000),
      latency: 1 + Math.floor(next() * 2000),
    };
  }
}

export function generateViews(count: number, seed: number, startTime: number): View[] {
  return [...viewStream(count, seed, startTime)];
}

export interface Truth {
  count: number;
  bytes: number;
  users: Set<string>;
  /** latency → how many views had it (latencies are small integers; a soak has millions of views) */
  latencies: Map<number, number>;
  maxLatency: number;
}

/** Adds one view to the expected aggregates of the window starting at `start`, computed without any processor code. */
function addAt(truth: Map<string, Truth>, start: number, view: View): void {
  const id = `${start}|${view.page}`;
  let t = truth.get(id);
  if (!t) {
    t = { count: 0, bytes: 0, users: new Set(), latencies: new Map(), maxLatency: 0 };
    truth.set(id, t);
  }
  t.count++;
  t.bytes += view.bytes;
  t.users.add(view.user);
  t.latencies.set(view.latency, (t.latencies.get(view.latency) ?? 0) + 1);
  t.maxLatency = Math.max(t.maxLatency, view.latency);
}

/** Folds one view into the expected aggregates per (window start, page) of the tumbling window. */
export function addToTruth(truth: Map<string, Truth>, view: View, windowMs = WINDOW_MS): void {
  addAt(truth, view.ts - (view.ts % windowMs), view);
}

/** The expected aggregates per (window start, page). */
export function groundTruth(views: Iterable<View>, windowMs = WINDOW_MS): Map<string, Truth> {
  const truth = new Map<string, Truth>();
  for (const view of views) addToTruth(truth, view, windowMs);
  return truth;
}

/** A hopping window for the sliced, owner-packed path: 3 overlapping windows per record. */
export const HOPPING = { sizeMs: 60_000, advanceMs: 20_000 };
const TUMBLING_YAML = 'window: { type: tumbling, size: 1m, grace: 1h }';
// rankWholeWindows: the window-level ranking sets are checked under SIGKILL too (top by views, bytes and slowest)
export const HOPPING_YAML =
  'window: { type: hopping, size: 1m, advance: 20s, grace: 1h, rankWholeWindows: true }';

/** Folds one view into the expected aggregates per (window start, page) of every hopping window it falls in. */
export function addToHoppingTruth(truth: Map<string, Truth>, view: View): void {
  const { sizeMs, advanceMs } = HOPPING;
  const last = view.ts - (((view.ts % advanceMs) + advanceMs) % advanceMs);
  for (let start = last; start > view.ts - sizeMs; start -= advanceMs) addAt(truth, start, view);
}

/** Tumbling with a grace longer than the generated views' disorder (5 s), so windows close during a run and no view is late. */
const SINK_WINDOW_YAML = 'window: { type: tumbling, size: 1m, grace: 10s }';

export const pipelineYaml = (
  name: string,
  topic: string,
  source = 'format: json',
  window = TUMBLING_YAML,
  /** a sink (with a grace short enough for windows to close during the run) */
  sink?: { delivery: 'atLeastOnce' | 'exactlyOnce' },
) => `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata:
  name: ${name}
spec:
  source:
    topic: ${topic}
    ${source}
    eventTime: { field: ts }
    startFrom: earliest
  groupBy:
    page: event.page
  ${sink ? SINK_WINDOW_YAML : window}
  aggregates:
    views: { count: {} }
    bytes: { sum: event.bytes }
    slowest: { max: event.latency }
    p50: { percentile: event.latency, q: 0.5 }
    visitors: { countDistinct: event.user }
  rankBy: [views, bytes, slowest]
  deadLetter: { topic: ${topic}.dlq }
${sink ? `  sink: { topic: ${topic}.sink, delivery: ${sink.delivery} }\n` : ''}`;

export interface Observed {
  count: number;
  bytes: number;
  maxLatency: number;
  sketch: Map<string, number>;
  /** the group's HyperLogLogs (Redis' format), one per partition and form */
  hlls: Buffer[];
}

/**
 * Reads every partition's partial state straight from Redis and merges it (independently of the query
 * API). Sketches come in two forms (docs in state/keys.ts): per-group keys updated with deltas, and
 * fields of the window hash the owner writes whole (`p50#d|<group>` as "bucket:n,...", `visitors#h|<group>`
 * as a HyperLogLog); both are read, as a window written before and after an upgrade holds both.
 */
export async function readObserved(
  redis: RedisClient,
  pipeline: string,
  partitions: number,
): Promise<Map<string, Observed>> {
  const observed = new Map<string, Observed>();
  for (let p = 0; p < partitions; p++) {
    const prefix = partitionPrefix(pipeline, 1, p);
    for (const start of await redis.zrange(keys.windows(prefix), 0, -1)) {
      const windowKey = keys.window(prefix, Number(start));
      const hash = await redis.hgetall(windowKey);
      for (const [field, value] of Object.entries(hash)) {
        if (!field.startsWith('views|')) continue;
        const group = field.slice('views|'.length);
        const page = (JSON.parse(group) as string[])[0]!;
        const id = `${start}|${page}`;
        let o = observed.get(id);
        if (!o) {
          o = { count: 0, bytes: 0, maxLatency: 0, sketch: new Map(), hlls: [] };
          observed.set(id, o);
        }
        o.count += Number(value);
        o.bytes += Number(hash[fieldOf('bytes', group)]);
        o.maxLatency = Math.max(o.maxLatency, Number(hash[fieldOf('slowest', group)]));
        const buckets = await redis.hgetall(keys.sketch(prefix, Number(start), 'dd', fieldOf('p50', group)));
        const packed = (hash[`p50#d|${group}`] ?? '').split(',').filter((entry) => entry !== '');
        for (const [bucket, n] of [
          ...Object.entries(buckets),
          ...packed.map((entry) => [
            entry.slice(0, entry.lastIndexOf(':')),
            entry.slice(entry.lastIndexOf(':') + 1),
          ]),
        ])
          o.sketch.set(bucket!, (o.sketch.get(bucket!) ?? 0) + Number(n));
        for (const raw of [
          await redis.getBuffer(keys.sketch(prefix, Number(start), 'hll', fieldOf('visitors', group))),
          await redis.hgetBuffer(windowKey, `visitors#h|${group}`),
        ])
          if (raw !== null && raw.length > 0) o.hlls.push(raw);
      }
    }
  }
  return observed;
}

/** Distinct count of the union of HLLs from different slots and forms: copied under one tag, then PFCOUNT. */
export async function mergedDistinct(redis: RedisClient, hlls: Buffer[]): Promise<number> {
  const temp: string[] = [];
  for (const [i, raw] of hlls.entries()) {
    const copy = `kf:{verify}:hll:${i}`;
    await redis.set(copy, raw);
    temp.push(copy);
  }
  if (temp.length === 0) return 0;
  const count = await redis.pfcount(...temp);
  await redis.del(...temp);
  return count;
}

/** The exact value at rank floor(0.5·(n−1)) of the sorted latencies, from their counts. */
export function exactMedianRank(latencies: Map<number, number>): number {
  let n = 0;
  for (const count of latencies.values()) n += count;
  const rank = Math.floor(0.5 * (n - 1));
  let seen = 0;
  for (const value of [...latencies.keys()].sort((a, b) => a - b)) {
    seen += latencies.get(value)!;
    if (seen > rank) return value;
  }
  throw new Error('no latencies');
}

export { groupKeyOf, quantile };
