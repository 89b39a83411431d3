import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { killScenarioProcesses, runScenario } from '../integration/processor/scenario.ts';

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
    const summary = { ...report, rate: RATE, minutes: MINUTES, rssMiB: rssMiBs };
    console.log('[drill] soak', JSON.stringify(summary));
  });
});
