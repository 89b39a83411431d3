// A kube-apiserver made ready for the operator's tests: a client, the Pipeline CRD installed and
// served, and Secrets made from plain text (as `kubectl create secret generic --from-file` would).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { KubeClient, paths } from '../operator/src/kube/client.ts';
import type { KubeApi } from './kube.ts';
import { repoRoot } from './paths.ts';
import { waitUntil } from './service.ts';

const CRD = join(repoRoot, 'charts', 'kappaflow', 'crds', 'pipelines.kappaflow.io.yaml');

/** A client of `api` once the chart's Pipeline CRD is installed and listable in `namespace`. */
export async function kubeWithPipelineCrd(api: KubeApi, namespace: string): Promise<KubeClient> {
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig);
  const kube = new KubeClient(kc);
  await kube.create(
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
    parse(readFileSync(CRD, 'utf8')),
  );
  await waitUntil('the Pipeline CRD is served', async () => {
    await kube.list(paths.pipelines(namespace));
    return true;
  });
  return kube;
}

/** A Secret whose keys hold these texts. */
export function createSecret(
  kube: KubeClient,
  namespace: string,
  name: string,
  texts: Record<string, string>,
) {
  return kube.create(`/api/v1/namespaces/${namespace}/secrets`, {
    metadata: { name },
    data: Object.fromEntries(Object.entries(texts).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  });
}

/**
 * A ServiceAccount `name` in `namespace` bound (cluster-wide) to `rules`, and a kubeconfig file in
 * `dir` with a token for it: runs the operator with exactly the permissions it is given.
 */
export async function serviceAccountKubeconfig(options: {
  api: KubeApi;
  kube: KubeClient;
  namespace: string;
  name: string;
  rules: unknown[];
  dir: string;
}): Promise<string> {
  const { api, kube, namespace, name } = options;
  await kube.create(`/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name } });
  await kube.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    metadata: { name },
    rules: options.rules,
  });
  await kube.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace }],
  });
  const tr = await kube.request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      },
    },
  );
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: api.server, caData: Buffer.from(api.caPem).toString('base64') }],
    users: [{ name, token: tr.status.token }],
    contexts: [{ name: 'test', cluster: 'test', user: name, namespace }],
    currentContext: 'test',
  });
  const file = join(options.dir, `${name}.kubeconfig`);
  writeFileSync(file, kc.exportConfig(), { mode: 0o600 });
  return file;
}
