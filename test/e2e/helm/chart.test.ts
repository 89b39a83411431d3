// The chart on a real API server: rendered manifests accepted by kubeconform (strict) and server-side
// dry-run, installed with helm, and the operator's ServiceAccount allowed exactly what the operator
// does (SubjectAccessReview and real requests under impersonation), then the operator itself run
// with that ServiceAccount's own token against a Pipeline.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { type KubeApi, startKubeApi } from '../../../harness/kube.ts';
import { ensureDir, repoRoot, runDir } from '../../../harness/paths.ts';
import { freePort } from '../../../harness/ports.ts';
import { helm, kubeconform } from '../../../harness/tools.ts';

const chart = join(repoRoot, 'charts', 'kappaflow');
const allOn = join(chart, 'ci', 'all-on-values.yaml');

type Obj = any;

interface Res {
  status: number;
  body: Obj;
  text: string;
}

let api: KubeApi;

/** One request to the API server as the admin, or as `as` (impersonation) or with another bearer `token`. */
function kube(
  method: string,
  path: string,
  options: { body?: unknown; as?: string; token?: string; contentType?: string } = {},
): Promise<Res> {
  const url = new URL(path, api.server);
  const payload =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: api.caPem,
        headers: {
          Authorization: `Bearer ${options.token ?? api.token}`,
          Accept: 'application/json',
          ...(options.as ? { 'Impersonate-User': options.as } : {}),
          ...(payload !== undefined
            ? {
                'Content-Type': options.contentType ?? 'application/json',
                'Content-Length': Buffer.byteLength(payload),
              }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let body: Obj = text;
          try {
            body = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, body, text });
        });
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** REST collection path of a manifest. */
function collection(m: Obj): string {
  const plural: Record<string, string> = {
    ServiceAccount: 'serviceaccounts',
    ClusterRole: 'clusterroles',
    ClusterRoleBinding: 'clusterrolebindings',
    Role: 'roles',
    RoleBinding: 'rolebindings',
    Service: 'services',
    Deployment: 'deployments',
    PodDisruptionBudget: 'poddisruptionbudgets',
    NetworkPolicy: 'networkpolicies',
    ServiceMonitor: 'servicemonitors',
    Pipeline: 'pipelines',
    ConfigMap: 'configmaps',
  };
  const resource = plural[m.kind];
  if (!resource) throw new Error(`no REST path known for kind ${m.kind}`);
  const base = m.apiVersion === 'v1' ? '/api/v1' : `/apis/${m.apiVersion}`;
  const clusterScoped = m.kind === 'ClusterRole' || m.kind === 'ClusterRoleBinding';
  return clusterScoped ? `${base}/${resource}` : `${base}/namespaces/${m.metadata.namespace}/${resource}`;
}

async function render(
  release: string,
  namespace: string,
  ...args: string[]
): Promise<{ yaml: string; objects: Obj[] }> {
  const yaml = await helm(['template', release, chart, '--namespace', namespace, ...args]);
  return {
    yaml,
    objects: parseAllDocuments(yaml)
      .map((d) => d.toJSON())
      .filter(Boolean),
  };
}

/**
 * A ServiceMonitor CRD for the test API server (the Prometheus Operator is not installed here): the
 * fields the chart uses, typed, so strict validation still catches a typo in them.
 */
const serviceMonitorCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'servicemonitors.monitoring.coreos.com' },
  spec: {
    group: 'monitoring.coreos.com',
    scope: 'Namespaced',
    names: {
      plural: 'servicemonitors',
      singular: 'servicemonitor',
      kind: 'ServiceMonitor',
      listKind: 'ServiceMonitorList',
    },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['selector'],
                properties: {
                  namespaceSelector: {
                    type: 'object',
                    properties: {
                      any: { type: 'boolean' },
                      matchNames: { type: 'array', items: { type: 'string' } },
                    },
                  },
                  selector: {
                    type: 'object',
                    properties: {
                      matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
                      matchExpressions: {
                        type: 'array',
                        items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                      },
                    },
                  },
                  endpoints: {
                    type: 'array',
                    items: {
                      type: 'object',
                      properties: {
                        port: { type: 'string' },
                        path: { type: 'string' },
                        interval: {
                          type: 'string',
                          pattern:
                            '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$',
                        },
                        scrapeTimeout: {
                          type: 'string',
                          pattern:
                            '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$',
                        },
                        scheme: { type: 'string', enum: ['http', 'https'] },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    ],
  },
};

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** examples/page-views.yaml, the quickstart's first Pipeline, under another name. */
const pipelineManifest = (name: string, namespace: string): Obj => ({
  ...parse(readFileSync(join(repoRoot, 'examples', 'page-views.yaml'), 'utf8')),
  metadata: { name, namespace },
});

describe('helm chart on a real API server', () => {
  const release = 'kf';
  const ns = 'kappaflow-system';
  const sa = `system:serviceaccount:${ns}:kf-kappaflow-operator`;
  const appNs = 'apps';
  const allOnRelease = 'kfall';
  const allOnNs = 'kappaflow-all';
  const allOnSa = `system:serviceaccount:${allOnNs}:kappaflow-operator`;

  beforeAll(async () => {
    api = await startKubeApi();
    for (const name of [ns, appNs, allOnNs, 'team-a', 'team-b', 'dry-run']) {
      const res = await kube('POST', '/api/v1/namespaces', { body: { metadata: { name } } });
      expect(res.status, res.text).toBe(201);
    }
    const crd = await kube('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      body: serviceMonitorCrd,
    });
    expect(crd.status, crd.text).toBe(201);
  }, 600_000);

  afterAll(async () => {
    await api?.stop();
  }, 60_000);

  it('installs with helm (the CRD from crds/, the operator, RBAC) and with every option on', async () => {
    await helm(['install', release, chart, '--namespace', ns, '--wait=false'], api);
    const crd = await waitFor('the Pipeline CRD to be established', async () => {
      const res = await kube(
        'GET',
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/pipelines.kappaflow.io',
      );
      return res.body?.status?.conditions?.some((c: Obj) => c.type === 'Established' && c.status === 'True')
        ? res.body
        : undefined;
    });
    expect(crd.spec.names.kind).toBe('Pipeline');
    await helm(['install', allOnRelease, chart, '--namespace', allOnNs, '-f', allOn], api);
    const deployment = await kube('GET', `/apis/apps/v1/namespaces/${ns}/deployments/kf-kappaflow-operator`);
    expect(deployment.status).toBe(200);
    const pipeline = await kube(
      'GET',
      `/apis/kappaflow.io/v1alpha1/namespaces/${allOnNs}/pipelines/page-views`,
    );
    expect(pipeline.status, 'the sample Pipeline').toBe(200);
    const notes = await helm(['status', release, '--namespace', ns, '--show-resources=false'], api);
    expect(notes).toContain('kubectl apply');
    expect(notes).toContain('port-forward');
  });

  it('renders manifests that kubeconform (strict) accepts with schemas from this API server', async () => {
    const waitFor = [
      { apiVersion: 'kappaflow.io/v1alpha1', kind: 'Pipeline' },
      { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor' },
    ];
    for (const args of [[], ['-f', allOn]]) {
      const { yaml, objects } = await render('check', 'check', ...args);
      const result = await kubeconform(yaml, api, { strict: true, waitFor });
      expect(result.ok, result.output).toBe(true);
      expect(result.resources.filter((r) => r.status === 'statusValid')).toHaveLength(objects.length);
    }
  });

  it('renders manifests that the API server accepts in a server-side dry-run with strict field validation', async () => {
    for (const args of [[], ['-f', allOn]]) {
      const { objects } = await render('dry', 'dry-run', ...args);
      expect(objects.length).toBeGreaterThan(5);
      for (const m of objects) {
        const res = await kube('POST', `${collection(m)}?dryRun=All&fieldValidation=Strict`, { body: m });
        expect(res.status, `${m.kind}/${m.metadata.name}: ${res.text}`).toBe(201);
      }
    }
  });

  /** SubjectAccessReview for `user`. */
  async function can(
    user: string,
    verb: string,
    resource: string,
    opts: { group?: string; namespace?: string; subresource?: string; name?: string } = {},
  ) {
    const res = await kube('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user,
          groups: [
            'system:serviceaccounts',
            `system:serviceaccounts:${user.split(':')[2]}`,
            'system:authenticated',
          ],
          resourceAttributes: {
            verb,
            resource,
            group: opts.group ?? '',
            ...(opts.namespace ? { namespace: opts.namespace } : {}),
            ...(opts.subresource ? { subresource: opts.subresource } : {}),
            ...(opts.name ? { name: opts.name } : {}),
          },
        },
      },
    });
    expect(res.status, res.text).toBe(201);
    return res.body.status.allowed === true;
  }

  const needed: [string, string, { group?: string; subresource?: string }][] = [
    ...['get', 'list', 'watch', 'update', 'patch'].map(
      (v) => [v, 'pipelines', { group: 'kappaflow.io' }] as [string, string, { group: string }],
    ),
    ...['get', 'update', 'patch'].map(
      (v) =>
        [v, 'pipelines', { group: 'kappaflow.io', subresource: 'status' }] as [
          string,
          string,
          { group: string; subresource: string },
        ],
    ),
    ['update', 'pipelines', { group: 'kappaflow.io', subresource: 'finalizers' }],
    ...['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'].flatMap((v) => [
      [v, 'configmaps', {}] as [string, string, object],
      [v, 'services', {}] as [string, string, object],
      [v, 'deployments', { group: 'apps' }] as [string, string, object],
    ]),
    ['create', 'events', {}],
    ['patch', 'events', {}],
    ['list', 'pods', {}],
  ];
  const unneeded: [string, string, { group?: string; subresource?: string }][] = [
    ['get', 'secrets', {}],
    ['list', 'secrets', {}],
    ['watch', 'secrets', {}],
    ['create', 'pipelines', { group: 'kappaflow.io' }],
    ['delete', 'pipelines', { group: 'kappaflow.io' }],
    ['deletecollection', 'deployments', { group: 'apps' }],
    ['update', 'deployments', { group: 'apps', subresource: 'scale' }],
    ['create', 'pods', {}],
    ['get', 'pods', {}],
    ['watch', 'pods', {}],
    ['delete', 'pods', {}],
    ['create', 'pods', { subresource: 'exec' }],
    ['create', 'serviceaccounts', { subresource: 'token' }],
    ['create', 'roles', { group: 'rbac.authorization.k8s.io' }],
    ['bind', 'clusterroles', { group: 'rbac.authorization.k8s.io' }],
    ['escalate', 'roles', { group: 'rbac.authorization.k8s.io' }],
    ['create', 'rolebindings', { group: 'rbac.authorization.k8s.io' }],
    ['update', 'customresourcedefinitions', { group: 'apiextensions.k8s.io' }],
    ['impersonate', 'users', {}],
    ['create', 'events', { group: 'events.k8s.io' }],
  ];

  it('SubjectAccessReview: the ServiceAccount may do each thing the operator does, and nothing else', async () => {
    for (const [verb, resource, opts] of needed) {
      expect(await can(sa, verb, resource, { ...opts, namespace: appNs }), `${verb} ${resource}`).toBe(true);
    }
    for (const [verb, resource, opts] of unneeded) {
      expect(await can(sa, verb, resource, { ...opts, namespace: appNs }), `${verb} ${resource}`).toBe(false);
    }
    // cluster-scoped objects
    expect(await can(sa, 'list', 'namespaces')).toBe(false);
    expect(await can(sa, 'list', 'nodes')).toBe(false);
    // The Lease: create in the release namespace, get/update only its own, nothing elsewhere.
    const lease = { group: 'coordination.k8s.io' };
    expect(await can(sa, 'create', 'leases', { ...lease, namespace: ns })).toBe(true);
    expect(await can(sa, 'get', 'leases', { ...lease, namespace: ns, name: 'kf-kappaflow-operator' })).toBe(
      true,
    );
    expect(
      await can(sa, 'update', 'leases', { ...lease, namespace: ns, name: 'kf-kappaflow-operator' }),
    ).toBe(true);
    expect(await can(sa, 'update', 'leases', { ...lease, namespace: ns, name: 'kube-scheduler' })).toBe(
      false,
    );
    expect(
      await can(sa, 'delete', 'leases', { ...lease, namespace: ns, name: 'kf-kappaflow-operator' }),
    ).toBe(false);
    expect(await can(sa, 'create', 'leases', { ...lease, namespace: 'kube-system' })).toBe(false);
  });

  it('SubjectAccessReview: with watchNamespaces, only those namespaces (all-on release)', async () => {
    for (const [verb, resource, opts] of needed) {
      expect(
        await can(allOnSa, verb, resource, { ...opts, namespace: 'team-a' }),
        `${verb} ${resource} in team-a`,
      ).toBe(true);
      expect(
        await can(allOnSa, verb, resource, { ...opts, namespace: appNs }),
        `${verb} ${resource} in apps`,
      ).toBe(false);
    }
    // cluster-wide list/watch of Pipelines is not granted: the operator watches each namespace
    expect(await can(allOnSa, 'list', 'pipelines', { group: 'kappaflow.io' })).toBe(false);
    // rbac.readPipelineSecrets is on in all-on: get by name only, never list/watch
    expect(await can(allOnSa, 'get', 'secrets', { namespace: 'team-a' })).toBe(true);
    expect(await can(allOnSa, 'list', 'secrets', { namespace: 'team-a' })).toBe(false);
    expect(await can(allOnSa, 'watch', 'secrets', { namespace: 'team-a' })).toBe(false);
    expect(await can(allOnSa, 'get', 'secrets', { namespace: appNs })).toBe(false);
    expect(
      await can(allOnSa, 'get', 'leases', {
        group: 'coordination.k8s.io',
        namespace: allOnNs,
        name: 'kappaflow-leader',
      }),
    ).toBe(true);
  });

  it("real requests under impersonation: the operator's operations succeed, Secrets and Pods are refused", async () => {
    const as = sa;
    const p = pipelineManifest('pv', appNs);
    const created = await kube('POST', `/apis/kappaflow.io/v1alpha1/namespaces/${appNs}/pipelines`, {
      body: p,
    });
    expect(created.status, created.text).toBe(201);
    const pipePath = `/apis/kappaflow.io/v1alpha1/namespaces/${appNs}/pipelines/pv`;

    // Pipelines: list (cluster-wide and per namespace), watch, get, finalizer, status
    expect((await kube('GET', '/apis/kappaflow.io/v1alpha1/pipelines', { as })).status).toBe(200);
    expect(
      (
        await kube(
          'GET',
          `/apis/kappaflow.io/v1alpha1/namespaces/${appNs}/pipelines?watch=1&timeoutSeconds=1`,
          { as },
        )
      ).status,
    ).toBe(200);
    expect((await kube('GET', pipePath, { as })).status).toBe(200);
    const fin = await kube('PATCH', pipePath, {
      as,
      contentType: 'application/merge-patch+json',
      body: { metadata: { finalizers: ['kappaflow.io/cleanup'] } },
    });
    expect(fin.status, fin.text).toBe(200);
    const status = await kube('PATCH', `${pipePath}/status`, {
      as,
      contentType: 'application/merge-patch+json',
      body: { status: { observedGeneration: 1, replicas: 1 } },
    });
    expect(status.status, status.text).toBe(200);
    expect(status.body.status.replicas).toBe(1);
    expect(
      (
        await kube('POST', `/apis/kappaflow.io/v1alpha1/namespaces/${appNs}/pipelines`, {
          as,
          body: pipelineManifest('other', appNs),
        })
      ).status,
    ).toBe(403);
    expect((await kube('DELETE', pipePath, { as })).status).toBe(403);

    // ConfigMap, Deployment, Service: server-side apply (create and update), list, watch, delete
    const owner = {
      apiVersion: 'kappaflow.io/v1alpha1',
      kind: 'Pipeline',
      name: 'pv',
      uid: created.body.metadata.uid,
      controller: true,
      blockOwnerDeletion: true,
    };
    const objects: Obj[] = [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'kappaflow-pv', namespace: appNs, ownerReferences: [owner] },
        data: { 'pipeline.yaml': 'x' },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'kappaflow-pv', namespace: appNs, ownerReferences: [owner] },
        spec: { selector: { app: 'pv' }, ports: [{ name: 'http', port: 8080, targetPort: 'http' }] },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'kappaflow-pv', namespace: appNs, ownerReferences: [owner] },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'pv' } },
          template: {
            metadata: { labels: { app: 'pv' } },
            spec: {
              containers: [
                { name: 'processor', image: 'kappaflow:test', args: ['run', '/etc/kappaflow/pipeline.yaml'] },
              ],
            },
          },
        },
      },
    ];
    for (const o of objects) {
      const path = `${collection(o)}/${o.metadata.name}?fieldManager=kappaflow-operator&force=true`;
      const applied = await kube('PATCH', path, { as, contentType: 'application/apply-patch+yaml', body: o });
      expect(applied.status, `${o.kind}: ${applied.text}`).toBe(201);
      const again = await kube('PATCH', path, {
        as,
        contentType: 'application/apply-patch+yaml',
        body: { ...o, metadata: { ...o.metadata, labels: { v: '2' } } },
      });
      expect(again.status, `${o.kind}: ${again.text}`).toBe(200);
      expect((await kube('GET', collection(o), { as })).status).toBe(200);
      expect((await kube('GET', `${collection(o)}?watch=1&timeoutSeconds=1`, { as })).status).toBe(200);
      const latest = await kube('GET', `${collection(o)}/${o.metadata.name}`, { as });
      expect(latest.status).toBe(200);
      const replaced = await kube('PUT', `${collection(o)}/${o.metadata.name}`, { as, body: latest.body });
      expect(replaced.status, `${o.kind}: ${replaced.text}`).toBe(200);
    }
    expect((await kube('GET', '/apis/apps/v1/deployments', { as })).status).toBe(200);
    const del = await kube('DELETE', `/apis/apps/v1/namespaces/${appNs}/deployments/kappaflow-pv`, {
      as,
      body: { propagationPolicy: 'Foreground' },
    });
    expect(del.status, del.text).toBe(200);

    // Events on the Pipeline
    const event = await kube('POST', `/api/v1/namespaces/${appNs}/events`, {
      as,
      body: {
        metadata: { name: 'pv.1', namespace: appNs },
        involvedObject: {
          apiVersion: 'kappaflow.io/v1alpha1',
          kind: 'Pipeline',
          name: 'pv',
          namespace: appNs,
          uid: owner.uid,
        },
        reason: 'Scaled',
        message: 'replicas 1',
        type: 'Normal',
        count: 1,
      },
    });
    expect(event.status, event.text).toBe(201);
    expect(
      (
        await kube('PATCH', `/api/v1/namespaces/${appNs}/events/pv.1`, {
          as,
          contentType: 'application/merge-patch+json',
          body: { count: 2 },
        })
      ).status,
    ).toBe(200);

    // Pods: list only
    expect(
      (await kube('GET', `/api/v1/namespaces/${appNs}/pods?labelSelector=app%3Dpv`, { as })).status,
    ).toBe(200);
    expect((await kube('GET', `/api/v1/namespaces/${appNs}/pods/anything`, { as })).status).toBe(403);

    // Leader election Lease in the release namespace
    const leases = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;
    const lease = await kube('POST', leases, {
      as,
      body: {
        metadata: { name: 'kf-kappaflow-operator' },
        spec: { holderIdentity: 'a', leaseDurationSeconds: 15 },
      },
    });
    expect(lease.status, lease.text).toBe(201);
    const got = await kube('GET', `${leases}/kf-kappaflow-operator`, { as });
    expect(got.status).toBe(200);
    const renewed = await kube('PUT', `${leases}/kf-kappaflow-operator`, {
      as,
      body: { ...got.body, spec: { ...got.body.spec, holderIdentity: 'b' } },
    });
    expect(renewed.status, renewed.text).toBe(200);
    expect(
      (
        await kube(
          'GET',
          `/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager`,
          { as },
        )
      ).status,
    ).toBe(403);

    // Secrets: refused, even in the operator's own namespace
    expect(
      (
        await kube('POST', `/api/v1/namespaces/${appNs}/secrets`, {
          body: { metadata: { name: 'redis-auth' }, stringData: { password: 'x' } },
        })
      ).status,
    ).toBe(201);
    expect((await kube('GET', `/api/v1/namespaces/${appNs}/secrets/redis-auth`, { as })).status).toBe(403);
    expect((await kube('GET', `/api/v1/namespaces/${appNs}/secrets`, { as })).status).toBe(403);
    expect((await kube('GET', `/api/v1/namespaces/${ns}/secrets`, { as })).status).toBe(403);
    expect((await kube('GET', '/api/v1/secrets', { as })).status).toBe(403);
    expect((await kube('GET', '/api/v1/namespaces', { as })).status).toBe(403);
  });

  // The operator (operator/src, `kappaflow operator`) lands separately: until the command exists this
  // test is skipped, and it runs as soon as it does.
  const operatorReady =
    existsSync(join(repoRoot, 'processor', 'src', 'cli', 'operator.ts')) &&
    readFileSync(join(repoRoot, 'processor', 'src', 'cli', 'commands.ts'), 'utf8').includes(
      'operatorCommand',
    );

  it.skipIf(!operatorReady)(
    "the operator, run with the chart's env and its ServiceAccount's own token, reconciles a Pipeline",
    async () => {
      // A token of the chart's ServiceAccount (TokenRequest): the operator is that identity, nothing more.
      const tokenRes = await kube(
        'POST',
        `/api/v1/namespaces/${ns}/serviceaccounts/kf-kappaflow-operator/token`,
        {
          body: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: { expirationSeconds: 3600 },
          },
        },
      );
      expect(tokenRes.status, tokenRes.text).toBe(201);
      const token: string = tokenRes.body.status.token;
      const dir = ensureDir(join(runDir, `helm-operator-${randomBytes(3).toString('hex')}`));
      const kubeconfig = join(dir, 'kubeconfig.yaml');
      writeFileSync(
        kubeconfig,
        `apiVersion: v1
kind: Config
clusters: [{ name: test, cluster: { server: "${api.server}", certificate-authority-data: "${Buffer.from(api.caPem).toString('base64')}" } }]
users: [{ name: operator, user: { token: "${token}" } }]
contexts: [{ name: test, context: { cluster: test, user: operator } }]
current-context: test
`,
        { mode: 0o600 },
      );

      // The env of the chart's operator container, as rendered (leader election on, to use the Lease;
      // chart-level Kafka, Redis, query-token and pull Secrets, which the processor pods must get).
      const values = [
        'operator.leaderElection.enabled=true',
        'kafka.config.existingSecret=kafka-client',
        'redis.auth.existingSecret=redis-auth',
        'query.auth.enabled=true',
        'query.auth.existingSecret=query-tokens',
        'imagePullSecrets[0].name=regcred',
      ];
      const { objects } = await render(release, ns, ...values.flatMap((v) => ['--set', v]));
      const container = objects.find((o: Obj) => o.kind === 'Deployment').spec.template.spec.containers[0];
      expect(container.args).toEqual(['operator']);
      const port = await freePort();
      const env: Record<string, string> = {};
      for (const e of container.env as Obj[]) {
        if (e.value !== undefined) env[e.name] = e.value;
        else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name')
          env[e.name] = 'kf-kappaflow-operator-test';
        else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = ns;
      }
      expect(env.LEADER_ELECT).toBe('true');
      const brokers = inject('kafkaBrokers').join(',');
      // The operator reads its own Kafka settings file (the Secret's mount in the pod, which does not
      // exist here): a plaintext one for the test's Kafka, at a path of this machine.
      const chartKafkaConfigFile = env.KAFKA_CONFIG_FILE;
      expect(chartKafkaConfigFile).toBe('/etc/kappaflow/kafka/kafka.yaml');
      const kafkaConfigFile = join(dir, 'kafka.yaml');
      writeFileSync(kafkaConfigFile, '# plaintext: the test Kafka has no TLS or SASL\n{}\n');
      Object.assign(env, {
        KAFKA_BROKERS: brokers, // the test's Kafka and Redis instead of the chart's defaults
        KAFKA_CONFIG_FILE: kafkaConfigFile,
        REDIS_URL: inject('redisUrl'),
        PORT: String(port),
        HOST: '127.0.0.1',
        KUBECONFIG: kubeconfig,
        TMPDIR: dir,
      });
      const log: string[] = [];
      const operator: ChildProcess = spawn(
        process.execPath,
        [join(repoRoot, 'bin', 'kappaflow.js'), ...container.args],
        {
          cwd: repoRoot,
          env: { PATH: process.env.PATH ?? '', ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      operator.stdout?.on('data', (d) => log.push(String(d)));
      operator.stderr?.on('data', (d) => log.push(String(d)));
      try {
        const name = 'op';
        const created = await kube('POST', `/apis/kappaflow.io/v1alpha1/namespaces/${appNs}/pipelines`, {
          body: pipelineManifest(name, appNs),
        });
        expect(created.status, created.text).toBe(201);
        const path = `/apis/kappaflow.io/v1alpha1/namespaces/${appNs}/pipelines/${name}`;
        const reconciled = await waitFor(
          'the operator to reconcile the Pipeline',
          async () => {
            if (operator.exitCode !== null)
              throw new Error(`the operator exited ${operator.exitCode}:\n${log.join('')}`);
            const p = (await kube('GET', path)).body;
            const dep = await kube('GET', `/apis/apps/v1/namespaces/${appNs}/deployments/kappaflow-${name}`);
            return p?.status?.observedGeneration && dep.status === 200 ? { p, dep: dep.body } : undefined;
          },
          90_000,
        );
        expect(reconciled.p.metadata.finalizers).toContain('kappaflow.io/cleanup');
        expect(reconciled.dep.spec.template.spec.containers[0].image).toBe(env.PROCESSOR_IMAGE);
        // The chart's Secrets reach the processor pods by name: the Kafka settings at the operator's
        // own mount path and KAFKA_CONFIG_FILE, the Redis password, the query tokens, the pull secret.
        const pod = reconciled.dep.spec.template.spec;
        const processor = pod.containers[0];
        const operatorMount = container.volumeMounts.find((m: Obj) => m.name === 'kafka-config');
        expect(pod.volumes).toEqual(
          expect.arrayContaining([
            expect.objectContaining({
              name: 'kafka-config',
              secret: expect.objectContaining({ secretName: 'kafka-client' }),
            }),
            expect.objectContaining({
              name: 'query-auth',
              secret: expect.objectContaining({ secretName: 'query-tokens' }),
            }),
          ]),
        );
        expect(processor.volumeMounts).toEqual(
          expect.arrayContaining([
            { name: 'kafka-config', mountPath: operatorMount.mountPath, readOnly: true },
            { name: 'query-auth', mountPath: '/etc/kappaflow/query-auth', readOnly: true },
          ]),
        );
        const processorEnv = (name: string) => processor.env.filter((e: Obj) => e.name === name);
        expect(processorEnv('KAFKA_CONFIG_FILE')).toEqual([
          { name: 'KAFKA_CONFIG_FILE', value: chartKafkaConfigFile },
        ]);
        expect(processorEnv('REDIS_PASSWORD')).toEqual([
          {
            name: 'REDIS_PASSWORD',
            valueFrom: { secretKeyRef: { name: 'redis-auth', key: 'redis-password' } },
          },
        ]);
        expect(processorEnv('KAPPAFLOW_AUTH_TOKEN_FILE')).toEqual([
          { name: 'KAPPAFLOW_AUTH_TOKEN_FILE', value: '/etc/kappaflow/query-auth/tokens' },
        ]);
        expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
        expect((await kube('GET', `/api/v1/namespaces/${appNs}/configmaps/kappaflow-${name}`)).status).toBe(
          200,
        );
        expect((await kube('GET', `/api/v1/namespaces/${appNs}/services/kappaflow-${name}`)).status).toBe(
          200,
        );
        const lease = await kube(
          'GET',
          `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${env.LEASE_NAME}`,
        );
        expect(lease.status, lease.text).toBe(200);
        expect(lease.body.spec.holderIdentity).toBe('kf-kappaflow-operator-test');
        const health = await fetch(`http://127.0.0.1:${port}/healthz`);
        expect(health.status).toBe(200);

        // Deleting the Pipeline: the operator runs its finalizer and lets it go.
        expect((await kube('DELETE', path)).status).toBe(200);
        await waitFor(
          'the finalizer to release the Pipeline',
          async () => ((await kube('GET', path)).status === 404 ? true : undefined),
          60_000,
        );
        // Never refused by RBAC along the way.
        expect(log.join('')).not.toMatch(/forbidden|\b403\b/i);
      } catch (error) {
        throw new Error(`${(error as Error).message}\n--- operator log ---\n${log.join('').slice(-6000)}`);
      } finally {
        operator.kill('SIGTERM');
        const exited = new Promise((r) => (operator.exitCode !== null ? r(null) : operator.once('exit', r)));
        const timer = setTimeout(() => operator.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
    },
  );
});
