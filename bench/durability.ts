/**
 * What spec.redis.waitForReplicas costs: w1 with one Redis replica attached, first without waiting,
 * then with a WAIT for it after every commit (same run, same replica, so the ratio is the WAIT's).
 * `npm run bench -- --durability-only` runs just this; the full run includes it.
 */
import { Redis } from 'ioredis';
import { startRedis } from '../harness/redis.ts';
import { waitUntil } from '../harness/service.ts';
import { measureProcessor, type ProcessorRun } from './measure.ts';
import { type Context, log } from './options.ts';
import { type Workload, workloads } from './workloads.ts';

export interface DurabilityRun {
  noWait: ProcessorRun;
  wait: ProcessorRun;
  ratio: number;
}

export async function measureDurability(ctx: Context): Promise<DurabilityRun> {
  const replica = await startRedis();
  const client = new Redis(replica.url);
  try {
    await client.replicaof('127.0.0.1', Number(new URL(ctx.redisUrl).port));
    await waitUntil(
      'the bench Redis replica in sync',
      async () => /master_link_status:up/.test(await client.info('replication')),
      { timeoutMs: 120_000 },
    );
    const w1 = workloads[0]!;
    const waiting: Workload = {
      ...w1,
      yaml: (name, topic) => `${w1.yaml(name, topic)}  redis: { waitForReplicas: 1, waitTimeout: 5s }\n`,
    };
    const noWait = await measureProcessor(w1, 1, ctx);
    const wait = await measureProcessor(waiting, 1, ctx);
    log(
      `waitForReplicas 1: ${Math.round(wait.rate)} rec/s vs ${Math.round(noWait.rate)} without (ratio ${(wait.rate / noWait.rate).toFixed(2)})`,
    );
    return { noWait, wait, ratio: wait.rate / noWait.rate };
  } finally {
    client.disconnect();
    await replica.stop();
  }
}
