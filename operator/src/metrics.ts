// The operator's own Prometheus metrics.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'kappaflow_operator_' });
  const m = {
    registry,
    leader: new Gauge({
      name: 'kappaflow_operator_leader',
      help: '1 while this replica holds the Lease',
      registers: [registry],
    }),
    reconciles: new Counter({
      name: 'kappaflow_operator_reconcile_total',
      help: 'Reconciles by result',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    reconcileSeconds: new Histogram({
      name: 'kappaflow_operator_reconcile_duration_seconds',
      help: 'Time per reconcile',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'kappaflow_operator_queue_depth',
      help: 'Keys waiting in the work queue',
      registers: [registry],
    }),
    retries: new Counter({
      name: 'kappaflow_operator_retries_total',
      help: 'Keys re-queued after an error',
      registers: [registry],
    }),
    apiRequests: new Counter({
      name: 'kappaflow_operator_api_requests_total',
      help: 'Kubernetes API requests by verb and status code (0: connection error)',
      labelNames: ['verb', 'code'] as const,
      registers: [registry],
    }),
    relists: new Counter({
      name: 'kappaflow_operator_relists_total',
      help: 'Informer lists by reason (start, gone: watch expired with 410, error)',
      labelNames: ['resource', 'reason'] as const,
      registers: [registry],
    }),
    desiredReplicas: new Gauge({
      name: 'kappaflow_operator_desired_replicas',
      help: 'Replicas the operator set on the Deployment',
      labelNames: ['namespace', 'pipeline'] as const,
      registers: [registry],
    }),
    recommendedReplicas: new Gauge({
      name: 'kappaflow_operator_recommended_replicas',
      help: 'Replicas the scaler recommends before stabilization',
      labelNames: ['namespace', 'pipeline'] as const,
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'kappaflow_operator_pipeline_lag',
      help: 'Consumer group lag of the active version (records)',
      labelNames: ['namespace', 'pipeline'] as const,
      registers: [registry],
    }),
    inputRate: new Gauge({
      name: 'kappaflow_operator_pipeline_input_rate',
      help: 'Records per second arriving on the source topics',
      labelNames: ['namespace', 'pipeline'] as const,
      registers: [registry],
    }),
    hotPartitions: new Gauge({
      name: 'kappaflow_operator_hot_partitions',
      help: 'Partitions carrying far more lag or traffic than the others (more replicas cannot help them)',
      labelNames: ['namespace', 'pipeline'] as const,
      registers: [registry],
    }),
    scalingEvents: new Counter({
      name: 'kappaflow_operator_scaling_decisions_total',
      help: 'Replica changes made by the autoscaler',
      labelNames: ['namespace', 'pipeline', 'direction'] as const,
      registers: [registry],
    }),
  };
  return m;
}

export type OperatorMetrics = ReturnType<typeof createMetrics>;
