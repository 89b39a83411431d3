import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { mergeConditions } from './conditions.ts';
import {
  childName,
  desiredConfigMap,
  desiredDeployment,
  desiredService,
  type PipelineObject,
  type ProcessorSettings,
  pipelineRedisUrl,
  podTemplateHash,
  versionName,
} from './resources.ts';

const pipeline = (over: Partial<PipelineObject['spec']> = {}): PipelineObject => ({
  apiVersion: 'kappaflow.io/v1alpha1',
  kind: 'Pipeline',
  metadata: { name: 'views', namespace: 'team', uid: 'u-1', generation: 3, resourceVersion: '9' },
  spec: {
    source: { topic: 'page-views' },
    window: { type: 'tumbling', size: '1m' },
    aggregates: { n: { count: {} } },
    scaling: { maxReplicas: 4 },
    ...over,
  },
  status: { replicas: 2 },
});
const settings: ProcessorSettings = {
  image: 'kappaflow:1',
  kafkaBrokers: 'k:9092',
  redisUrl: 'redis://r:6379',
};

describe('desired objects', () => {
  it('each version has its own Deployment selecting only its pods, and its own ConfigMap', () => {
    const d = desiredDeployment(pipeline(), 2, 3, 'fp', settings) as unknown as {
      metadata: { name: string };
      spec: {
        selector: { matchLabels: Record<string, string> };
        template: {
          metadata: { labels: Record<string, string> };
          spec: { volumes: { configMap?: { name: string } }[] };
        };
      };
    };
    expect(d.metadata.name).toBe('kappaflow-views-v3');
    expect(d.spec.selector.matchLabels).toMatchObject({
      'kappaflow.io/pipeline': 'views',
      'kappaflow.io/version': '3',
    });
    expect(d.spec.template.metadata.labels).toMatchObject(d.spec.selector.matchLabels);
    expect(d.spec.template.spec.volumes[0]!.configMap?.name).toBe('kappaflow-views-v3');
    expect(desiredConfigMap(pipeline(), 3).metadata.labels).toMatchObject({ 'kappaflow.io/version': '3' });
  });
  it('changing the promotion policy does not restart processors (not in the template hash)', () => {
    expect(podTemplateHash(pipeline({ reprocessing: { promotion: 'manual' } }), 1, settings)).toBe(
      podTemplateHash(pipeline(), 1, settings),
    );
  });
  it('are owned by the Pipeline (controller, blockOwnerDeletion)', () => {
    for (const [o, name] of [
      [desiredConfigMap(pipeline(), 1), versionName('views', 1)],
      [desiredDeployment(pipeline(), 2, 1, 'fp', settings), versionName('views', 1)],
      [desiredService(pipeline()), childName('views')],
    ] as const) {
      expect(o.metadata.name).toBe(name);
      expect(o.metadata.namespace).toBe('team');
      expect(o.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'kappaflow.io/v1alpha1',
          kind: 'Pipeline',
          name: 'views',
          uid: 'u-1',
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
    }
  });
  it('the ConfigMap holds the spec without status or server metadata', () => {
    const doc = parse((desiredConfigMap(pipeline(), 1).data as Record<string, string>)['pipeline.yaml']!);
    expect(doc).toEqual({
      apiVersion: 'kappaflow.io/v1alpha1',
      kind: 'Pipeline',
      metadata: { name: 'views', namespace: 'team' },
      spec: pipeline().spec,
    });
  });
  it("spec.redis.cluster applies to the Pipeline's url; without one, the platform's address is used as given", () => {
    expect(pipelineRedisUrl({ url: 'rediss://x:1', cluster: true }, 'redis://r:6379')).toBe(
      'rediss-cluster://x:1',
    );
    expect(pipelineRedisUrl({ cluster: true }, 'redis://r:6379')).toBe('redis://r:6379');
    expect(pipelineRedisUrl({ cluster: true }, 'redis-cluster://r:6379')).toBe('redis-cluster://r:6379');
    expect(pipelineRedisUrl({ cluster: false }, 'redis://r:6379')).toBe('redis://r:6379');
    expect(pipelineRedisUrl(undefined, 'redis://r:6379')).toBe('redis://r:6379');
  });
  it('the Deployment runs the processor with env, probes and the template hash', () => {
    const d = desiredDeployment(
      pipeline({ redis: { url: 'redis://x:1', cluster: true, secretRef: { name: 's' } } }),
      2,
      4,
      'fp',
      settings,
    ) as unknown as {
      spec: {
        replicas: number;
        template: {
          metadata: { annotations: Record<string, string> };
          spec: { containers: Array<Record<string, unknown>> };
        };
      };
    };
    expect(d.spec.replicas).toBe(2);
    const c = d.spec.template.spec.containers[0]!;
    expect(c.args).toEqual(['run', '/etc/kappaflow/pipeline.yaml']);
    expect(c.env).toEqual(
      expect.arrayContaining([
        { name: 'KAFKA_BROKERS', value: 'k:9092' },
        { name: 'REDIS_URL', value: 'redis-cluster://x:1' },
        { name: 'KAPPAFLOW_VERSION', value: '4' },
        { name: 'KAPPAFLOW_REPLICA_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 's', key: 'password' } } },
      ]),
    );
    expect(c.readinessProbe).toMatchObject({ httpGet: { path: '/readyz' } });
    expect(c.livenessProbe).toMatchObject({ httpGet: { path: '/healthz' } });
    expect(d.spec.template.metadata.annotations['kappaflow.io/spec-hash']).toMatch(/^[0-9a-f]{16}$/);
  });
  it('hostNetwork settings put processor pods in the node network on their own port', () => {
    type Spec = {
      spec: {
        template: {
          metadata: { annotations: Record<string, string> };
          spec: {
            hostNetwork?: boolean;
            dnsPolicy?: string;
            containers: [{ ports: unknown[]; env: unknown[] }];
          };
        };
      };
    };
    const plain = desiredDeployment(pipeline(), 1, 1, 'fp', settings) as unknown as Spec;
    expect(plain.spec.template.spec.hostNetwork).toBeUndefined();
    expect(plain.spec.template.spec.containers[0].ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
    ]);
    const d = desiredDeployment(pipeline(), 1, 1, 'fp', {
      ...settings,
      hostNetwork: true,
      port: 18080,
    }) as unknown as Spec;
    const pod = d.spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(pod.containers[0].ports).toEqual([{ name: 'http', containerPort: 18080, protocol: 'TCP' }]);
    expect(pod.containers[0].env).toContainEqual({ name: 'PORT', value: '18080' });
    // it listens on its pod IP (the node's address, where the kubelet probes), not on every interface
    expect(pod.containers[0].env).toContainEqual({
      name: 'HOST',
      valueFrom: { fieldRef: { fieldPath: 'status.podIP' } },
    });
    expect(plain.spec.template.spec.containers[0].env).not.toContainEqual(
      expect.objectContaining({ name: 'HOST' }),
    );
    // an explicit HOST in the processor env wins, and only once
    const own = desiredDeployment(pipeline(), 1, 1, 'fp', {
      ...settings,
      hostNetwork: true,
      env: { HOST: '127.0.0.1' },
    }) as unknown as Spec;
    const hosts = (own.spec.template.spec.containers[0].env as { name: string }[]).filter(
      (e) => e.name === 'HOST',
    );
    expect(hosts).toEqual([{ name: 'HOST', value: '127.0.0.1' }]);
    expect(d.spec.template.metadata.annotations['prometheus.io/port']).toBe('18080');
    expect(podTemplateHash(pipeline(), 1, { ...settings, hostNetwork: true })).not.toBe(
      podTemplateHash(pipeline(), 1, settings),
    );
  });
  it('the template hash changes with the logic, not with scaling settings', () => {
    const h = podTemplateHash(pipeline(), 1, settings);
    expect(podTemplateHash(pipeline({ scaling: { maxReplicas: 9 } }), 1, settings)).toBe(h);
    expect(podTemplateHash(pipeline({ where: 'event.x > 1' }), 1, settings)).not.toBe(h);
    expect(podTemplateHash(pipeline(), 2, settings)).not.toBe(h);
    expect(podTemplateHash(pipeline(), 1, { ...settings, image: 'kappaflow:2' })).not.toBe(h);
  });
  it('building twice gives the same objects (idempotent apply)', () => {
    expect(desiredDeployment(pipeline(), 3, 1, 'fp', settings)).toEqual(
      desiredDeployment(pipeline(), 3, 1, 'fp', settings),
    );
  });
});

type PodTemplate = {
  metadata: { annotations: Record<string, string> };
  spec: {
    imagePullSecrets?: unknown[];
    volumes: Array<Record<string, unknown>>;
    containers: Array<{ env: Array<Record<string, unknown>>; volumeMounts: Array<Record<string, unknown>> }>;
  };
};
const template = (d: unknown) => (d as { spec: { template: PodTemplate } }).spec.template;
const envOf = (t: PodTemplate) => t.spec.containers[0]!.env;

describe('operator-wide Secrets in processor pods', () => {
  const withSecrets: ProcessorSettings = {
    ...settings,
    imagePullSecrets: ['regcred'],
    kafkaConfigSecret: { name: 'kafka-client', key: 'kafka.yaml' },
    redisPasswordSecret: { name: 'redis-auth', key: 'redis-password' },
    queryAuthSecret: { name: 'query-tokens', key: 'tokens' },
    redisTlsSecret: 'redis-tls',
  };

  it('none configured: only the pipeline ConfigMap, no Secret env, no pull secrets', () => {
    const t = template(desiredDeployment(pipeline(), 1, 1, 'fp', settings));
    expect(t.spec.volumes).toEqual([{ name: 'pipeline', configMap: { name: 'kappaflow-views-v1' } }]);
    expect(t.spec.containers[0]!.volumeMounts).toEqual([
      { name: 'pipeline', mountPath: '/etc/kappaflow', readOnly: true },
    ]);
    expect(t.spec.imagePullSecrets).toBeUndefined();
    const names = envOf(t).map((e) => e.name);
    expect(names).not.toContain('REDIS_PASSWORD');
    expect(names).not.toContain('KAFKA_CONFIG_FILE');
    expect(names).not.toContain('KAPPAFLOW_AUTH_TOKEN_FILE');
  });

  it('mounts the Kafka settings and query tokens Secrets read-only, points the env at them, references the Redis Secret', () => {
    const t = template(desiredDeployment(pipeline(), 1, 1, 'fp', withSecrets));
    expect(t.spec.volumes).toEqual([
      { name: 'pipeline', configMap: { name: 'kappaflow-views-v1' } },
      { name: 'kafka-config', secret: { secretName: 'kafka-client' } },
      { name: 'redis-tls', secret: { secretName: 'redis-tls' } },
      { name: 'query-auth', secret: { secretName: 'query-tokens' } },
    ]);
    expect(t.spec.containers[0]!.volumeMounts).toEqual([
      { name: 'pipeline', mountPath: '/etc/kappaflow', readOnly: true },
      { name: 'kafka-config', mountPath: '/etc/kappaflow/kafka', readOnly: true },
      { name: 'redis-tls', mountPath: '/etc/kappaflow/redis-tls', readOnly: true },
      { name: 'query-auth', mountPath: '/etc/kappaflow/query-auth', readOnly: true },
    ]);
    const env = envOf(t);
    expect(env).toEqual(
      expect.arrayContaining([
        { name: 'KAFKA_CONFIG_FILE', value: '/etc/kappaflow/kafka/kafka.yaml' },
        { name: 'REDIS_TLS_DIR', value: '/etc/kappaflow/redis-tls' },
        { name: 'KAPPAFLOW_AUTH_TOKEN_FILE', value: '/etc/kappaflow/query-auth/tokens' },
        {
          name: 'REDIS_PASSWORD',
          valueFrom: { secretKeyRef: { name: 'redis-auth', key: 'redis-password' } },
        },
      ]),
    );
    // every env name once: the Kubernetes API keeps the last of duplicates, which would hide a bug
    expect(new Set(env.map((e) => e.name)).size).toBe(env.length);
    expect(t.spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
  });

  it("a Pipeline's spec.redis.secretRef wins over the operator-wide Redis Secret", () => {
    const p = pipeline({ redis: { secretRef: { name: 'own', passwordKey: 'pw' } } });
    const env = envOf(template(desiredDeployment(p, 1, 1, 'fp', withSecrets)));
    const passwords = env.filter((e) => e.name === 'REDIS_PASSWORD');
    expect(passwords).toEqual([
      { name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'own', key: 'pw' } } },
    ]);
    // the other Secrets still apply to that pipeline
    expect(env).toEqual(
      expect.arrayContaining([{ name: 'KAFKA_CONFIG_FILE', value: '/etc/kappaflow/kafka/kafka.yaml' }]),
    );
  });

  it("a Pipeline's schemaRegistry.auth.secretRef reaches the processors as KAPPAFLOW_SCHEMA_REGISTRY_CREDENTIALS", () => {
    const p = pipeline({
      source: {
        topic: 'views',
        format: 'avro',
        schemaRegistry: {
          url: 'http://registry:8081',
          auth: { type: 'basic', secretRef: { name: 'sr', key: 'cred' } },
        },
      },
    });
    const env = envOf(template(desiredDeployment(p, 1, 1, 'fp', settings)));
    expect(env.filter((e) => e.name === 'KAPPAFLOW_SCHEMA_REGISTRY_CREDENTIALS')).toEqual([
      {
        name: 'KAPPAFLOW_SCHEMA_REGISTRY_CREDENTIALS',
        valueFrom: { secretKeyRef: { name: 'sr', key: 'cred' } },
      },
    ]);
    expect(
      envOf(template(desiredDeployment(pipeline(), 1, 1, 'fp', settings))).map((e) => e.name),
    ).not.toContain('KAPPAFLOW_SCHEMA_REGISTRY_CREDENTIALS');
  });

  it("the sink's own schemaRegistry.auth.secretRef reaches the processors as KAPPAFLOW_SINK_SCHEMA_REGISTRY_CREDENTIALS", () => {
    const p = pipeline({
      sink: {
        topic: 'views.1m',
        format: 'avro',
        schemaRegistry: {
          url: 'http://registry:8081',
          auth: { type: 'bearer', secretRef: { name: 'sink-sr' } },
        },
      },
    });
    const env = envOf(template(desiredDeployment(p, 1, 1, 'fp', settings)));
    expect(env.filter((e) => String(e.name).includes('SCHEMA_REGISTRY'))).toEqual([
      {
        name: 'KAPPAFLOW_SINK_SCHEMA_REGISTRY_CREDENTIALS',
        valueFrom: { secretKeyRef: { name: 'sink-sr', key: 'credentials' } },
      },
    ]);
  });

  it("the Sentinels' own password as REDIS_SENTINEL_PASSWORD, left to a Pipeline's own password when it has one", () => {
    const sentinel: ProcessorSettings = {
      ...withSecrets,
      redisSentinelPasswordSecret: { name: 'redis-auth', key: 'sentinel-password' },
    };
    const sentinelEnv = (p: ReturnType<typeof pipeline>) =>
      envOf(template(desiredDeployment(p, 1, 1, 'fp', sentinel))).filter(
        (e) => e.name === 'REDIS_SENTINEL_PASSWORD',
      );
    expect(sentinelEnv(pipeline())).toEqual([
      {
        name: 'REDIS_SENTINEL_PASSWORD',
        valueFrom: { secretKeyRef: { name: 'redis-auth', key: 'sentinel-password' } },
      },
    ]);
    // the processors then give their Sentinels the Pipeline's own password (connection.ts default)
    expect(sentinelEnv(pipeline({ redis: { secretRef: { name: 'own', passwordKey: 'pw' } } }))).toEqual([]);
    expect(
      envOf(template(desiredDeployment(pipeline(), 1, 1, 'fp', withSecrets))).map((e) => e.name),
    ).not.toContain('REDIS_SENTINEL_PASSWORD');
  });

  it('a Secret name or key change rolls the pods (template hash)', () => {
    const h = podTemplateHash(pipeline(), 1, withSecrets);
    expect(podTemplateHash(pipeline(), 1, settings)).not.toBe(h);
    for (const changed of [
      { kafkaConfigSecret: { name: 'kafka-client-2', key: 'kafka.yaml' } },
      { kafkaConfigSecret: { name: 'kafka-client', key: 'client.yaml' } },
      { redisPasswordSecret: { name: 'redis-auth-2', key: 'redis-password' } },
      { redisSentinelPasswordSecret: { name: 'redis-auth', key: 'sentinel-password' } },
      { queryAuthSecret: { name: 'query-tokens-2', key: 'tokens' } },
      { imagePullSecrets: ['other'] },
    ]) {
      const t = template(desiredDeployment(pipeline(), 1, 1, 'fp', { ...withSecrets, ...changed }));
      expect(t.metadata.annotations['kappaflow.io/spec-hash'], JSON.stringify(changed)).not.toBe(h);
    }
  });
});

describe("a Pipeline's own connection settings in processor pods", () => {
  it('spec.redis.cluster keeps TLS: rediss:// becomes rediss-cluster://, for the pods and the operator', () => {
    const url = (redis: NonNullable<PipelineObject['spec']['redis']>) =>
      envOf(template(desiredDeployment(pipeline({ redis }), 1, 1, 'fp', settings))).find(
        (e) => e.name === 'REDIS_URL',
      );
    expect(url({ url: 'rediss://x:6380', cluster: true })).toEqual({
      name: 'REDIS_URL',
      value: 'rediss-cluster://x:6380',
    });
    expect(url({ url: 'redis://x:1', cluster: true })?.value).toBe('redis-cluster://x:1');
    expect(url({ url: 'rediss://x:6380' })?.value).toBe('rediss://x:6380');
    // the operator's own connection for the Pipeline (reconcile/redis-for.ts) reads the same address
    expect(pipelineRedisUrl({ url: 'rediss://x:6380', cluster: true }, 'redis://r:6379')).toBe(
      'rediss-cluster://x:6380',
    );
    expect(pipelineRedisUrl(undefined, 'redis://r:6379')).toBe('redis://r:6379');
  });

  it('spec.kafka.clientId as KAFKA_CLIENT_ID, nothing without it', () => {
    const env = envOf(
      template(desiredDeployment(pipeline({ kafka: { clientId: 'billing-views' } }), 1, 1, 'fp', settings)),
    );
    expect(env.filter((e) => e.name === 'KAFKA_CLIENT_ID')).toEqual([
      { name: 'KAFKA_CLIENT_ID', value: 'billing-views' },
    ]);
    const plain = envOf(template(desiredDeployment(pipeline(), 1, 1, 'fp', settings)));
    expect(plain.map((e) => e.name)).not.toContain('KAFKA_CLIENT_ID');
  });

  it('spec.redis.secretRef.usernameKey as REDIS_USERNAME from the same Secret as the password', () => {
    const p = pipeline({ redis: { secretRef: { name: 'own', passwordKey: 'pw', usernameKey: 'user' } } });
    const env = envOf(template(desiredDeployment(p, 1, 1, 'fp', settings)));
    expect(env.filter((e) => String(e.name).startsWith('REDIS_USERNAME'))).toEqual([
      { name: 'REDIS_USERNAME', valueFrom: { secretKeyRef: { name: 'own', key: 'user' } } },
    ]);
    const noUser = pipeline({ redis: { secretRef: { name: 'own' } } });
    expect(envOf(template(desiredDeployment(noUser, 1, 1, 'fp', settings))).map((e) => e.name)).not.toContain(
      'REDIS_USERNAME',
    );
  });

  const secured = pipeline({
    kafka: {
      brokers: ['k:9093'],
      tls: {
        caSecretRef: { name: 'kafka-ca' },
        clientCertSecretRef: { name: 'kafka-client', certKey: 'c.pem', keyKey: 'k.pem' },
      },
      sasl: { mechanism: 'scram-sha-512', secretRef: { name: 'kafka-user', usernameKey: 'u' } },
    },
  });

  it('spec.kafka.tls Secrets mounted read-only with their files named, spec.kafka.sasl as secretKeyRef env', () => {
    const t = template(
      desiredDeployment(secured, 1, 1, 'fp', {
        ...settings,
        kafkaConfigSecret: { name: 'kafka-client-settings', key: 'kafka.yaml' },
      }),
    );
    expect(t.spec.volumes).toEqual([
      { name: 'pipeline', configMap: { name: 'kappaflow-views-v1' } },
      { name: 'kafka-config', secret: { secretName: 'kafka-client-settings' } },
      { name: 'kafka-tls-ca', secret: { secretName: 'kafka-ca' } },
      { name: 'kafka-tls-client', secret: { secretName: 'kafka-client' } },
    ]);
    expect(t.spec.containers[0]!.volumeMounts).toEqual([
      { name: 'pipeline', mountPath: '/etc/kappaflow', readOnly: true },
      { name: 'kafka-config', mountPath: '/etc/kappaflow/kafka', readOnly: true },
      { name: 'kafka-tls-ca', mountPath: '/etc/kappaflow/kafka-tls-ca', readOnly: true },
      { name: 'kafka-tls-client', mountPath: '/etc/kappaflow/kafka-tls-client', readOnly: true },
    ]);
    const env = envOf(t);
    expect(env.filter((e) => String(e.name).startsWith('KAFKA_'))).toEqual([
      { name: 'KAFKA_BROKERS', value: 'k:9093' },
      { name: 'KAFKA_CONFIG_FILE', value: '/etc/kappaflow/kafka/kafka.yaml' },
      { name: 'KAFKA_TLS', value: 'true' },
      { name: 'KAFKA_TLS_CA_FILE', value: '/etc/kappaflow/kafka-tls-ca/ca.crt' },
      { name: 'KAFKA_TLS_CERT_FILE', value: '/etc/kappaflow/kafka-tls-client/c.pem' },
      { name: 'KAFKA_TLS_KEY_FILE', value: '/etc/kappaflow/kafka-tls-client/k.pem' },
      { name: 'KAFKA_SASL_MECHANISM', value: 'scram-sha-512' },
      { name: 'KAFKA_SASL_USERNAME', valueFrom: { secretKeyRef: { name: 'kafka-user', key: 'u' } } },
      { name: 'KAFKA_SASL_PASSWORD', valueFrom: { secretKeyRef: { name: 'kafka-user', key: 'password' } } },
    ]);
    expect(new Set(env.map((e) => e.name)).size).toBe(env.length);
  });

  it('spec.kafka.tls.enabled: false turns TLS off (KAFKA_TLS=false) and mounts nothing', () => {
    const off = pipeline({ kafka: { tls: { enabled: false, caSecretRef: { name: 'kafka-ca' } } } });
    const t = template(desiredDeployment(off, 1, 1, 'fp', settings));
    expect(t.spec.volumes).toEqual([{ name: 'pipeline', configMap: { name: 'kappaflow-views-v1' } }]);
    expect(envOf(t).filter((e) => String(e.name).startsWith('KAFKA_TLS'))).toEqual([
      { name: 'KAFKA_TLS', value: 'false' },
    ]);
    // `tls: {}` is TLS with the system's CAs (the schema's default enabled: true)
    const on = template(desiredDeployment(pipeline({ kafka: { tls: {} } }), 1, 1, 'fp', settings));
    expect(envOf(on).filter((e) => String(e.name).startsWith('KAFKA_TLS'))).toEqual([
      { name: 'KAFKA_TLS', value: 'true' },
    ]);
  });
});

describe('conditions', () => {
  it('keeps lastTransitionTime while the status stays, updates it on a change', () => {
    const t1 = new Date('2026-01-01T00:00:00Z');
    const t2 = new Date('2026-01-01T00:05:00Z');
    const a = mergeConditions(
      undefined,
      [{ type: 'Ready', status: 'False', reason: 'X', message: 'm' }],
      1,
      t1,
    );
    const b = mergeConditions(a, [{ type: 'Ready', status: 'False', reason: 'Y', message: 'n' }], 2, t2);
    expect(b[0]).toMatchObject({
      reason: 'Y',
      lastTransitionTime: '2026-01-01T00:00:00Z',
      observedGeneration: 2,
    });
    const c = mergeConditions(b, [{ type: 'Ready', status: 'True', reason: 'Z', message: '' }], 2, t2);
    expect(c[0]!.lastTransitionTime).toBe('2026-01-01T00:05:00Z');
  });
});
