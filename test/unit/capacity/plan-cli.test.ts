// `kappaflow plan` as users run it: the real binary on the examples and on a broken file (exit
// codes), and the command's options through the CLI's own entry point (main) in this process.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../processor/src/cli/main.ts';

const exec = promisify(execFile);
const TIMEOUT = 120_000; // a node start with the tsx loader on a busy 2-core machine

async function binary(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['bin/kappaflow.js', ...args], {
      timeout: TIMEOUT,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout: string; stderr: string };
    return { code: err.code ?? -1, stdout: err.stdout, stderr: err.stderr };
  }
}

/** The CLI in this process: what it printed and the exit code main() resolves to. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  // commander writes its own errors (unknown option, missing value) to process.stderr
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err.push(String(chunk));
    return true;
  });
  try {
    const code = await main(['node', 'kappaflow', ...args]);
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  }
}

afterEach(() => {
  process.exitCode = undefined;
});

const dir = mkdtempSync(join(tmpdir(), 'kf-plan-'));
const row = (workload: string, replica: number, redis: number, commands: number) => ({
  workload,
  description: workload,
  replicaCpuUsPerRecord: replica,
  redisCpuUsPerRecord: redis,
  redisCommandsPerRecord: commands,
  groups: 10_000,
});
// Round numbers so the expected plans can be worked out by hand below.
const costsFile = join(dir, 'costs.json');
writeFileSync(
  costsFile,
  JSON.stringify({
    measuredAt: '2026-01-01T00:00:00.000Z',
    source: 'hand-made',
    machine: 'test',
    fields: row('w1', 10, 4, 0.02),
    enrich: row('w2', 12, 3, 0.03),
    sketches: row('w3', 20, 30, 2),
    tumblingSketches: row('w5', 24, 16, 0.03),
    freshness: { workload: 'w1', rate: 20_000, p99Ms: 500 },
  }),
);
/** the same table with machine probes, the reference machine `times` as fast as the probe's unit */
const calibratedCosts = (name: string, replicaUsPerRecord: number) => {
  const file = join(dir, name);
  writeFileSync(
    file,
    JSON.stringify({
      ...JSON.parse(readFileSync(costsFile, 'utf8')),
      calibration: { replicaUsPerRecord, redisUsPerField: 1 },
    }),
  );
  return file;
};
const broken = join(dir, 'broken.yaml');
writeFileSync(
  broken,
  'apiVersion: kappaflow.io/v1alpha1\nkind: Pipeline\nmetadata: { name: b }\nspec:\n  window: { type: tumbling, size: 1 minute }\n',
);

/** examples/orders-hopping.yaml at 100,000 rec/s with the hand-made costs */
const hopping = (...extra: string[]) =>
  cli('plan', 'examples/orders-hopping.yaml', '--rate', '100000', '--costs', costsFile, ...extra);

interface JsonPlan {
  name: string;
  replicas: { needed: number; planned: number; limitedByPartitions: boolean; partitions: number | null };
  redis: { shards: number };
  freshness: { p99Ms: number | null; floorMs: number };
  costs: { replicaCpuUs: number; redisCpuUs: number };
  warnings: string[];
}
const firstPlan = (stdout: string) => (JSON.parse(stdout) as { plans: JsonPlan[] }).plans[0]!;

describe('kappaflow plan <file...> --rate N (the binary)', () => {
  it(
    'plans the three examples with the committed costs',
    async () => {
      const r = await binary(
        'plan',
        'examples/page-views.yaml',
        'examples/orders-hopping.yaml',
        'examples/sessions.yaml',
        '--rate',
        '20000',
        '--partitions',
        '12',
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const plans = r.stdout.trim().split('\n\n');
      expect(plans).toHaveLength(3);
      for (const p of plans) {
        expect(p).toMatch(/at 20,000 rec\/s\n {2}shape: /);
        expect(p).toMatch(/\n {2}replicas: \d+, [\d.]+ CPU each; 12 partitions allow up to [\d,]+ rec\/s\n/);
        expect(p).toMatch(/\n {2}Redis shards: \d+, [\d.]+ of a core each; [\d,]+ commands\/s\n/);
        expect(p).toMatch(/\n {2}p99 produce→queryable: (~[\d,]+ ms|unbounded)/);
      }
      expect(plans[0]).toMatch(/^page-views \(examples\/page-views.yaml\)/);
      expect(plans[0]).toMatch(/tumbling window, 3 field aggregates, 3 sketch aggregates/);
      expect(plans[1]).toMatch(
        /hopping window \(sliced, 15 slices per window\), 3 field aggregates, 0 sketch aggregates, 1 enrichment/,
      );
      expect(plans[2]).toMatch(/^user-sessions .*\n.*session window/);
      expect(plans[2]).toMatch(/warning: session windows were not benchmarked/);
    },
    TIMEOUT,
  );

  it(
    'exits 1 on an invalid file with the same messages as validate',
    async () => {
      const [plan, validate] = await Promise.all([
        binary('plan', broken, '--rate', '1000'),
        binary('validate', broken),
      ]);
      expect(plan.code).toBe(1);
      expect(validate.code).toBe(1);
      expect(plan.stdout).toBe('');
      expect(plan.stderr).toMatch(/broken.yaml:5:\d+ spec.window.size: expected a duration/);
      // validate adds a count line after the same messages
      for (const line of plan.stderr.trim().split('\n')) expect(validate.stderr).toContain(line);
    },
    TIMEOUT,
  );

  it(
    'exits 1 on a missing or bad option value, naming the option and what it expects',
    async () => {
      const [noRate, badRate, badPartitions, badTarget] = await Promise.all([
        binary('plan', 'examples/sessions.yaml'),
        binary('plan', 'examples/sessions.yaml', '--rate', 'fast'),
        binary('plan', 'examples/sessions.yaml', '--rate', '10', '--partitions', '2.5'),
        binary('plan', 'examples/sessions.yaml', '--rate', '10', '--target-utilization', '1.5'),
      ]);
      for (const r of [noRate, badRate, badPartitions, badTarget]) expect(r.code).toBe(1);
      expect(noRate.stderr).toMatch(/required option '--rate <records\/s>' not specified/);
      expect(badRate.stderr).toMatch(/--rate.*expected a positive number/);
      expect(badPartitions.stderr).toMatch(/--partitions.*expected a positive whole number/);
      expect(badTarget.stderr).toMatch(/--target-utilization.*expected a fraction in \(0, 1\]/);
    },
    TIMEOUT,
  );
});

describe('kappaflow plan options', () => {
  it('--json with --costs: the plan worked out by hand from the table', async () => {
    // orders-hopping: 3 field aggregates, 1 enrichment. Replica 10 + (12 − 10) = 12 µs;
    // Redis 3 × 4/2 + (3 − 4/2) = 7 µs. At 100,000 rec/s: 1.2 CPUs / 0.7 → 2 replicas;
    // 0.7 of a core / 0.7 → 1 shard (just). Floor: 500 × (1 − 0.2) = 400 ms; busier: Redis 0.7.
    const r = await hopping('--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; costs: { source: string }; plans: JsonPlan[] };
    expect(out.ok).toBe(true);
    expect(out.costs.source).toBe('hand-made');
    const plan = out.plans[0]!;
    expect(plan.name).toBe('merchant-revenue');
    expect(plan.costs.replicaCpuUs).toBeCloseTo(12);
    expect(plan.costs.redisCpuUs).toBeCloseTo(7);
    expect(plan.replicas).toMatchObject({
      needed: 2,
      planned: 2,
      limitedByPartitions: false,
      partitions: null,
    });
    expect(plan.redis.shards).toBe(1);
    expect(plan.freshness.floorMs).toBeCloseTo(400);
    expect(plan.freshness.p99Ms).toBeCloseTo(400 / (1 - 0.7));
  });

  it('plans every pipeline of a folder', async () => {
    const r = await cli('plan', 'examples', '--rate', '1000', '--costs', costsFile, '--json');
    expect(r.code).toBe(0);
    const names = (JSON.parse(r.stdout) as { plans: JsonPlan[] }).plans.map((p) => p.name);
    expect(names).toEqual(['merchant-revenue', 'page-views', 'user-sessions']);
  });

  it('--partitions bounds the replicas and says partitions are the limit', async () => {
    const l = firstPlan((await hopping('--partitions', '1', '--json')).stdout);
    expect(l.replicas).toMatchObject({ needed: 2, planned: 1, limitedByPartitions: true, partitions: 1 });
    expect(l.freshness.p99Ms).toBeNull(); // 1.2 CPUs of work on one replica
    expect(l.warnings.join('\n')).toMatch(
      /partitions are the limit: 2 replicas needed but only 1 partitions/,
    );
    const text = await hopping('--partitions', '1');
    expect(text.stdout).toMatch(
      /replicas: 1 \(2 needed\), 1.20 CPU each; 1 partitions allow up to 58,333 rec\/s/,
    );
    expect(text.stdout).toMatch(/p99 produce→queryable: unbounded/);
  });

  it('--target-utilization plans for a smaller share of each CPU', async () => {
    // at 30 %: 1.2 / 0.3 = 4 replicas, 0.7 / 0.3 → 3 shards
    const t = firstPlan((await hopping('--target-utilization', '0.3', '--json')).stdout);
    expect([t.replicas.planned, t.redis.shards]).toEqual([4, 3]);
  });

  it('--groups warns beyond the measured range and not within it', async () => {
    const many = await hopping('--groups', '50000');
    expect(many.code).toBe(0);
    expect(many.stdout).toMatch(/warning: 50000 groups is more than the benchmark measured \(10000\)/);
    expect((await hopping('--groups', '10000')).stdout).not.toMatch(/warning/);
  });

  it("--calibrate scales the CPU costs by this machine's probe against the table's", async () => {
    interface Calibrated {
      calibration: {
        factors: { replica: number; redis: number };
        replicaProbeUs: number;
        redisProbeUs: null;
      };
      plans: JsonPlan[];
    }
    const run = async (file: string) => {
      const r = await cli(
        'plan',
        'examples/orders-hopping.yaml',
        '--rate',
        '100000',
        '--costs',
        file,
        '--calibrate',
        '--json',
      );
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout) as Calibrated;
    };
    // A reference machine a million times slower than any real one: every cost shrinks to nothing.
    const fast = await run(calibratedCosts('slow-reference.json', 1e6));
    // One a million times faster: this machine needs far more replicas and shards than the table says.
    const slow = await run(calibratedCosts('fast-reference.json', 1e-6));
    for (const out of [fast, slow]) {
      const { factors, replicaProbeUs, redisProbeUs } = out.calibration;
      expect(replicaProbeUs).toBeGreaterThan(0);
      expect(redisProbeUs).toBeNull();
      // without --redis, Redis is taken to run on the same kind of machine
      expect(factors.redis).toBe(factors.replica);
      expect(out.plans[0]!.costs.replicaCpuUs).toBeCloseTo(12 * factors.replica, 6);
      expect(out.plans[0]!.costs.redisCpuUs).toBeCloseTo(7 * factors.replica, 6);
    }
    expect(fast.calibration.factors.replica).toBeLessThan(1e-3);
    expect([fast.plans[0]!.replicas.planned, fast.plans[0]!.redis.shards]).toEqual([1, 1]);
    expect(slow.calibration.factors.replica).toBeGreaterThan(1e3);
    expect(slow.plans[0]!.replicas.needed).toBeGreaterThan(1000);
    expect(slow.plans[0]!.redis.shards).toBeGreaterThan(1000);

    const text = await cli(
      'plan',
      'examples/orders-hopping.yaml',
      '--rate',
      '1000',
      '--costs',
      calibratedCosts('c.json', 3),
      '--calibrate',
    );
    expect(text.stdout).toMatch(
      /calibrated\)\n {2}calibrated to this machine: fold [\d.]+ vs 3.00 µs per record \(×[\d.]+\); Redis scaled alike/,
    );
  });

  it('--calibrate refuses a table without probes, and --redis a cluster URL', async () => {
    const old = await cli(
      'plan',
      'examples/sessions.yaml',
      '--rate',
      '10',
      '--costs',
      costsFile,
      '--calibrate',
    );
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/written without machine probes.*npm run bench -- --write-costs/);
    const cluster = await cli(
      'plan',
      'examples/sessions.yaml',
      '--rate',
      '10',
      '--costs',
      calibratedCosts('d.json', 3),
      '--redis',
      'redis-cluster://127.0.0.1:1,127.0.0.1:2',
    );
    expect(cluster.code).toBe(1);
    expect(cluster.stderr).toMatch(
      /--redis redis-cluster:.*does not run on a Redis Cluster.*probe a standalone Redis/,
    );
  });

  it('refuses bad values and files with what to do, exiting non-zero', async () => {
    const badCosts = join(dir, 'bad-costs.json');
    writeFileSync(badCosts, '{"measuredAt": "x"}');
    const missing = await cli('plan', join(dir, 'nope.yaml'), '--rate', '1000');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope.yaml.*file not found/);
    const costs = await cli('plan', 'examples/sessions.yaml', '--rate', '10', '--costs', badCosts);
    expect(costs.code).toBe(1);
    expect(costs.stderr).toMatch(/bad-costs.json is not valid .*npm run bench -- --write-costs/);
    const json = await cli('plan', broken, '--rate', '1000', '--json');
    expect(json.code).toBe(1);
    const out = JSON.parse(json.stdout) as { ok: boolean; errors: { path: string }[] };
    expect(out.ok).toBe(false);
    expect(out.errors.map((e) => e.path)).toContain('spec.window.size');
  });
});
