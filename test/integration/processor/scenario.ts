import type { Admin, Kafka } from 'kafkajs';
import { expect } from 'vitest';
import { pipelineFixture } from '../../../harness/pipeline-fixture.ts';
import type { ProcessorProcess } from '../../../harness/processor.ts';
import { decodeCursor } from '../../../processor/src/query/params.ts';
import { QueryStore } from '../../../processor/src/query/store.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';
import {
  addToHoppingTruth,
  addToTruth,
  exactMedianRank,
  generateViews,
  HOPPING,
  HOPPING_YAML,
  mergedDistinct,
  pipelineYaml,
  quantile,
  readObserved,
  type Truth,
  type View,
  viewStream,
} from './ground-truth.ts';

/**
 * The exactly-once scenario the SIGKILL tests and the failure drills share: three real processor
 * replicas consume generated page views while the scenario injects failures, then every aggregate
 * is compared with a ground truth computed without any processor code.
 */
export const PARTITIONS = 6;
const debug = (...args: unknown[]) => process.env.KAPPAFLOW_DEBUG && console.log(...args);

export interface Scenario {
  records: number;
  brokers: string[];
  redisUrl: string;
  minKills: number;
  /** extra disruption, called once while records flow (after a third of them are produced) */
  disrupt?: (ctx: ScenarioContext) => Promise<void>;
  /** replicas added and removed instead of only killed */
  storm?: boolean;
  /** how long production is spread over (default 30 s), so disruptions land mid-stream */
  productionMs?: number;
  /** topic settings: replication factor and per-topic configs (e.g. min.insync.replicas) */
  topic?: { replicationFactor?: number; configEntries?: { name: string; value: string }[] };
  /** soak: at most one kill per this many ms, only of these replica slots (default: any, as fast as the loop goes) */
  killEveryMs?: number;
  killSlots?: number[];
  /** called on every turn of the chaos loop (e.g. to sample memory) */
  onTick?: (replicas: ReplicaSet) => void;
  /** called with every replica's metrics text before the replicas are stopped */
  onMetrics?: (texts: string[]) => void;
  /**
   * Environment of every replica on top of `brokers` and `redisUrl` (e.g. TLS addresses and
   * settings), while this scenario's own clients keep `brokers` and `redisUrl`.
   */
  processorEnv?: NodeJS.ProcessEnv;
  /** another source format: the YAML's source and each view's encoded value (default JSON) */
  format?: { source: string; encode: (views: readonly View[]) => Promise<Buffer[]> };
  /** hopping: the sliced window whose sketches the owner packs, checked through the query layer */
  window?: 'hopping';
  /** more environment of each replica started, made per start (e.g. KAPPAFLOW_FAULT crash points, observability/fault-points.ts) */
  env?: (slot: number) => NodeJS.ProcessEnv;
  /**
   * Publish closed windows to `<topic>.sink` with this delivery; `check` runs once every partition
   * caught up, while the replicas still run. A closing view per partition, an hour after the
   * others, closes every window but its own.
   */
  sink?: {
    delivery: 'atLeastOnce' | 'exactlyOnce';
    check: (ctx: SinkCheckContext) => Promise<void>;
  };
}

export interface SinkCheckContext {
  kafka: Kafka;
  admin: Admin;
  name: string;
  topic: string;
  /** every produced view; view i went to partition i % PARTITIONS */
  views: readonly View[];
  /** the windows before this start are closed */
  closedBefore: number;
}

export interface ScenarioContext {
  replicas: ReplicaSet;
  /** records acknowledged by Kafka so far */
  produced(): number;
  admin: Admin;
  name: string;
  dir: string;
}

export interface ReplicaSet {
  start(slot: number): Promise<void>;
  replicas: (ProcessorProcess | undefined)[];
}

/** What a finished scenario measured, for docs/reliability.md. */
export interface ScenarioReport {
  records: number;
  kills: number;
  /** from the last disruption's end until every partition's checkpoint reached the log's end */
  catchUpSeconds: number;
  seconds: number;
  /** replicas that exited or were killed by themselves (not by the scenario) and were restarted */
  selfExits: number;
}

const everyProcess = new Set<ProcessorProcess>();
/** Kills every processor the scenarios started (call from afterAll). */
export async function killScenarioProcesses(): Promise<void> {
  await Promise.all([...everyProcess].map((p) => p.kill()));
  everyProcess.clear();
}

export async function metricsOf(replica: ProcessorProcess): Promise<string> {
  return (await fetch(`http://127.0.0.1:${replica.port}/metrics`)).text();
}

/** The sum of one counter's samples whose labels contain `match` (e.g. `outcome="fenced"`). */
export function counterValue(text: string, name: string, match = ''): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (match && !line.includes(match)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

export async function runScenario(scenario: Scenario): Promise<ScenarioReport> {
  const began = Date.now();
  const { brokers, redisUrl } = scenario;
  const fixture = await pipelineFixture({
    brokers,
    redisUrl,
    prefix: 'eos',
    topicPrefix: 'eos-views',
    partitions: PARTITIONS,
    yaml: (name, topic) =>
      pipelineYaml(
        name,
        topic,
        scenario.format?.source,
        scenario.window === 'hopping' ? HOPPING_YAML : undefined,
        scenario.sink,
      ),
    ...(scenario.topic ? { topicConfig: scenario.topic } : {}),
    // Generous retries: some scenarios restart brokers while this client produces and polls.
    kafka: { retry: { retries: 40, initialRetryTime: 300, maxRetryTime: 2000 } },
  });
  const { name, topic, dir, kafka, admin } = fixture;
  const startTime = Date.UTC(2026, 0, 1);
  // Views are generated as they are sent and folded into the truth then, so memory stays flat however
  // long a soak runs; another format, or a sink check, holds them all (a short test).
  const closedBefore = startTime + 3_600_000;
  let views: Iterable<View> = viewStream(scenario.records, 42, startTime);
  if (scenario.format || scenario.sink) {
    const all = generateViews(scenario.records, 42, startTime);
    // A closing view per partition, an hour later, closes every window before it.
    if (scenario.sink)
      for (let p = 0; p < PARTITIONS; p++)
        all.push({ ts: closedBefore, page: '/closer', user: 'closer', bytes: 1, latency: 1 });
    views = all;
  }
  const total = scenario.records + (scenario.sink ? PARTITIONS : 0);
  const encoded = scenario.format ? await scenario.format.encode(views as View[]) : undefined;
  const truth = new Map<string, Truth>();
  const addView = scenario.window === 'hopping' ? addToHoppingTruth : addToTruth;

  const set: ReplicaSet = {
    replicas: [],
    async start(slot) {
      const replica = await fixture.spawn(slot, { ...scenario.processorEnv, ...scenario.env?.(slot) });
      set.replicas[slot] = replica;
      everyProcess.add(replica);
    },
  };
  for (let slot = 0; slot < 3; slot++) await set.start(slot);

  // Produce in chunks while the chaos loop runs, so every failure lands mid-stream. The idempotent
  // producer retries through a broker restart without duplicating records; re-sending a failed
  // chunk by hand could duplicate it, so the retries are generous instead.
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { retries: 40, initialRetryTime: 300, maxRetryTime: 2000 },
  });
  await producer.connect();
  let produced = 0;
  const chunk = 2000;
  const productionMs = scenario.productionMs ?? 30_000;
  const production = (async () => {
    const iterator = views[Symbol.iterator]();
    const pace = Math.max(20, (productionMs * chunk) / total);
    for (let i = 0; i < total; i += chunk) {
      const batch: View[] = [];
      for (let next = iterator.next(); !next.done; ) {
        batch.push(next.value);
        if (batch.length === chunk) break;
        next = iterator.next();
      }
      const sendStarted = Date.now();
      await producer.send({
        topic,
        acks: -1,
        messages: batch.map((v, j) => ({
          partition: (i + j) % PARTITIONS,
          key: v.user,
          value: encoded ? encoded[i + j]! : JSON.stringify(v),
        })),
      });
      for (const view of batch) addView(truth, view);
      produced = Math.min(total, i + chunk);
      // The chunk's share of the production time, less what sending it took (a soak's rate holds).
      await new Promise((r) => setTimeout(r, Math.max(5, pace - (Date.now() - sendStarted))));
    }
  })();
  let productionError: unknown;
  production.catch((error) => {
    productionError = error;
  });

  let seed = 7;
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const checker = connectRedis(redisUrl);
  // Failovers and restarts make it reconnect; a failed check is just retried on the next turn.
  checker.on('error', () => {});
  const caughtUp = async () => {
    if (produced < total) return false;
    const offsets = await admin.fetchTopicOffsets(topic).catch(() => null);
    if (offsets === null) return false;
    for (const { partition, high } of offsets) {
      const next = await checker.hget(keys.checkpoint(partitionPrefix(name, 1, partition)), 'offset');
      if (next !== high) return false;
    }
    return true;
  };

  let kills = 0;
  let selfExits = 0;
  let lastKillAt = Date.now();
  let disrupted = scenario.disrupt === undefined;
  let lastDisruption = Date.now();
  const deadline = Date.now() + productionMs + 600_000;
  while (kills < scenario.minKills || !disrupted || !(await caughtUp().catch(() => false))) {
    if (productionError) throw productionError;
    if (Date.now() > deadline) throw new Error(`no catch-up after 10 minutes; logs in ${dir}`);
    await new Promise((r) => setTimeout(r, 1500 + random() * 2500));
    // Like Kubernetes' restart policy: a replica that exited by itself (e.g. its consumer gave up
    // during a broker outage) is started again.
    for (const [slot, replica] of set.replicas.entries()) {
      if (replica && (replica.child.exitCode !== null || replica.child.signalCode !== null)) {
        debug('restarting exited replica', slot, replica.child.exitCode, replica.child.signalCode);
        selfExits++;
        await set.start(slot);
      }
    }
    if (!disrupted && produced > total / 3) {
      debug('disrupting');
      await scenario.disrupt!({ replicas: set, produced: () => produced, admin, name, dir });
      disrupted = true;
      lastDisruption = Date.now();
      continue;
    }
    scenario.onTick?.(set);
    if (kills < scenario.minKills && Date.now() - lastKillAt >= (scenario.killEveryMs ?? 0)) {
      lastKillAt = Date.now();
      lastDisruption = Date.now();
      if (scenario.storm) {
        // Scale out to five, then back in with a graceful stop of two: every step is a rebalance.
        const slot = 3 + (kills % 2);
        if (set.replicas[slot]) {
          debug('stopping', slot);
          await set.replicas[slot]!.stop();
          set.replicas[slot] = undefined;
        } else {
          debug('adding', slot);
          await set.start(slot);
        }
        kills++;
        continue;
      }
      const slots = scenario.killSlots ?? [0, 1, 2];
      const slot = slots[Math.floor(random() * slots.length)]!;
      debug('killing', slot, 'produced', produced);
      await set.replicas[slot]?.kill();
      kills++;
      await new Promise((r) => setTimeout(r, random() * 1000));
      await set.start(slot);
    }
  }
  const catchUpSeconds = (Date.now() - lastDisruption) / 1000;
  await production;
  await producer.disconnect();
  checker.disconnect();

  const redis = connectRedis(redisUrl);
  try {
    if (scenario.onMetrics) {
      const live = set.replicas.filter(
        (r): r is ProcessorProcess => r !== undefined && r.child.exitCode === null,
      );
      scenario.onMetrics(await Promise.all(live.map(metricsOf)));
    }
    await scenario.sink?.check({ kafka, admin, name, topic, views: views as View[], closedBefore });
    if (scenario.window === 'hopping') await expectHoppingGroundTruth(redis, name, truth);
    else await expectGroundTruth(redis, name, truth, total);
  } finally {
    redis.disconnect();
    await admin.disconnect();
    await Promise.all(set.replicas.map((r) => r?.kill()));
  }
  return { records: total, kills, catchUpSeconds, seconds: (Date.now() - began) / 1000, selfExits };
}

async function expectGroundTruth(
  redis: ReturnType<typeof connectRedis>,
  name: string,
  truth: Map<string, Truth>,
  records: number,
): Promise<void> {
  const observed = await readObserved(redis, name, PARTITIONS);
  expect([...observed.keys()].sort()).toEqual([...truth.keys()].sort());
  let total = 0;
  for (const [key, expected] of truth) {
    const actual = observed.get(key)!;
    expect({ key, count: actual.count, bytes: actual.bytes, max: actual.maxLatency }).toEqual({
      key,
      count: expected.count,
      bytes: expected.bytes,
      max: expected.maxLatency,
    });
    total += actual.count;
    // Sketches: within their stated error, since exactness is not what a sketch promises.
    const median = quantile(actual.sketch, 0.5)!;
    const exact = exactMedianRank(expected.latencies);
    expect(Math.abs(median - exact)).toBeLessThanOrEqual(exact * 0.01 + 1e-9);
    const distinct = await mergedDistinct(redis, actual.hlls);
    expect(Math.abs(distinct - expected.users.size)).toBeLessThanOrEqual(
      Math.ceil(expected.users.size * 0.03),
    );
  }
  expect(total).toBe(records);
  await expectRollupGroundTruth(redis, name, truth);
}

/**
 * Every window's rollup (read from the write-side totals the commits keep, window.rollups) against
 * the ground truth of all its groups: counts, sums and max exact, the group count exact, the merged
 * sketches within their stated error.
 */
async function expectRollupGroundTruth(
  redis: ReturnType<typeof connectRedis>,
  name: string,
  truth: Map<string, Truth>,
): Promise<void> {
  const store = new QueryStore(redis, { cache: false });
  expect((await store.registration(name)).window).toMatchObject({ rollups: true, ranks: true });
  const expected = new Map<
    number,
    {
      groups: number;
      count: number;
      bytes: number;
      max: number;
      users: Set<string>;
      latencies: Map<number, number>;
    }
  >();
  for (const [key, t] of truth) {
    const start = Number(key.slice(0, key.indexOf('|')));
    let e = expected.get(start);
    if (!e) {
      e = { groups: 0, count: 0, bytes: 0, max: 0, users: new Set(), latencies: new Map() };
      expected.set(start, e);
    }
    e.groups++;
    e.count += t.count;
    e.bytes += t.bytes;
    e.max = Math.max(e.max, t.maxLatency);
    for (const u of t.users) e.users.add(u);
    for (const [l, n] of t.latencies) e.latencies.set(l, (e.latencies.get(l) ?? 0) + n);
  }
  const observed = new Map<number, { groupCount: number; values: Record<string, unknown> }>();
  let cursor: string | null = null;
  do {
    const page = await store.windows(name, {
      filters: new Map(),
      limit: 1_000,
      order: 'asc',
      rollup: true,
      ...(cursor ? { cursor: decodeCursor(cursor)! } : {}),
    });
    for (const w of page.windows)
      observed.set(w.start, { groupCount: w.groupCount!, values: w.groups[0]!.values });
    cursor = page.nextCursor;
  } while (cursor);
  expect([...observed.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [start, e] of expected) {
    const { groupCount, values } = observed.get(start)!;
    expect({ start, groupCount, views: values.views, bytes: values.bytes, slowest: values.slowest }).toEqual({
      start,
      groupCount: e.groups,
      views: e.count,
      bytes: e.bytes,
      slowest: e.max,
    });
    const exact = exactMedianRank(e.latencies);
    expect(Math.abs(Number(values.p50) - exact)).toBeLessThanOrEqual(exact * 0.01 + 1e-9);
    expect(Math.abs(Number(values.visitors) - e.users.size)).toBeLessThanOrEqual(
      Math.ceil(e.users.size * 0.03),
    );
  }
  await expectTopGroundTruth(store, name, truth, [...expected.keys()]);
}

/**
 * Every window's top 5 pages by a count, a sum and a max (read from the top-N index the commits
 * keep, window.ranks) against the ground truth's ranking: value descending, ties by group key.
 */
async function expectTopGroundTruth(
  store: QueryStore,
  name: string,
  truth: Map<string, Truth>,
  starts: number[],
): Promise<void> {
  const rankings: [string, (t: Truth) => number][] = [
    ['views', (t) => t.count],
    ['bytes', (t) => t.bytes],
    ['slowest', (t) => t.maxLatency],
  ];
  for (const start of starts) {
    const groups = [...truth]
      .filter(([key]) => key.startsWith(`${start}|`))
      .map(([key, t]) => ({ key: groupKeyOf([key.slice(key.indexOf('|') + 1)]), t }));
    for (const [aggregate, measure] of rankings) {
      const want = groups
        .map((g) => ({ key: g.key, value: measure(g.t) }))
        .sort((a, b) => b.value - a.value || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
        .slice(0, 5);
      const got = await store.top(name, { aggregate, window: start, limit: 5, filters: new Map() });
      expect({ start, aggregate, groupCount: got.groupCount, top: got.groups.map((g) => g.value) }).toEqual({
        start,
        aggregate,
        groupCount: groups.length,
        top: want.map((w) => w.value),
      });
      expect(got.groups.map((g) => groupKeyOf([g.group.page]))).toEqual(want.map((w) => w.key));
    }
  }
}

/**
 * The hopping window's answers as the query API reads them (slices merged, packed sketches decoded),
 * against the ground truth of every window each view falls in.
 */
async function expectHoppingGroundTruth(
  redis: ReturnType<typeof connectRedis>,
  name: string,
  truth: Map<string, Truth>,
): Promise<void> {
  const store = new QueryStore(redis, { cache: false });
  const registration = await store.registration(name);
  // The layout under test: slices, with sketches packed by their owner.
  expect(registration.window).toMatchObject({ sliceMs: HOPPING.advanceMs, packedSketches: true });
  const observed = new Map<string, Record<string, unknown>>();
  let cursor: string | null = null;
  do {
    const page = await store.windows(name, {
      filters: new Map(),
      limit: 1_000,
      order: 'asc',
      rollup: false,
      ...(cursor ? { cursor: decodeCursor(cursor)! } : {}),
    });
    for (const w of page.windows)
      for (const g of w.groups) observed.set(`${w.start}|${String(g.group.page)}`, g.values);
    cursor = page.nextCursor;
  } while (cursor);
  expect([...observed.keys()].sort()).toEqual([...truth.keys()].sort());
  for (const [key, expected] of truth) {
    const actual = observed.get(key)!;
    expect({ key, count: actual.views, bytes: actual.bytes, max: actual.slowest }).toEqual({
      key,
      count: expected.count,
      bytes: expected.bytes,
      max: expected.maxLatency,
    });
    const exact = exactMedianRank(expected.latencies);
    expect(Math.abs(Number(actual.p50) - exact)).toBeLessThanOrEqual(exact * 0.01 + 1e-9);
    expect(Math.abs(Number(actual.visitors) - expected.users.size)).toBeLessThanOrEqual(
      Math.ceil(expected.users.size * 0.03),
    );
  }
  await expectRollupGroundTruth(redis, name, truth);
  // top by a count, a sum and a max against the ground truth: from the window-level sets of the
  // hopping windows (rankWholeWindows: count, max, and the sum of whole bytes) or the slices' threshold algorithm
  const starts = new Set([...truth.keys()].map((key) => Number(key.slice(0, key.indexOf('|')))));
  await expectTopGroundTruth(store, name, truth, [...starts]);
}
