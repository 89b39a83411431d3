// A kube-apiserver made ready for the operator's tests: a client, the Pipeline CRD installed and
// served, and Secrets made from plain text (as `kubectl create secret generic --from-file` would).
import { readFileSync } from 'node:fs';
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
