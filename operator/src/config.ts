// The operator's settings, from flags or environment variables (flags win).
import { hostname } from 'node:os';
import type { DeletionPolicy } from './cleanup.ts';
import type { SecretKeyRef } from './resources.ts';

export interface OperatorConfig {
  /** kubeconfig file; default: KUBECONFIG / ~/.kube/config, or the in-cluster service account */
  kubeconfig?: string;
  /** namespaces to watch; empty: all */
  namespaces: string[];
  kafkaBrokers: string;
  /**
   * Kafka client settings file (TLS/SASL, KAFKA_CONFIG_FILE) for the operator's own admin clients:
   * the file processors get from kafkaConfigSecret, mounted in the operator pod too.
   */
  kafkaConfigFile?: string;
  redisUrl: string;
  /**
   * Password for the operator's own Redis connections (REDIS_PASSWORD, the one processors get from
   * redisPasswordSecret); a Pipeline's spec.redis.secretRef wins for that Pipeline's Redis.
   */
  redisPassword?: string;
  image: string;
  imagePullPolicy?: string;
  /** Secrets for pulling the processor image */
  imagePullSecrets?: string[];
  /**
   * Secrets processor pods get by name (the operator never reads them): the Kafka client settings
   * file, the Redis password (unless a Pipeline sets spec.redis.secretRef) and the query API tokens.
   */
  kafkaConfigSecret?: SecretKeyRef;
  /** Secret with the Redis TLS files (ca.crt, tls.crt, tls.key), mounted in processor pods */
  redisTlsSecret?: string;
  redisPasswordSecret?: SecretKeyRef;
  /** the Sentinels' own password (REDIS_SENTINEL_PASSWORD of processors), when it differs */
  redisSentinelPasswordSecret?: SecretKeyRef;
  queryAuthSecret?: SecretKeyRef;
  /** container resources of processors, JSON */
  processorResources?: Record<string, unknown>;
  /** extra env for processors */
  processorEnv?: Record<string, string>;
  processorServiceAccount?: string;
  /** run processor pods in the node's network namespace (hostNetwork), listening on `processorPort` */
  processorHostNetwork?: boolean;
  /** HTTP port of processor pods (query API, probes, /metrics); default 8080 */
  processorPort?: number;
  leaderElect: boolean;
  leaseName: string;
  leaseNamespace: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** /metrics and /healthz */
  port: number;
  host: string;
  resyncMs: number;
  /** how often the autoscaler looks at each pipeline */
  scaleIntervalMs: number;
  /** when a Pipeline has no kappaflow.io/deletion-policy annotation */
  deletionPolicy: DeletionPolicy;
  workers: number;
}

export function defaultIdentity(): string {
  return process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
}
