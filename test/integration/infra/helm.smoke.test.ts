import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goToolBuilt, type KubeApi, kubeBinariesBuilt, startKubeApi } from '../../../harness/kube.ts';
import { ensureDir, runDir } from '../../../harness/paths.ts';
import { helm, helmBin, kubeconform, kubeconformBin } from '../../../harness/tools.ts';

const cold = !kubeBinariesBuilt() || !goToolBuilt('helm') || !goToolBuilt('kubeconform');
const setupTimeout = cold ? 30 * 60_000 : 180_000;

/** A tiny chart: one ConfigMap and one Deployment, enough to exercise template, validation and install. */
function writeChart(dir: string): void {
  mkdirSync(join(dir, 'templates'), { recursive: true });
  writeFileSync(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: smoke\nversion: 0.1.0\n');
  writeFileSync(join(dir, 'values.yaml'), 'replicas: 1\ngreeting: hello\nextraField: false\n');
  writeFileSync(
    join(dir, 'templates', 'configmap.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\ndata:\n  greeting: {{ .Values.greeting | quote }}\n',
  );
  writeFileSync(
    join(dir, 'templates', 'deployment.yaml'),
    `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: { app: {{ .Release.Name }} }
  template:
    metadata:
      labels: { app: {{ .Release.Name }} }
    spec:
      containers:
        - name: main
          image: example.invalid/smoke:1
          ports: [{ containerPort: 8080 }]
          {{- if .Values.extraField }}
          notAField: true
          {{- end }}
`,
  );
}

describe('helm and kubeconform built from their Go modules', () => {
  let api: KubeApi;
  const chart = join(ensureDir(runDir), `helm-smoke-${randomBytes(3).toString('hex')}`);

  beforeAll(async () => {
    await Promise.all([helmBin(), kubeconformBin()]);
    api = await startKubeApi({ controllerManager: false });
    writeChart(chart);
  }, setupTimeout);

  afterAll(async () => {
    await api?.stop();
    rmSync(chart, { recursive: true, force: true });
  }, 60_000);

  it('helm version prints a version', async () => {
    const output = await helm(['version', '--short']);
    expect(output.trim()).toMatch(/^v3\.\d+\.\d+/);
  });

  it('validates rendered manifests offline with schemas generated from the API server', async () => {
    const good = await helm(['template', 'demo', chart]);
    const valid = await kubeconform(good, api);
    expect(valid.ok, valid.output).toBe(true);
    expect(valid.resources.map((r) => `${r.kind}/${r.name}`).sort()).toEqual([
      'ConfigMap/demo-greeting',
      'Deployment/demo',
    ]);

    const bad = await helm(['template', 'demo', chart, '--set', 'extraField=true']);
    const invalid = await kubeconform(bad, api);
    expect(invalid.ok).toBe(false);
    expect(invalid.output).toContain('notAField');
    expect((await kubeconform(bad, api, { strict: false })).ok).toBe(true);

    const unknownKind = await kubeconform(
      'apiVersion: example.com/v1\nkind: Nope\nmetadata:\n  name: x\n',
      api,
    );
    expect(unknownKind.ok).toBe(false);
  });

  it('validates custom resources against the schema of a CRD installed on the API server', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(api.kubeconfig);
    await kc.makeApiClient(k8s.ApiextensionsV1Api).createCustomResourceDefinition({
      body: {
        metadata: { name: 'widgets.smoke.example.com' },
        spec: {
          group: 'smoke.example.com',
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
          versions: [
            {
              name: 'v1alpha1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: {
                      type: 'object',
                      properties: {
                        size: { type: 'integer', minimum: 1 },
                        port: {
                          x_kubernetes_int_or_string: true,
                          anyOf: [{ type: 'integer' }, { type: 'string' }],
                        },
                      },
                    },
                  },
                },
              },
            },
          ],
        },
      },
    });
    const waitFor = [{ apiVersion: 'smoke.example.com/v1alpha1', kind: 'Widget' }];
    const widget = (spec: string) =>
      `apiVersion: smoke.example.com/v1alpha1\nkind: Widget\nmetadata:\n  name: w\nspec: ${spec}\n`;
    const good = await kubeconform(widget('{ size: 3, port: http }'), api, { waitFor });
    expect(good.ok, good.output).toBe(true);
    const tooSmall = await kubeconform(widget('{ size: 0 }'), api, { waitFor });
    expect(tooSmall.resources[0]?.msg).toContain('minimum');
    const typo = await kubeconform(widget('{ sise: 3 }'), api, { waitFor });
    expect(typo.resources[0]?.msg).toContain("'sise' not allowed");
  });

  it('installs a chart into the real API server', async () => {
    const namespace = `helm-${randomBytes(3).toString('hex')}`;
    await helm(['install', 'demo', chart, '--namespace', namespace, '--create-namespace'], api);
    const kc = new k8s.KubeConfig();
    kc.loadFromString(api.kubeconfig);
    const cm = await kc
      .makeApiClient(k8s.CoreV1Api)
      .readNamespacedConfigMap({ name: 'demo-greeting', namespace });
    expect(cm.data).toEqual({ greeting: 'hello' });
    const list = await helm(['list', '--namespace', namespace, '--short'], api);
    expect(list.trim()).toBe('demo');
  });
});
