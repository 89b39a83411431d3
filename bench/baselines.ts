/** What kappaflow is compared with in the same run: the raw Kafka ceiling, naive Redis writes, a peer library. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../harness/paths.ts';
import { commandStats, statsDelta } from './measure.ts';
import { benchDir, type Context, log, RECORDS, run } from './options.ts';
import { uniform10k } from './workloads.ts';

export async function baseline(mode: 'ceiling' | 'naive', topic: string, ctx: Context, maxSeconds?: number) {
  const before = await commandStats(ctx.redis);
  const { stdout } = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      join(benchDir, 'baseline.ts'),
      mode,
      topic,
      String(RECORDS),
      ...(maxSeconds ? [String(maxSeconds)] : []),
    ],
    {
      cwd: repoRoot,
      env: { ...process.env, KAFKA_BROKERS: ctx.brokers.join(','), REDIS_URL: ctx.redisUrl },
      maxBuffer: 1 << 20,
    },
  );
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as {
    records: number;
    seconds: number;
    rate: number;
    cpuSeconds: number;
    perCpuSecond: number;
  };
  const delta = statsDelta(before, await commandStats(ctx.redis));
  log(`${mode} ${topic}: ${Math.round(result.rate)} rec/s, ${Math.round(result.perCpuSecond)} rec/CPU-s`);
  return { ...result, redisCommands: delta.total, commandsPerRecord: delta.total / result.records };
}

export async function peerKafkaStreams(ctx: Context, maxSeconds: number) {
  const peerDir = join(benchDir, '.peer');
  try {
    if (!existsSync(join(peerDir, 'node_modules', 'kafka-streams'))) {
      log('installing the npm kafka-streams peer into bench/.peer (not a project dependency)');
      await run('npm', ['install', '--prefix', peerDir, '--no-audit', '--no-fund', 'kafka-streams@5'], {
        cwd: repoRoot,
        timeout: 180_000,
      });
    }
    const { stdout } = await run(
      process.execPath,
      [
        join(benchDir, 'peer-kafka-streams.cjs'),
        peerDir,
        ctx.brokers[0]!,
        uniform10k.topic,
        String(RECORDS),
        String(maxSeconds),
      ],
      { cwd: repoRoot, timeout: (maxSeconds + 30) * 1000, maxBuffer: 1 << 20 },
    );
    const result = JSON.parse(stdout.trim().split('\n').pop()!);
    log(`kafka-streams: ${JSON.stringify(result)}`);
    return result as { records: number; rate: number; why: string; errors: string[] };
  } catch (error) {
    return { records: 0, rate: 0, why: 'failed', errors: [String((error as Error).message).slice(0, 300)] };
  }
}
