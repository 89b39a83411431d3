// The generated CRD on a real kube-apiserver: accepted, examples apply with defaults filled in,
// invalid Pipelines refused with the API server's own validation errors, scale/status subresources.
// Skipped when the Kubernetes binaries are not built (npm run infra builds them). It belongs with
// the integration tests once they own the API server harness.

import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goToolBuilt, type KubeApi, startKubeApi } from '../../../harness/kube.ts';
import { renderCrd } from '../../../processor/src/spec/crd.ts';

const root = join(import.meta.dirname, '../../..');
const built = goToolBuilt('etcd') && goToolBuilt('kube-apiserver');
const base = readFileSync(join(root, 'examples/page-views.yaml'), 'utf8');

describe.skipIf(!built)('CRD on a real API server', { timeout: 120_000 }, () => {
  let api: KubeApi;

  function call(method: string, path: string, body?: string, type = 'application/apply-patch+yaml') {
    return new Promise<{ status: number; json: Record<string, unknown> }>((resolve, reject) => {
      const headers: Record<string, string> = {
        Authorization: `Bearer ${api.token}`,
        Accept: 'application/json',
      };
      if (body !== undefined) headers['Content-Type'] = type;
      const req = request(new URL(path, api.server), { method, ca: api.caPem, headers }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = { message: text };
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      });
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }
  const pipelines = '/apis/kappaflow.io/v1alpha1/namespaces/default/pipelines';
  const apply = (name: string, yaml: string) =>
    call('PATCH', `${pipelines}/${name}?fieldManager=test&force=true`, yaml);

  beforeAll(async () => {
    api = await startKubeApi({ controllerManager: false });
    const crd = await call(
      'PATCH',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/pipelines.kappaflow.io?fieldManager=test&force=true',
      renderCrd(),
    );
    expect(crd.status, JSON.stringify(crd.json)).toBeLessThan(300);
    for (let i = 0; i < 100; i++) {
      const got = await call(
        'GET',
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/pipelines.kappaflow.io',
      );
      const conditions =
        (got.json.status as { conditions?: { type: string; status: string }[] })?.conditions ?? [];
      if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) {
        // Discovery of the new resource can lag behind Established for a moment.
        for (let j = 0; j < 50 && (await call('GET', pipelines)).status !== 200; j++)
          await new Promise((r) => setTimeout(r, 100));
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('CRD never became Established');
  }, 120_000);

  afterAll(async () => {
    await api?.stop();
  });

  it.each(['page-views', 'orders-hopping', 'sessions'])(
    'applies examples/%s.yaml with defaults',
    async (file) => {
      const text = readFileSync(join(root, `examples/${file}.yaml`), 'utf8');
      const name = /name: (\S+)/.exec(text)?.[1] ?? file;
      const r = await apply(name, text);
      expect(r.status, JSON.stringify(r.json)).toBeLessThan(300);
      const spec = r.json.spec as {
        scaling: Record<string, unknown>;
        retention: string;
        source: { startFrom: string };
      };
      expect(spec.scaling).toMatchObject({
        mode: 'auto',
        minReplicas: 1,
        catchUpSeconds: 300,
        scaleDownStabilization: '5m',
      });
      expect(spec.retention).toBe('7d');
      expect(spec.source.startFrom).toBe('earliest');
    },
  );

  it('accepts rankWholeWindows on a hopping window and keeps it', async () => {
    const text = readFileSync(join(root, 'examples/orders-hopping.yaml'), 'utf8')
      .replace(/name: (\S+)/, 'name: whole-ranks')
      .replace('type: hopping', 'type: hopping, rankWholeWindows: true');
    const r = await apply('whole-ranks', text);
    expect(r.status, JSON.stringify(r.json)).toBeLessThan(300);
    expect((r.json.spec as { window: Record<string, unknown> }).window.rankWholeWindows).toBe(true);
  });

  it.each([
    ['a bad duration', base.replace('size: 1m', 'size: 1 minute'), 'spec.window.size'],
    [
      'maxReplicas below minReplicas',
      base.replace('minReplicas: 1', 'minReplicas: 20'),
      'maxReplicas must be at least minReplicas',
    ],
    [
      'two operators in one aggregate',
      base.replace('views: { count: {} }', 'views: { count: {}, sum: event.x }'),
      'exactly one of',
    ],
    [
      'a reserved group name',
      base.replace('page: event.path', 'from: event.path'),
      'group names must be identifiers',
    ],
    [
      'a session window with size',
      base.replace('type: tumbling', 'type: session'),
      'session windows need gap',
    ],
    [
      'rankWholeWindows on a tumbling window',
      base.replace('type: tumbling', 'type: tumbling\n    rankWholeWindows: true'),
      'rankWholeWindows is only for hopping windows',
    ],
    [
      'replicas in auto mode',
      base.replace('  scaling:\n', '  replicas: 3\n  scaling:\n'),
      'only used with scaling.mode external',
    ],
    [
      'the dead-letter topic as source',
      base.replace('topic: page-views.dlq', 'topic: page-views'),
      'deadLetter topic must not be a source topic',
    ],
    ['q out of range', base.replace('q: 0.95', 'q: 95'), 'spec.aggregates.p95_latency.q'],
    [
      'a registry key format without schemaRegistry',
      base.replace('    startFrom: earliest', '    key: { format: avro }\n    startFrom: earliest'),
      'need schemaRegistry',
    ],
    [
      'key.messageType on an Avro key',
      base.replace(
        '    startFrom: earliest',
        '    key: { format: avro, messageType: k.Key }\n    schemaRegistry: { url: "http://registry:8081" }\n    startFrom: earliest',
      ),
      'key.messageType needs key.format protobuf',
    ],
    [
      'cluster with a database number',
      base.replace(
        '  deadLetter:',
        '  redis: { url: "redis://node-0:6379/3", cluster: true }\n  deadLetter:',
      ),
      'Redis Cluster has only database 0',
    ],
  ])('refuses %s', async (_name, yaml, message) => {
    const r = await apply('page-views', yaml);
    expect(r.status).toBe(422);
    expect(String(r.json.message)).toContain(message);
  });

  it('accepts a registry key format on a JSON topic, and keeps key.format as written', async () => {
    const r = await apply(
      'page-views',
      base.replace(
        '    startFrom: earliest',
        '    key: { format: protobuf, messageType: k.Key }\n    schemaRegistry: { url: "http://registry:8081" }\n    startFrom: earliest',
      ),
    );
    expect(r.status, JSON.stringify(r.json)).toBeLessThan(300);
    expect((r.json.spec as { source: { key: unknown } }).source.key).toEqual({
      format: 'protobuf',
      messageType: 'k.Key',
    });
  });

  it('scales through the scale subresource in external mode and accepts a status', async () => {
    const external = base.replace('  scaling:\n', '  replicas: 2\n  scaling:\n    mode: external\n');
    expect((await apply('page-views', external)).status).toBeLessThan(300);
    const scaled = await call(
      'PATCH',
      `${pipelines}/page-views/scale`,
      JSON.stringify({ spec: { replicas: 5 } }),
      'application/merge-patch+json',
    );
    expect(scaled.status).toBe(200);
    const status = {
      replicas: 5,
      selector: 'app.kubernetes.io/instance=page-views',
      lag: 12,
      watermark: '2026-01-01T00:00:00Z',
      conditions: [{ type: 'Ready', status: 'True' }],
    };
    const st = await call(
      'PATCH',
      `${pipelines}/page-views/status`,
      JSON.stringify({ status }),
      'application/merge-patch+json',
    );
    expect(st.status, JSON.stringify(st.json)).toBe(200);
    const got = await call('GET', `${pipelines}/page-views`);
    expect((got.json.spec as { replicas: number }).replicas).toBe(5);
    expect(got.json.status).toMatchObject({ replicas: 5, lag: 12 });
  });
});
