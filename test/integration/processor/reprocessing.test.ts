// Kappa reprocessing with real processes, Kafka and Redis: version 1 serves queries; version 2 (new
// logic) replays the log into its own keys while version 1 keeps answering; once version 2 has
// caught up the query API answers from it, in one step, and version 1's state is deleted.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ensureDir, repoRoot, runDir } from '../../../harness/paths.ts';
import { freePort } from '../../../harness/ports.ts';
import { type ProcessorProcess, spawnProcessor } from '../../../harness/processor.ts';
import { startProcess, waitUntil } from '../../../harness/service.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';

const RECORDS = 300_000;
const PARTITIONS = 3;
const base = Date.UTC(2026, 0, 1);

describe('Kappa reprocessing', () => {
  const id = randomUUID().slice(0, 8);
  const name = `replay-${id}`;
  const topic = `replay-${id}`;
  const dir = ensureDir(join(runDir, `reprocessing-${id}`));
  const redis = connectRedis(inject('redisUrl'));
  const processes: ProcessorProcess[] = [];

  const spec = (aggregates: string) => `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata:
  name: ${name}
spec:
  source:
    topic: ${topic}
    format: json
    eventTime: { field: ts }
    startFrom: earliest
  groupBy:
    shop: event.shop
  window: { type: tumbling, size: 1m, grace: 1h }
  aggregates:
${aggregates}
`;

  afterAll(async () => {
    for (const p of processes) await p.kill().catch(() => {});
    await redis.quit();
  });

  it('serves version 1 until version 2 has caught up, then switches and deletes version 1', async () => {
    const kafka = new Kafka({ brokers: inject('kafkaBrokers'), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    let amountTotal = 0;
    for (let i = 0; i < RECORDS; i += 5000) {
      const messages = [];
      for (let j = i; j < i + 5000; j++) {
        amountTotal += j % 10;
        messages.push({
          partition: j % PARTITIONS,
          value: JSON.stringify({ ts: base + (j % 600) * 1000, shop: `s${j % 7}`, amount: j % 10 }),
        });
      }
      await producer.send({ topic, messages });
    }
    await producer.disconnect();

    const v1File = join(dir, 'v1.yaml');
    const v2File = join(dir, 'v2.yaml');
    writeFileSync(v1File, spec('    orders: { count: {} }'));
    writeFileSync(v2File, spec('    orders: { count: {} }\n    revenue: { sum: event.amount }'));
    const env = {
      KAPPAFLOW_SUPERSEDED_CHECK_MS: '300',
      KAPPAFLOW_RETIRE_FIRST_SWEEP_MS: '500',
      KAPPAFLOW_RETIRE_SECOND_SWEEP_MS: '3000',
      KAPPAFLOW_PROMOTE_MAX_LAG: '0',
      // checked often, so a switch before version 2 is complete would be seen
      KAPPAFLOW_PROMOTE_CHECK_MS: '100',
      LOG_LEVEL: 'info',
    };
    const start = async (file: string, version: number, tag: string) => {
      const p = await spawnProcessor({
        file,
        brokers: inject('kafkaBrokers'),
        redisUrl: inject('redisUrl'),
        port: await freePort(),
        name: `${name}-${tag}`,
        logDir: dir,
        env: { ...env, KAPPAFLOW_VERSION: String(version) },
      });
      processes.push(p);
      return p;
    };
    const totals = async (port: number) => {
      const res = await fetch(
        `http://127.0.0.1:${port}/api/v1/pipelines/${name}/windows?rollup=true&limit=1000`,
      );
      const body = (await res.json()) as {
        version: number;
        windows: { groups: { values: Record<string, number> }[] }[];
      };
      let orders = 0;
      let revenue: number | undefined;
      for (const w of body.windows ?? [])
        for (const g of w.groups) {
          orders += g.values.orders ?? 0;
          if (g.values.revenue !== undefined) revenue = (revenue ?? 0) + g.values.revenue;
        }
      return { version: body.version, orders, revenue };
    };

    const v1 = await start(v1File, 1, 'v1');
    await waitUntil(
      'version 1 counted every record',
      async () => (await totals(v1.port)).orders === RECORDS,
      {
        timeoutMs: 60_000,
      },
    );

    // Version 2 starts; every answer until the switch is version 1's, complete; every answer after is
    // version 2's, complete (the switch waits for zero lag here).
    const v2 = await start(v2File, 2, 'v2');
    const seen: { version: number; orders: number; revenue?: number }[] = [];
    let pendingSeen = false;
    await waitUntil(
      'queries switch to version 2',
      async () => {
        if (!pendingSeen && (await redis.hexists('kf:pipelines', `${name}@pending`)) === 1) {
          pendingSeen = true;
          const during = (await (
            await fetch(`http://127.0.0.1:${v2.port}/api/v1/pipelines/${name}`)
          ).json()) as {
            activeVersion: number;
            latestVersion: number;
          };
          // the switch may land between the two reads; never a newer active than latest
          expect(during.latestVersion).toBe(2);
          expect([1, 2]).toContain(during.activeVersion);
        }
        const t = await totals(v2.port);
        seen.push(t);
        return t.version === 2;
      },
      { timeoutMs: 90_000, intervalMs: 50 },
    );
    expect(pendingSeen).toBe(true);
    expect(seen.filter((t) => t.version === 1).length).toBeGreaterThan(0);
    for (const t of seen) {
      if (t.version === 1) expect(t).toEqual({ version: 1, orders: RECORDS });
      else expect(t).toEqual({ version: 2, orders: RECORDS, revenue: amountTotal });
    }
    expect(await redis.hexists('kf:pipelines', `${name}@pending`)).toBe(0);
    const summary = (await (await fetch(`http://127.0.0.1:${v2.port}/api/v1/pipelines/${name}`)).json()) as {
      activeVersion: number;
      latestVersion: number;
    };
    expect(summary).toMatchObject({ activeVersion: 2, latestVersion: 2 });

    // Version 1 stops writing and its state goes (two sweeps: a last batch of version 1 is caught).
    await waitUntil(
      'version 1 keys deleted',
      async () => {
        // KEYS, not one SCAN step: a single step covers only part of a shared Redis
        const found = await redis.keys(`kf:{${name}:1:*`);
        return found.length === 0 && (await redis.exists(`kf:{${name}:1}:replicas`)) === 0;
      },
      { timeoutMs: 30_000 },
    );
    await waitUntil(
      'the version 1 replica reports not ready',
      async () => (await fetch(`http://127.0.0.1:${v1.port}/readyz`)).status === 503,
      { timeoutMs: 15_000 },
    );
    await new Promise((r) => setTimeout(r, 4000)); // past the second sweep
    // KEYS, not one SCAN step: a single step covers only part of a shared Redis
    const left = await redis.keys(`kf:{${name}:1:*`);
    expect(left).toEqual([]);
    expect(await totals(v1.port)).toEqual({ version: 2, orders: RECORDS, revenue: amountTotal });

    // Starting version 1 again is refused with a clear error instead of writing into retired keys.
    const again = startProcess(
      `${name}-v1-again`,
      process.execPath,
      [
        join(repoRoot, 'bin', 'kappaflow.js'),
        'run',
        v1File,
        '--port',
        String(await freePort()),
        '--host',
        '127.0.0.1',
      ],
      {
        logFile: join(dir, 'v1-again.log'),
        env: {
          KAFKA_BROKERS: inject('kafkaBrokers').join(','),
          REDIS_URL: inject('redisUrl'),
          KAPPAFLOW_VERSION: '1',
        },
      },
    );
    const code = await new Promise<number | null>((resolve) => again.child.once('exit', (c) => resolve(c)));
    expect(code).not.toBe(0);
    expect(readFileSync(again.logFile, 'utf8')).toContain('older than the active version 2');
    // KEYS, not one SCAN step: a single step covers only part of a shared Redis
    const afterRefusal = await redis.keys(`kf:{${name}:1:*`);
    expect(afterRefusal).toEqual([]);
    await admin.disconnect();
  });
});
