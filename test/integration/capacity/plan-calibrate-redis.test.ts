// `kappaflow plan --calibrate --redis <url>` against a real Redis: the probe's server time comes
// from INFO commandstats, the Redis costs scale by its own ratio (not the replicas'), and the probe
// leaves no key behind; an unreachable Redis fails with what happened instead of waiting forever.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { COSTS_FILE } from '../../../processor/src/capacity/costs.ts';
import { main } from '../../../processor/src/cli/main.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';

const redis = connectRedis(inject('redisUrl'));
afterAll(() => redis.disconnect());

interface PlanJson {
  calibration?: { factors: { replica: number; redis: number }; replicaProbeUs: number; redisProbeUs: number };
  plans: { costs: { replicaCpuUs: number; redisCpuUs: number } }[];
}

/** `kappaflow plan examples/page-views.yaml --rate 20000 --json …` in this process */
async function planJson(...args: string[]): Promise<PlanJson> {
  const out: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  try {
    const code = await main([
      'node',
      'kappaflow',
      'plan',
      'examples/page-views.yaml',
      '--rate',
      '20000',
      '--json',
      ...args,
    ]);
    expect(code).toBe(0);
  } finally {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  }
  return JSON.parse(out.join('\n')) as PlanJson;
}

describe('kappaflow plan --calibrate --redis', () => {
  it('scales Redis costs by the probe of that Redis and leaves no key', async () => {
    const committed = JSON.parse(readFileSync(COSTS_FILE, 'utf8'));
    const file = join(mkdtempSync(join(tmpdir(), 'kf-calibrate-')), 'costs.json');
    // A reference whose Redis probe took 1 µs per field and whose fold took 1 µs per record.
    writeFileSync(
      file,
      JSON.stringify({ ...committed, calibration: { replicaUsPerRecord: 1, redisUsPerField: 1 } }),
    );
    const calls = async () =>
      Number(/^cmdstat_eval:calls=(\d+)/m.exec(await redis.info('commandstats'))?.[1] ?? 0);
    const before = await calls();
    const calibrated = await planJson('--costs', file, '--redis', inject('redisUrl'));
    const { factors, replicaProbeUs, redisProbeUs } = calibrated.calibration!;
    expect(redisProbeUs).toBeGreaterThan(0);
    expect(factors.redis).toBeCloseTo(redisProbeUs, 9);
    expect(factors.replica).toBeCloseTo(replicaProbeUs, 9);
    // the probe's scripts ran on this Redis (another client's scripts may add to them)
    expect((await calls()) - before).toBeGreaterThanOrEqual(9);
    expect(await redis.keys('kf:probe:*')).toEqual([]);

    const plain = (await planJson('--costs', file)).plans[0]!.costs;
    const scaled = calibrated.plans[0]!.costs;
    expect(scaled.redisCpuUs).toBeCloseTo(plain.redisCpuUs * factors.redis, 6);
    expect(scaled.replicaCpuUs).toBeCloseTo(plain.replicaCpuUs * factors.replica, 6);
  });

  it('an unreachable Redis: exit 1 naming it, within the probe deadline', async () => {
    const err: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
    let code: number;
    try {
      // a port nothing listens on
      code = await main([
        'node',
        'kappaflow',
        'plan',
        'examples/page-views.yaml',
        '--rate',
        '1000',
        '--redis',
        'redis://127.0.0.1:1',
      ]);
    } finally {
      vi.restoreAllMocks();
      process.exitCode = undefined;
    }
    expect(code).toBe(1);
    expect(err.join('\n')).toMatch(/--redis redis:\/\/127\.0\.0\.1:1: no answer from Redis within 30 s/);
  }, 90_000);
});
