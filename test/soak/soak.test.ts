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
 * be followed), then the ground truth.
 */
describe('soak', () => {
  it(`stays exact for ${MINUTES} minutes at ${RATE} records/s with a replica killed every minute`, {
    timeout: (MINUTES + 20) * 60_000,
  }, async () => {
    const began = Date.now();
    const samples: [number, number][] = [];
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
        const rss = rssMiB(set.replicas[0]?.child.pid);
        if (rss !== null) samples.push([(Date.now() - began) / 60_000, rss]);
      },
    });
    expect(report.kills).toBe(MINUTES);
    // The first two minutes are warm-up (JIT, caches); the slope is over the rest.
    const steady = samples.filter(([m]) => m >= 2);
    const summary = {
      ...report,
      rate: RATE,
      minutes: MINUTES,
      rssMiB: { first: samples[0]?.[1], last: samples.at(-1)?.[1], slopePerMinute: slope(steady) },
    };
    console.log('[drill] soak', JSON.stringify(summary));
  });
});
