import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../../harness/paths.ts';
import { processAlive, waitUntil } from '../../../harness/service.ts';

// The real CLI (`npm run infra -- ...` runs exactly this), with a state file of its own so it never
// touches infrastructure a developer left running.
const scratch = mkdtempSync(join(tmpdir(), 'kf-infra-cli-'));
const stateFile = join(scratch, 'infra.json');
const everyPid: number[] = [];

afterAll(async () => {
  // Whatever a failed assertion left behind.
  for (const pid of everyPid) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

function cli(args: string[]): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'harness', 'cli.ts'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, KAPPAFLOW_INFRA_STATE: stateFile },
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exit };
}

/** The processes `up` reported as it started them: name, pid and data folder. */
function started(output: string): { name: string; pid: number; dataDir: string }[] {
  const all = [...output.matchAll(/started (\S+) \(pid (\d+), data in (.+)\)/g)].map((m) => ({
    name: m[1]!,
    pid: Number(m[2]),
    dataDir: m[3]!,
  }));
  everyPid.push(...all.map((s) => s.pid));
  return all;
}

async function expectGone(processes: { pid: number; dataDir: string }[]) {
  await waitUntil('every started process stopped', async () => processes.every((p) => !processAlive(p.pid)), {
    timeoutMs: 30_000,
  });
  for (const p of processes)
    expect({ dir: p.dataDir, exists: existsSync(p.dataDir) }).toEqual({ dir: p.dataDir, exists: false });
  expect(existsSync(stateFile)).toBe(false);
}

describe('npm run infra', () => {
  it('up that times out waiting for Kafka stops what it started, removes its data and says how to wait longer', {
    timeout: 180_000,
  }, async () => {
    // One second is far less than a JVM broker needs: the wait really times out.
    const up = cli(['up', '--kafka-timeout', '1']);
    expect(await up.exit).toBe(1);
    expect(up.output()).toMatch(/timed out waiting for Kafka/);
    expect(up.output()).toMatch(/--kafka-timeout 300/);
    expect(up.output()).toMatch(/Waiting for Kafka on 127\.0\.0\.1:\d+ \(at most 1 s\)/);
    const processes = started(up.output());
    expect(processes.map((p) => p.name.replace(/-\d+$/, '')).sort()).toEqual(['kafka', 'redis']);
    await expectGone(processes);
  });

  it('down stops an up that was killed mid-start: each process is recorded as it starts', {
    timeout: 180_000,
  }, async () => {
    const up = cli(['up']);
    await waitUntil('up started the broker', async () => /started kafka-1 /.test(up.output()), {
      timeoutMs: 60_000,
    });
    up.child.kill('SIGKILL');
    await up.exit;
    const processes = started(up.output());
    expect(processes.some((p) => processAlive(p.pid))).toBe(true);
    const status = cli(['status']);
    await status.exit;
    expect(status.output()).toMatch(/did not finish/);
    const down = cli(['down']);
    expect(await down.exit).toBe(0);
    await expectGone(processes);
  });

  it('up starts Kafka and Redis that answer; down stops them and removes their data', {
    timeout: 240_000,
  }, async () => {
    const up = cli(['up', '--kafka-timeout', '180']);
    expect(await up.exit, up.output()).toBe(0);
    const processes = started(up.output());
    const brokers = /export KAFKA_BROKERS=(\S+)/.exec(up.output())![1]!.split(',');
    const redisUrl = /export REDIS_URL=(\S+)/.exec(up.output())![1]!;
    const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    expect((await admin.describeCluster()).brokers.length).toBe(1);
    await admin.disconnect();
    const redis = new Redis(redisUrl);
    expect(await redis.ping()).toBe('PONG');
    redis.disconnect();
    const status = cli(['status']);
    await status.exit;
    expect(status.output()).toMatch(/Kafka .*\(running\)/);
    const down = cli(['down']);
    expect(await down.exit).toBe(0);
    await expectGone(processes);
  });
});
