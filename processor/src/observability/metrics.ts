import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The processor's Prometheus metrics, in their own registry so tests can create several. */
export function createProcessorMetrics(pipeline: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ pipeline });
  collectDefaultMetrics({ register: registry });
  const labels = ['topic', 'partition'] as const;
  return {
    registry,
    recordsIn: new Counter({
      name: 'kappaflow_records_in_total',
      help: 'Records read from Kafka',
      labelNames: labels,
      registers: [registry],
    }),
    recordsAggregated: new Counter({
      name: 'kappaflow_records_aggregated_total',
      help: 'Records folded into windows and committed',
      labelNames: labels,
      registers: [registry],
    }),
    recordsFiltered: new Counter({
      name: 'kappaflow_records_filtered_total',
      help: 'Records skipped by the where expression',
      labelNames: labels,
      registers: [registry],
    }),
    recordsLate: new Counter({
      name: 'kappaflow_records_late_total',
      help: 'Records whose windows had all closed (sent to the dead-letter topic)',
      labelNames: labels,
      registers: [registry],
    }),
    recordsDeadLettered: new Counter({
      name: 'kappaflow_records_dead_lettered_total',
      help: 'Records sent to the dead-letter topic, by reason',
      labelNames: ['topic', 'partition', 'reason'] as const,
      registers: [registry],
    }),
    batchSeconds: new Histogram({
      name: 'kappaflow_batch_duration_seconds',
      help: 'Time to process one partition batch, from fetch to Redis commit, by outcome (applied, fenced, duplicate, diverged, seek, skipped, error)',
      labelNames: ['outcome'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    commitSeconds: new Histogram({
      name: 'kappaflow_redis_commit_duration_seconds',
      help: 'Time of the atomic Redis commit of one batch',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    redisCommits: new Counter({
      name: 'kappaflow_redis_commits_total',
      help: 'Redis batch commits, by outcome (applied, fenced, duplicate, diverged)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'kappaflow_consumer_lag',
      help: 'Records behind the partition end',
      labelNames: labels,
      registers: [registry],
    }),
    watermark: new Gauge({
      name: 'kappaflow_watermark_ms',
      help: 'Event-time watermark of the partition (epoch ms)',
      labelNames: labels,
      registers: [registry],
    }),
  };
}

export type ProcessorMetrics = ReturnType<typeof createProcessorMetrics>;

/**
 * Runs `work` and observes its duration under the outcome it returns, or `error` when it throws, so
 * that every batch counts (a histogram of successes alone hides the slow failures).
 */
export async function timeOutcome<T extends string>(
  histogram: Histogram<'outcome'>,
  work: () => Promise<T>,
): Promise<T> {
  const stop = histogram.startTimer();
  let outcome = 'error';
  try {
    const result = await work();
    outcome = result;
    return result;
  } finally {
    stop({ outcome });
  }
}
