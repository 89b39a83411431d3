import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KubeApi, kubeBinariesBuilt, kubeGet, startKubeApi } from '../../../harness/kube.ts';
import { waitUntil } from '../../../harness/service.ts';

// A cold build of the control plane takes minutes; with cached binaries the start takes seconds.
const setupTimeout = kubeBinariesBuilt() ? 180_000 : 30 * 60_000;

describe('real Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager)', () => {
  let api: KubeApi;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  const namespace = `smoke-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    api = await startKubeApi();
    kc = new k8s.KubeConfig();
    kc.loadFromString(api.kubeconfig);
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  }, setupTimeout);

  afterAll(async () => {
    await api?.stop();
    expect(api?.apiServer.child.exitCode ?? api?.apiServer.child.signalCode).not.toBeNull();
  }, 60_000);

  it('serves the API over TLS with the admin kubeconfig', async () => {
    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    expect(version.gitVersion).toMatch(/^v1\.\d+\.\d+/);
    expect(api.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('creates a ConfigMap and watches it change', async () => {
    const events: { type: string; value?: string }[] = [];
    const watch = new k8s.Watch(kc);
    const controller = await watch.watch(
      `/api/v1/namespaces/${namespace}/configmaps`,
      { fieldSelector: 'metadata.name=watched' },
      (type, obj: k8s.V1ConfigMap) => events.push({ type, value: obj.data?.value }),
      () => {},
    );
    try {
      await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: 'watched' }, data: { value: 'one' } },
      });
      await core.patchNamespacedConfigMap(
        { name: 'watched', namespace, body: { data: { value: 'two' } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await waitUntil('ADDED and MODIFIED watch events', async () => events.length >= 2, {
        timeoutMs: 10_000,
      });
    } finally {
      controller.abort();
    }
    expect(events).toEqual([
      { type: 'ADDED', value: 'one' },
      { type: 'MODIFIED', value: 'two' },
    ]);
  });

  it('runs the deployment controller: Deployment → ReplicaSet → Pods (Pending, there is no kubelet)', async () => {
    const labels = { app: 'smoke' };
    const deployment = await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'smoke' },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: 'main', image: 'example.invalid/smoke:1' }] },
          },
        },
      },
    });
    let replicaSets: k8s.V1ReplicaSet[] = [];
    await waitUntil(
      'a ReplicaSet owned by the Deployment',
      async () => {
        replicaSets = (await apps.listNamespacedReplicaSet({ namespace, labelSelector: 'app=smoke' })).items;
        return replicaSets.length === 1;
      },
      { timeoutMs: 30_000 },
    );
    expect(replicaSets[0]?.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'Deployment',
      name: 'smoke',
      uid: deployment.metadata?.uid,
      controller: true,
    });
    let pods: k8s.V1Pod[] = [];
    await waitUntil(
      'two Pods created by the ReplicaSet',
      async () => {
        pods = (await core.listNamespacedPod({ namespace, labelSelector: 'app=smoke' })).items;
        return pods.length === 2;
      },
      { timeoutMs: 30_000 },
    );
    for (const pod of pods) {
      expect(pod.metadata?.ownerReferences?.[0]?.kind).toBe('ReplicaSet');
      expect(pod.status?.phase).toBe('Pending');
      expect(pod.spec?.serviceAccountName).toBe('default');
    }
  });

  it('garbage-collects objects whose owner is deleted', async () => {
    const owner = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'owner' } } });
    await core.createNamespacedConfigMap({
      namespace,
      body: {
        metadata: {
          name: 'owned',
          ownerReferences: [
            { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata?.uid ?? '' },
          ],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace });
    await waitUntil(
      'the garbage collector to delete the owned ConfigMap',
      async () =>
        (await kubeGet(api.server, `/api/v1/namespaces/${namespace}/configmaps/owned`, api)).status === 404,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  });

  it('enforces RBAC: a service-account token signed by the API server is authenticated but not authorized', async () => {
    const tokenRequest = await core.createNamespacedServiceAccountToken({
      name: 'default',
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const saToken = tokenRequest.status?.token ?? '';
    expect(saToken).not.toBe('');
    const auth = { token: saToken, caPem: api.caPem };
    expect((await kubeGet(api.server, '/apis', auth)).status).toBe(200);
    const denied = await kubeGet(api.server, `/api/v1/namespaces/${namespace}/secrets`, auth);
    expect(denied.status).toBe(403);
    expect(denied.body).toContain(`system:serviceaccount:${namespace}:default`);
  });

  it('keeps its data when the API server restarts on the same port', async () => {
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'survivor' }, data: { a: '1' } },
    });
    const server = api.server;
    await api.restartApiServer();
    expect(api.server).toBe(server);
    const survivor = await core.readNamespacedConfigMap({ name: 'survivor', namespace });
    expect(survivor.data).toEqual({ a: '1' });
  }, 120_000);
});
