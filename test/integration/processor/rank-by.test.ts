// spec.rankBy through the real processor on real Kafka and Redis: the commits keep a top-N index
// for exactly the aggregates it lists (by default the count aggregates), and `top` answers every
// aggregate the same whether it reads an index or scans the window, against an independent tally;
// a ranked sum also gets the window-level index of tumbling windows (one Redis node), and a hopping
// window with rankWholeWindows its window-level ranking sets of the ranked counts, sums and max. A
// listed percentile is indexed by its parts' upper bounds, on tumbling and hopping windows alike,
// and one not listed is still ranked (by scanning) beside it.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { compilePipeline, startInProcess } from '../../../harness/pipeline-fixture.ts';
import { waitUntil } from '../../../harness/service.ts';
import { topicWith } from '../../../harness/topics.ts';
import { bucketOf, quantile } from '../../../processor/src/aggregates/ddsketch.ts';
import { QueryStore } from '../../../processor/src/query/store.ts';
import type { RunningProcessor } from '../../../processor/src/runtime/processor.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { keys, partitionPrefix } from '../../../processor/src/state/keys.ts';

const running: RunningProcessor[] = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
});

const WINDOW_MS = 60_000;
const base = Date.UTC(2026, 5, 1, 12, 0, 0);
const RECORDS = 300;

/** Records over 12 keys with uneven counts, sums and maxima, and the per-key tally they must give. */
function records() {
  const out: { k: string; v: number; ts: number }[] = [];
  for (let i = 0; i < RECORDS; i++)
    out.push({ k: `k${(i * i + 5 * i) % 12}`, v: (i * 37) % 101, ts: base + (i % 50) * 1000 });
  const tally = new Map<string, { n: number; total: number; hi: number; values: number[] }>();
  for (const r of out) {
    const t = tally.get(r.k) ?? { n: 0, total: 0, hi: Number.NEGATIVE_INFINITY, values: [] };
    tally.set(r.k, { n: t.n + 1, total: t.total + r.v, hi: Math.max(t.hi, r.v), values: [...t.values, r.v] });
  }
  return { out, tally };
}

/** The quantile a DDSketch of these values answers (what the pipeline's percentile must give). */
function sketchQuantile(values: number[], q: number): number {
  const buckets = new Map<string, number>();
  for (const v of values) buckets.set(bucketOf(v), (buckets.get(bucketOf(v)) ?? 0) + 1);
  return quantile(buckets, q)!;
}

const TUMBLING = '{ type: tumbling, size: 1m, grace: 1h }';

async function run(rankBy: string | undefined, window = TUMBLING) {
  const id = randomUUID().slice(0, 8);
  const name = `rank-${id}`;
  const topic = `rank-${id}`;
  const pipeline = compilePipeline(`apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: ${name} }
spec:
  source: { topic: ${topic}, format: json, eventTime: { field: ts } }
  groupBy: { key: event.k }
  window: ${window}
  aggregates:
    n: { count: {} }
    total: { sum: event.v }
    hi: { max: event.v }
    p90: { percentile: event.v, q: 0.9 }
    p50: { percentile: event.v, q: 0.5 }
${rankBy === undefined ? '' : `  rankBy: ${rankBy}\n`}`);
  const brokers = inject('kafkaBrokers');
  const redisUrl = inject('redisUrl');
  const { out, tally } = records();
  await topicWith(
    brokers,
    topic,
    out.map((r) => ({ value: JSON.stringify(r) })),
  );
  const redis = connectRedis(redisUrl);
  const prefix = partitionPrefix(name, 1, 0);
  try {
    running.push(await startInProcess(pipeline, { brokers, redisUrl }));
    await waitUntil(
      'every record committed',
      async () => (await redis.hget(keys.checkpoint(prefix), 'offset')) === String(RECORDS),
      { timeoutMs: 60_000 },
    );
    const start = base - (base % WINDOW_MS);
    const lastSegments = (found: string[]) =>
      [...new Set(found.map((k) => k.slice(k.lastIndexOf(':') + 1)))].sort();
    // the index of the window's hash (tumbling) or of its slices (hopping)
    const indexed = lastSegments(await redis.keys(`${prefix}:*:tot:rk:*`));
    // ranked sums also get the window-level index (one Redis node, tumbling: query/global-top.ts)
    const windowLevel = lastSegments(await redis.keys(`${keys.groupSets(name, 1)}:rk:${start}:*`));
    // and hopping windows with rankWholeWindows their window-level ranking sets
    const wholeWindows = lastSegments(await redis.keys(`${keys.groupSets(name, 1)}:rh:${start}:*`));
    // and the window's set of groups (tumbling windows; hopping ones with rankWholeWindows)
    const kept = await redis.scard(keys.windowGroups(keys.groupSets(name, 1), start));
    const groupSet =
      kept === tally.size ? 'every group' : kept === 0 ? 'none' : `${kept} of ${tally.size} groups`;
    // top of every rankable aggregate, from the index or the scan, against the tally
    const store = new QueryStore(redis, { cache: false });
    for (const [aggregate, measure] of [
      ['n', (t: { n: number }) => t.n],
      ['total', (t: { total: number }) => t.total],
      ['hi', (t: { hi: number }) => t.hi],
      ['p90', (t: { values: number[] }) => sketchQuantile(t.values, 0.9)],
      // not in any rankBy: scanned, also beside an indexed percentile
      ['p50', (t: { values: number[] }) => sketchQuantile(t.values, 0.5)],
    ] as const) {
      const want = [...tally]
        .map(([k, t]) => ({ k, value: measure(t as never) }))
        .sort((a, b) => b.value - a.value || (a.k < b.k ? -1 : 1))
        .slice(0, 4);
      const got = await store.top(name, { aggregate, window: start, limit: 4, filters: new Map() });
      expect({
        aggregate,
        groupCount: got.groupCount,
        top: got.groups.map((g) => [g.group.key, g.value]),
      }).toEqual({
        aggregate,
        groupCount: tally.size,
        top: want.map((w) => [w.k, w.value]),
      });
    }
    return { indexed, windowLevel, wholeWindows, groupSet };
  } finally {
    redis.disconnect();
  }
}

describe('spec.rankBy', () => {
  it('indexes the count aggregates by default', { timeout: 120_000 }, async () => {
    expect(await run(undefined)).toEqual({
      indexed: ['n'],
      windowLevel: [],
      wholeWindows: [],
      groupSet: 'every group',
    });
  });

  it('indexes exactly the aggregates it lists, none with []', { timeout: 120_000 }, async () => {
    expect(await run('[total, hi, p90]')).toEqual({
      indexed: ['hi', 'p90', 'total'],
      windowLevel: ['total'],
      wholeWindows: [],
      groupSet: 'every group',
    });
    expect(await run('[]')).toEqual({
      indexed: [],
      windowLevel: [],
      wholeWindows: [],
      groupSet: 'every group',
    });
  });

  it('ranks whole hopping windows only with window.rankWholeWindows', { timeout: 180_000 }, async () => {
    const hopping = (whole: boolean) =>
      `{ type: hopping, size: 1m, advance: 20s, grace: 1h${whole ? ', rankWholeWindows: true' : ''} }`;
    // counts, max and the sum (of whole numbers here) get the window-level sets, the window its
    // set of groups
    expect(await run('[n, total, hi, p90]', hopping(true))).toEqual({
      indexed: ['hi', 'n', 'p90', 'total'],
      windowLevel: [],
      wholeWindows: ['hi', 'n', 'total'],
      groupSet: 'every group',
    });
    expect(await run('[n, total, hi, p90]', hopping(false))).toEqual({
      indexed: ['hi', 'n', 'p90', 'total'],
      windowLevel: [],
      wholeWindows: [],
      groupSet: 'none',
    });
  });
});
