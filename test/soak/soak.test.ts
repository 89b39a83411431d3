import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { connectRedis } from '../../processor/src/state/connection.ts';
import { killScenarioProcesses, runScenario } from '../integration/processor/scenario.ts';
import { memoryByKind, usedMemoryMiB } from './redis-memory.ts';

const MINUTES = Number(process.env.KAPPAFLOW_SOAK_MINUTES ?? 30);
const RATE = Number(process.env.KAPPAFLOW_SOAK_RATE ?? 1000);

afterAll(killScenarioProcesses);

function rssMiB(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    return (
      Number(
        execFileSync('ps', ['-o', 'rss=', '-p', String(pid)])
          .toString()
          .trim(),
      ) / 1024
    );
  } catch {
    return null;
  }
}

/** The pid of the process listening on `address`'s port (the shared Kafka and Redis of the run). */
function listenerPid(address: string): number | undefined {
  const port = address.split(':').at(-1)!.replace(/\D/g, '');
  const line = execFileSync('ss', ['-Hltnp', `sport = :${port}`]).toString();
  const pid = /pid=(\d+)/.exec(line)?.[1];
  return pid === undefined ? undefined : Number(pid);
}

/** Least-squares slope of (minutes, MiB) samples. */
function slope(samples: [number, number][]): number {
  const n = samples.length;
  const mx = samples.reduce((a, [x]) => a + x, 0) / n;
  const my = samples.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of samples) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * The soak (`npm run soak -- --minutes N --rate R`): records at R/s for N minutes, a replica
 * SIGKILLed and restarted every minute (slots 1 and 2; slot 0 lives throughout so its memory can
 * be followed), then the ground truth. The RSS of every process (replicas, Redis, Kafka) is sampled
 * every 10 s and reported with its slope.
 */
describe('soak', () => {
  it(`stays exact for ${MINUTES} minutes at ${RATE} records/s with a replica killed every minute`, {
    timeout: (MINUTES + 20) * 60_000,
  }, async () => {
    const began = Date.now();
    // RSS of every process over time: each replica process (by pid: a killed slot starts a new
    // series), the shared Redis and the Kafka broker.
    const series = new Map<string, [number, number][]>();
    const shared: [string, number | undefined][] = [
      ['redis', listenerPid(inject('redisUrl'))],
      ['kafka', listenerPid(inject('kafkaBrokers')[0]!)],
    ];
    // Redis' own view of its data (used_memory, key count) beside its RSS, and at the end what its
    // memory is made of, by key kind.
    const redis = connectRedis(inject('redisUrl'));
    const redisData: { minute: number; usedMiB: number; keys: number }[] = [];
    let sampling = Promise.resolve();
    let lastSample = 0;
    const report = await runScenario({
      records: Math.round(RATE * MINUTES * 60),
      brokers: inject('kafkaBrokers'),
      redisUrl: inject('redisUrl'),
      productionMs: MINUTES * 60_000,
      minKills: MINUTES,
      killEveryMs: 60_000,
      killSlots: [1, 2],
      onTick: (set) => {
        if (Date.now() - lastSample < 10_000) return;
        lastSample = Date.now();
        const processes: [string, number | undefined][] = [
          ...set.replicas.map((r, slot): [string, number | undefined] => [
            `replica-${slot} pid ${r?.child.pid}`,
            r?.child.pid,
          ]),
          ...shared,
        ];
        const minute = (Date.now() - began) / 60_000;
        sampling = sampling.then(async () => {
          const [usedMiB, keys] = await Promise.all([usedMemoryMiB(redis), redis.dbsize()]);
          redisData.push({ minute: Number(minute.toFixed(2)), usedMiB: Number(usedMiB.toFixed(1)), keys });
        });
        for (const [label, pid] of processes) {
          const rss = rssMiB(pid);
          if (rss === null) continue;
          if (!series.has(label)) series.set(label, []);
          series.get(label)!.push([(Date.now() - began) / 60_000, rss]);
        }
      },
    });
    expect(report.kills).toBe(MINUTES);
    // The first two minutes are warm-up (JIT, caches); each slope is over the rest, for processes
    // sampled at least three times after it (a killed replica lives about a minute).
    const rssMiBs = Object.fromEntries(
      [...series].map(([label, samples]) => {
        const steady = samples.filter(([m]) => m >= 2);
        return [
          label,
          {
            first: Math.round(samples[0]![1]),
            last: Math.round(samples.at(-1)![1]),
            samples: samples.length,
            ...(steady.length >= 3 ? { slopePerMinute: Number(slope(steady).toFixed(2)) } : {}),
          },
        ];
      }),
    );
    await sampling;
    const steadyData = redisData.filter((d) => d.minute >= 2);
    const redisUsed = {
      first: redisData[0],
      last: redisData.at(-1),
      ...(steadyData.length >= 3
        ? { slopePerMinute: Number(slope(steadyData.map((d) => [d.minute, d.usedMiB])).toFixed(2)) }
        : {}),
      byKind: (await memoryByKind(redis)).slice(0, 12),
    };
    redis.disconnect();
    const summary = { ...report, rate: RATE, minutes: MINUTES, rssMiB: rssMiBs, redisUsed };
    console.log('[drill] soak', JSON.stringify(summary));
  });
});
