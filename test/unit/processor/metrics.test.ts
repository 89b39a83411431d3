import { describe, expect, it } from 'vitest';
import { createProcessorMetrics, timeOutcome } from '../../../processor/src/observability/metrics.ts';

async function batchCounts(metrics: ReturnType<typeof createProcessorMetrics>) {
  const { values } = await metrics.batchSeconds.get();
  return Object.fromEntries(
    values
      .filter((v) => v.metricName === 'kappaflow_batch_duration_seconds_count')
      .map((v) => [String(v.labels.outcome), v.value]),
  );
}

describe('metrics.batchSeconds', () => {
  it('times every batch outcome, failures included', async () => {
    const metrics = createProcessorMetrics('p');
    expect(await timeOutcome(metrics.batchSeconds, async () => 'applied')).toBe('applied');
    await timeOutcome(metrics.batchSeconds, async () => 'applied');
    await timeOutcome(metrics.batchSeconds, async () => 'fenced');
    await timeOutcome(metrics.batchSeconds, async () => 'seek');
    await expect(
      timeOutcome(metrics.batchSeconds, async () => {
        throw new Error('Redis is down');
      }),
    ).rejects.toThrow('Redis is down');
    expect(await batchCounts(metrics)).toEqual({ applied: 2, fenced: 1, seek: 1, error: 1 });
  });
});
