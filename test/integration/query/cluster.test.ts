import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveQueryApi } from '../../../harness/query-api.ts';
import { PipelineWriter, randomEvents } from '../../../harness/query-fixture.ts';
import { type RedisDeployment, startRedis } from '../../../harness/redis.ts';
import type { RunningServer } from '../../../processor/src/http/app.ts';
import { QueryStore } from '../../../processor/src/query/store.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { keys } from '../../../processor/src/state/keys.ts';
import { expectedWindows, groupKey } from './expected.ts';

const BASE = Date.UTC(2024, 4, 2, 8, 0, 0);

let cluster: RedisDeployment;
let redis: RedisClient;
let writer: PipelineWriter;
let api: RunningServer;
/** the events as written (in batches of 200 spread over the partitions) */
let written: Parameters<PipelineWriter['commitSpread']>[0];

beforeAll(async () => {
  cluster = await startRedis({ cluster: true });
  redis = connectRedis(`redis-cluster://${cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`);
  // 6 partitions: their hash tags land on different nodes of the cluster
  writer = new PipelineWriter(redis, { partitions: 6 });
  await writer.register();
  const events = randomEvents(7, { base: BASE, windows: 3, count: 1200 }).sort((a, b) => a.time - b.time);
  const seen = new Set<number>();
  const unique = events.filter((e) => {
    if (seen.has(e.time)) return false;
    seen.add(e.time);
    return true;
  });
  written = unique;
  await writer.commitSpread(unique, 200);
  api = await serveQueryApi(redis);
});

afterAll(async () => {
  await api?.close();
  redis?.disconnect();
  await cluster?.stop();
});

describe('query API on Redis Cluster', () => {
  it('spreads the partitions over several cluster nodes', async () => {
    const slots: number[] = [];
    for (const p of writer.registration.partitions) {
      slots.push(
        Number(
          await (redis as unknown as { cluster(...args: string[]): Promise<number> }).cluster(
            'KEYSLOT',
            keys.checkpoint(writer.prefix(p)),
          ),
        ),
      );
    }
    const nodes = new Set<string>();
    for (const slot of slots) {
      const node = (redis as unknown as { slots: string[][] }).slots[slot]?.[0];
      if (node) nodes.add(node);
    }
    expect(nodes.size).toBeGreaterThan(1);
  });

  it('merges windows across partitions on different nodes, HyperLogLogs included', async () => {
    const res = await fetch(`${api.url}/api/v1/pipelines/${writer.name}/windows`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    const expected = expectedWindows(writer.events, 60_000);
    expect(body.windows).toHaveLength(expected.size);
    for (const w of body.windows) {
      const exp = expected.get(w.start)!;
      expect(w.groups).toHaveLength(exp.size);
      for (const g of w.groups) {
        const e = exp.get(groupKey(g.group))!;
        expect(g.values.orders).toBe(e.orders);
        expect(g.values.minAmount).toBe(e.minAmount);
        expect(g.values.maxAmount).toBe(e.maxAmount);
        expect(g.values.firstItem).toBe(e.firstItem);
        expect(g.values.lastItem).toBe(e.lastItem);
        expect(g.values.topItems).toEqual(e.topItems);
        expect(Math.abs(g.values.revenue - e.revenue)).toBeLessThan(1e-6);
        expect(Math.abs(g.values.users - e.users)).toBeLessThanOrEqual(Math.max(1, e.users * 0.02));
        expect(Math.abs(g.values.p90 - e.p90)).toBeLessThanOrEqual(e.p90 * 0.0101);
      }
    }
    // rollup merges the HyperLogLogs of every group and partition of a window
    const rolled = (await (
      await fetch(`${api.url}/api/v1/pipelines/${writer.name}/windows?rollup=true`)
    ).json()) as any;
    for (const w of rolled.windows) {
      const events = writer.events.filter((e) => e.time >= w.start && e.time < w.end);
      expect(w.groups[0].values.orders).toBe(events.length);
      const users = new Set(events.map((e) => e.user)).size;
      expect(Math.abs(w.groups[0].values.users - users)).toBeLessThanOrEqual(Math.max(1, users * 0.02));
    }
  });

  it('ranks top groups and lists the pipeline on the cluster', async () => {
    const top = (await (
      await fetch(`${api.url}/api/v1/pipelines/${writer.name}/top?aggregate=users&limit=3`)
    ).json()) as any;
    expect(top.groups).toHaveLength(3);
    const list = (await (await fetch(`${api.url}/api/v1/pipelines`)).json()) as any;
    const mine = list.pipelines.find((p: any) => p.name === writer.name);
    expect(mine.records).toBe(writer.events.length);
    expect(mine.partitions).toHaveLength(6);
  });

  it('answers top from the top-N index and counts groups across slots as the scan does', async () => {
    // the same events written with the index and the rollup totals: no window-level group sets on a
    // Cluster, so group counts come from the parts' own sets on several nodes
    const indexed = new PipelineWriter(redis, {
      partitions: 6,
      window: { type: 'tumbling', sizeMs: 60_000, graceMs: 5_000, rollups: true, ranks: true },
    });
    await indexed.register();
    // the same batches, so sums add in the same order
    await indexed.commitSpread(written, 200);
    const store = new QueryStore(redis, { cache: false });
    for (const start of expectedWindows(writer.events, 60_000).keys())
      for (const aggregate of ['orders', 'revenue', 'maxAmount']) {
        const query = { aggregate, window: start, limit: 5, filters: new Map() };
        const [expected, actual] = await Promise.all([
          store.top(writer.name, query),
          store.top(indexed.name, query),
        ]);
        expect({ ...actual, pipeline: '' }).toEqual({ ...expected, pipeline: '' });
      }
    const page = { filters: new Map(), limit: 100, order: 'asc' as const, rollup: true };
    const counts = async (name: string) => (await store.windows(name, page)).windows.map((w) => w.groupCount);
    expect(await counts(indexed.name)).toEqual(await counts(writer.name));
  });
});
