// The objects a Pipeline owns, built as pure functions of the Pipeline and the operator's settings:
// a ConfigMap with the spec, a Deployment of processors and a Service for the query API. The
// reconciler applies them with server-side apply, so applying the same input twice changes nothing.

import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { KAFKA_ENV } from '../../processor/src/kafka/pipeline-settings.ts';
import {
  REGISTRY_CREDENTIALS_ENV,
  SINK_REGISTRY_CREDENTIALS_ENV,
} from '../../processor/src/spec/schema-registry.ts';
import { clusterUrl } from '../../processor/src/state/redis-url.ts';
import { kafkaSecretRefs, type SecretKey } from './kafka-secret-refs.ts';
import type { KubeObject, OwnerReference } from './kube/client.ts';
import { REPLAY_ANNOTATION } from './versioning.ts';

export const API_VERSION = 'kappaflow.io/v1alpha1';
export const FIELD_MANAGER = 'kappaflow-operator';
export const FINALIZER = 'kappaflow.io/cleanup';
export const DELETION_POLICY_ANNOTATION = 'kappaflow.io/deletion-policy';
export const SPEC_HASH_ANNOTATION = 'kappaflow.io/spec-hash';
export const FINGERPRINT_ANNOTATION = 'kappaflow.io/logic-fingerprint';
export const VERSION_LABEL = 'kappaflow.io/version';

export const PIPELINE_LABEL = 'kappaflow.io/pipeline';
export const MANAGED_BY = 'kappaflow-operator';
export const CONFIG_FILE = 'pipeline.yaml';
export const CONFIG_DIR = '/etc/kappaflow';
export const HTTP_PORT = 8080;
/** where a processor finds the Kafka client settings Secret (the same path as in the operator's own pod) */
export const KAFKA_CONFIG_DIR = `${CONFIG_DIR}/kafka`;
export const REDIS_TLS_DIR = `${CONFIG_DIR}/redis-tls`;
/** where a processor finds the query API tokens Secret (as in the chart's query pods) */
export const QUERY_AUTH_DIR = `${CONFIG_DIR}/query-auth`;
/** where a processor finds the Secrets of a Pipeline's spec.kafka.tls (CA, and client certificate and key) */
export const KAFKA_TLS_CA_DIR = `${CONFIG_DIR}/kafka-tls-ca`;
export const KAFKA_TLS_CLIENT_DIR = `${CONFIG_DIR}/kafka-tls-client`;

export interface PipelineObject extends KubeObject {
  spec: Record<string, unknown> & {
    replicas?: number;
    scaling?: Record<string, unknown>;
    kafka?: {
      brokers?: string[];
      clientId?: string;
      tls?: {
        enabled?: boolean;
        caSecretRef?: { name: string; key?: string };
        clientCertSecretRef?: { name: string; certKey?: string; keyKey?: string };
      };
      sasl?: { mechanism: string; secretRef: { name: string; usernameKey?: string; passwordKey?: string } };
    };
    redis?: {
      url?: string;
      cluster?: boolean;
      secretRef?: { name: string; passwordKey?: string; usernameKey?: string };
    };
  };
  status?: Record<string, unknown>;
}

/** A key of a Secret in the Pipeline's namespace: only the names are used, the contents are never read. */
export interface SecretKeyRef {
  name: string;
  key: string;
}

export interface ProcessorSettings {
  image: string;
  imagePullPolicy?: string;
  /** names of Secrets for pulling the image */
  imagePullSecrets?: string[];
  kafkaBrokers: string;
  redisUrl: string;
  /** Secret with the Kafka client settings file (`key`) and the files it refers to: mounted read-only at KAFKA_CONFIG_DIR */
  kafkaConfigSecret?: SecretKeyRef;
  /** Secret with ca.crt (and tls.crt, tls.key for mutual TLS) for rediss://: mounted read-only at REDIS_TLS_DIR */
  redisTlsSecret?: string;
  /** Secret with the Redis password, as REDIS_PASSWORD (a Pipeline's spec.redis.secretRef wins) */
  redisPasswordSecret?: SecretKeyRef;
  /**
   * Secret with the Sentinels' own password, as REDIS_SENTINEL_PASSWORD (processors default it to
   * REDIS_PASSWORD); left out for a Pipeline with its own spec.redis.secretRef, whose password wins
   */
  redisSentinelPasswordSecret?: SecretKeyRef;
  /** Secret with the query API bearer tokens (`key`, one per line): mounted read-only at QUERY_AUTH_DIR */
  queryAuthSecret?: SecretKeyRef;
  resources?: Record<string, unknown>;
  /** extra env for every processor (e.g. LOG_LEVEL) */
  env?: Record<string, string>;
  serviceAccountName?: string;
  /** pods in the node's network namespace: their port must be free on the node, one pod per node */
  hostNetwork?: boolean;
  /** HTTP port of the processors; default HTTP_PORT */
  port?: number;
}

export const childName = (pipeline: string) => `kappaflow-${pipeline}`;
/** A version's Deployment and ConfigMap (blue/green: each version runs its own while a replay catches up). */
export const versionName = (pipeline: string, version: number) => `${childName(pipeline)}-v${version}`;
/** Set on a version's Deployment being removed (scaled to 0, then its keys and group deleted): why. */
export const RETIRE_ANNOTATION = 'kappaflow.io/retiring';

export function selectorLabels(pipeline: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'kappaflow-processor', [PIPELINE_LABEL]: pipeline };
}

export function selectorString(pipeline: string): string {
  return Object.entries(selectorLabels(pipeline))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

function commonLabels(pipeline: string, version: number): Record<string, string> {
  return {
    ...selectorLabels(pipeline),
    'app.kubernetes.io/instance': pipeline,
    'app.kubernetes.io/component': 'processor',
    'app.kubernetes.io/managed-by': MANAGED_BY,
    [VERSION_LABEL]: String(version),
  };
}

export function ownerReference(p: PipelineObject): OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: 'Pipeline',
    name: p.metadata.name,
    uid: p.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The spec file the processors run: the Pipeline without status and server-set metadata. */
export function specYaml(p: PipelineObject): string {
  return stringify({
    apiVersion: API_VERSION,
    kind: 'Pipeline',
    metadata: { name: p.metadata.name, namespace: p.metadata.namespace },
    spec: p.spec,
  });
}

/**
 * Hash of what the pods run: the spec without the scaling and promotion settings (changing them must not restart
 * processors), the version and the processor settings (image, env, resources, and the names and keys
 * of the Secrets they mount or read). Stored on the pod template so a change rolls out.
 */
export function podTemplateHash(p: PipelineObject, version: number, settings: ProcessorSettings): string {
  const { scaling: _s, replicas: _r, reprocessing: _p, ...logic } = p.spec;
  return createHash('sha256').update(JSON.stringify({ logic, version, settings })).digest('hex').slice(0, 16);
}

/** The spec a version runs; a version's ConfigMap is written only while the spec is its logic. */
export function desiredConfigMap(p: PipelineObject, version: number): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: versionName(p.metadata.name, version),
      namespace: p.metadata.namespace,
      labels: {
        ...selectorLabels(p.metadata.name),
        'app.kubernetes.io/managed-by': MANAGED_BY,
        [VERSION_LABEL]: String(version),
      },
      ownerReferences: [ownerReference(p)],
    },
    data: { [CONFIG_FILE]: specYaml(p) },
  };
}

/** The Redis address a Pipeline's processors (and the operator, for that Pipeline) connect to. */
export function pipelineRedisUrl(
  redis: { url?: string; cluster?: boolean } | undefined,
  platform: string,
): string {
  // without a url, the platform's address as the operator was given it (a cluster one for a cluster)
  if (!redis?.url) return platform;
  return redis.cluster ? clusterUrl(redis.url) : redis.url;
}

/**
 * A Pipeline's spec.kafka as the variables processors read (processor/src/kafka/pipeline-settings.ts):
 * its Secrets' keys as secretKeyRef env (SASL) or as files of the volumes in processorVolumes (TLS).
 */
function kafkaEnv(p: PipelineObject): unknown[] {
  const kafka = p.spec.kafka;
  const refs = kafkaSecretRefs(kafka);
  const env: unknown[] = [];
  if (kafka?.clientId) env.push({ name: KAFKA_ENV.clientId, value: kafka.clientId });
  if (refs.tls !== undefined) env.push({ name: KAFKA_ENV.tls, value: String(refs.tls) });
  if (refs.ca) env.push({ name: KAFKA_ENV.ca, value: `${KAFKA_TLS_CA_DIR}/${refs.ca.key}` });
  if (refs.cert && refs.key) {
    env.push(
      { name: KAFKA_ENV.cert, value: `${KAFKA_TLS_CLIENT_DIR}/${refs.cert.key}` },
      { name: KAFKA_ENV.key, value: `${KAFKA_TLS_CLIENT_DIR}/${refs.key.key}` },
    );
  }
  if (refs.sasl) {
    const secretKeyRef = ({ name, key }: SecretKey) => ({ valueFrom: { secretKeyRef: { name, key } } });
    env.push(
      { name: KAFKA_ENV.mechanism, value: refs.sasl.mechanism },
      { name: KAFKA_ENV.username, ...secretKeyRef(refs.sasl.username) },
      { name: KAFKA_ENV.password, ...secretKeyRef(refs.sasl.password) },
    );
  }
  return env;
}

export function processorEnv(p: PipelineObject, version: number, settings: ProcessorSettings): unknown[] {
  const env: unknown[] = [
    { name: 'KAFKA_BROKERS', value: p.spec.kafka?.brokers?.join(',') ?? settings.kafkaBrokers },
    { name: 'REDIS_URL', value: pipelineRedisUrl(p.spec.redis, settings.redisUrl) },
    { name: 'PORT', value: String(settings.port ?? HTTP_PORT) },
    { name: 'KAPPAFLOW_VERSION', value: String(version) },
    { name: 'KAPPAFLOW_REPLICA_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  ];
  // The Pipeline's own Redis Secret wins over the operator-wide one.
  const secret = p.spec.redis?.secretRef;
  const password = secret
    ? { name: secret.name, key: secret.passwordKey ?? 'password' }
    : settings.redisPasswordSecret;
  if (password) {
    env.push({
      name: 'REDIS_PASSWORD',
      valueFrom: { secretKeyRef: { name: password.name, key: password.key } },
    });
  }
  // A Redis ACL user: the username from the same Secret as its password.
  if (secret?.usernameKey) {
    env.push({
      name: 'REDIS_USERNAME',
      valueFrom: { secretKeyRef: { name: secret.name, key: secret.usernameKey } },
    });
  }
  const sentinelPassword = secret ? undefined : settings.redisSentinelPasswordSecret;
  if (sentinelPassword) {
    env.push({
      name: 'REDIS_SENTINEL_PASSWORD',
      valueFrom: { secretKeyRef: { name: sentinelPassword.name, key: sentinelPassword.key } },
    });
  }
  if (settings.kafkaConfigSecret) {
    env.push({ name: 'KAFKA_CONFIG_FILE', value: `${KAFKA_CONFIG_DIR}/${settings.kafkaConfigSecret.key}` });
  }
  // After the settings file: the processor lets the Pipeline's own TLS/SASL replace the file's.
  env.push(...kafkaEnv(p));
  if (settings.redisTlsSecret) env.push({ name: 'REDIS_TLS_DIR', value: REDIS_TLS_DIR });
  if (settings.queryAuthSecret) {
    env.push({
      name: 'KAPPAFLOW_AUTH_TOKEN_FILE',
      value: `${QUERY_AUTH_DIR}/${settings.queryAuthSecret.key}`,
    });
  }
  // Schema Registry credentials from the Pipeline's Secrets (schemaRegistry.auth.secretRef of the
  // source, and of the sink's own registry).
  type WithRegistry = { schemaRegistry?: { auth?: { secretRef?: { name: string; key?: string } } } };
  const registries: [WithRegistry | undefined, string][] = [
    [p.spec.source as WithRegistry, REGISTRY_CREDENTIALS_ENV],
    [p.spec.sink as WithRegistry | undefined, SINK_REGISTRY_CREDENTIALS_ENV],
  ];
  for (const [owner, name] of registries) {
    const registrySecret = owner?.schemaRegistry?.auth?.secretRef;
    if (registrySecret) {
      env.push({
        name,
        valueFrom: { secretKeyRef: { name: registrySecret.name, key: registrySecret.key ?? 'credentials' } },
      });
    }
  }
  // In the node's network namespace a processor listens on the pod IP (the node's address), where
  // the kubelet probes it, rather than on every interface of the node; PROCESSOR_ENV's HOST wins.
  if (settings.hostNetwork && settings.env?.HOST === undefined) {
    env.push({ name: 'HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } });
  }
  for (const [name, value] of Object.entries(settings.env ?? {})) env.push({ name, value });
  return env;
}

/**
 * The pipeline ConfigMap, the operator-wide Secrets and the Pipeline's Kafka TLS Secrets as read-only
 * volumes (nested under CONFIG_DIR).
 */
function processorVolumes(p: PipelineObject, version: number, settings: ProcessorSettings) {
  const volumes: unknown[] = [
    { name: 'pipeline', configMap: { name: versionName(p.metadata.name, version) } },
  ];
  const mounts: unknown[] = [{ name: 'pipeline', mountPath: CONFIG_DIR, readOnly: true }];
  if (settings.kafkaConfigSecret) {
    volumes.push({ name: 'kafka-config', secret: { secretName: settings.kafkaConfigSecret.name } });
    mounts.push({ name: 'kafka-config', mountPath: KAFKA_CONFIG_DIR, readOnly: true });
  }
  if (settings.redisTlsSecret) {
    volumes.push({ name: 'redis-tls', secret: { secretName: settings.redisTlsSecret } });
    mounts.push({ name: 'redis-tls', mountPath: REDIS_TLS_DIR, readOnly: true });
  }
  // The Secrets of the Pipeline's spec.kafka.tls (they may be one Secret, mounted twice).
  const refs = kafkaSecretRefs(p.spec.kafka);
  if (refs.ca) {
    volumes.push({ name: 'kafka-tls-ca', secret: { secretName: refs.ca.name } });
    mounts.push({ name: 'kafka-tls-ca', mountPath: KAFKA_TLS_CA_DIR, readOnly: true });
  }
  if (refs.cert) {
    volumes.push({ name: 'kafka-tls-client', secret: { secretName: refs.cert.name } });
    mounts.push({ name: 'kafka-tls-client', mountPath: KAFKA_TLS_CLIENT_DIR, readOnly: true });
  }
  if (settings.queryAuthSecret) {
    volumes.push({ name: 'query-auth', secret: { secretName: settings.queryAuthSecret.name } });
    mounts.push({ name: 'query-auth', mountPath: QUERY_AUTH_DIR, readOnly: true });
  }
  return { volumes, mounts };
}

export function desiredDeployment(
  p: PipelineObject,
  replicas: number,
  version: number,
  fingerprint: string,
  settings: ProcessorSettings,
): KubeObject {
  const name = p.metadata.name;
  const labels = commonLabels(name, version);
  const hash = podTemplateHash(p, version, settings);
  const { volumes, mounts } = processorVolumes(p, version, settings);
  const port = settings.port ?? HTTP_PORT;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: versionName(name, version),
      namespace: p.metadata.namespace,
      labels,
      annotations: {
        [FINGERPRINT_ANNOTATION]: fingerprint,
        [SPEC_HASH_ANNOTATION]: hash,
        // the replay request this version served (versioning.ts): a new value starts another replay
        ...(p.metadata.annotations?.[REPLAY_ANNOTATION]
          ? { [REPLAY_ANNOTATION]: p.metadata.annotations[REPLAY_ANNOTATION] }
          : {}),
      },
      ownerReferences: [ownerReference(p)],
    },
    spec: {
      replicas,
      // the version is part of the selector: each version's Deployment owns only its own pods
      selector: { matchLabels: { ...selectorLabels(name), [VERSION_LABEL]: String(version) } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      template: {
        metadata: {
          labels,
          annotations: {
            [SPEC_HASH_ANNOTATION]: hash,
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': String(port),
          },
        },
        spec: {
          ...(settings.serviceAccountName ? { serviceAccountName: settings.serviceAccountName } : {}),
          ...(settings.imagePullSecrets?.length
            ? { imagePullSecrets: settings.imagePullSecrets.map((name) => ({ name })) }
            : {}),
          ...(settings.hostNetwork ? { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' } : {}),
          terminationGracePeriodSeconds: 60,
          containers: [
            {
              name: 'processor',
              image: settings.image,
              ...(settings.imagePullPolicy ? { imagePullPolicy: settings.imagePullPolicy } : {}),
              args: ['run', `${CONFIG_DIR}/${CONFIG_FILE}`],
              env: processorEnv(p, version, settings),
              ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
              livenessProbe: {
                httpGet: { path: '/healthz', port: 'http' },
                periodSeconds: 10,
                failureThreshold: 3,
              },
              readinessProbe: {
                httpGet: { path: '/readyz', port: 'http' },
                periodSeconds: 5,
                failureThreshold: 2,
              },
              ...(settings.resources ? { resources: settings.resources } : {}),
              volumeMounts: mounts,
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
          volumes,
        },
      },
    },
  };
}

export function desiredService(p: PipelineObject): KubeObject {
  const name = p.metadata.name;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: childName(name),
      namespace: p.metadata.namespace,
      labels: { ...selectorLabels(name), 'app.kubernetes.io/managed-by': MANAGED_BY },
      ownerReferences: [ownerReference(p)],
    },
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(name),
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}
