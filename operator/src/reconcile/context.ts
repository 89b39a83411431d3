// What every reconcile step works with: the API client, settings, outputs (Events, metrics, logs),
// the Kafka and Redis clients, and the informers' caches.
import type { OperatorConfig } from '../config.ts';
import type { EventRecorder } from '../events.ts';
import type { KafkaAdmins, RedisClients } from '../inputs.ts';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import type { OperatorMetrics } from '../metrics.ts';
import type { PipelineObject } from '../resources.ts';

export interface DeploymentObject extends KubeObject {
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    updatedReplicas?: number;
  };
}

export interface ReconcileContext {
  client: KubeClient;
  config: OperatorConfig;
  events: EventRecorder;
  metrics: OperatorMetrics;
  kafka: KafkaAdmins;
  redis: RedisClients;
  getPipeline: (key: string) => PipelineObject | undefined;
  getDeployment: (namespace: string, name: string) => DeploymentObject | undefined;
  /** the operator's Deployments of one Pipeline (label kappaflow.io/pipeline), from the informer's cache */
  listDeployments: (namespace: string, pipeline: string) => DeploymentObject[];
  log: (level: 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}
