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
  podTemplateHash,
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
  it('are owned by the Pipeline (controller, blockOwnerDeletion)', () => {
    for (const o of [
      desiredConfigMap(pipeline()),
      desiredDeployment(pipeline(), 2, 1, 'fp', settings),
      desiredService(pipeline()),
    ]) {
      expect(o.metadata.name).toBe(childName('views'));
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
    const doc = parse((desiredConfigMap(pipeline()).data as Record<string, string>)['pipeline.yaml']!);
    expect(doc).toEqual({
      apiVersion: 'kappaflow.io/v1alpha1',
      kind: 'Pipeline',
      metadata: { name: 'views', namespace: 'team' },
      spec: pipeline().spec,
    });
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
