// The chart without a cluster: helm lint --strict, what the templates render for the default and
// all-on values, and values.schema.json refusing wrong values with a clear message.
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ensureDir, repoRoot, runDir } from '../../../harness/paths.ts';
import { run } from '../../../harness/service.ts';
import { helm } from '../../../harness/tools.ts';
import { checkValuesDocs } from './values-docs.ts';

const chart = join(repoRoot, 'charts', 'kappaflow');
const allOn = join(chart, 'ci', 'all-on-values.yaml');

type Manifest = any;

async function render(...args: string[]): Promise<Manifest[]> {
  const out = await helm(['template', 'kf', chart, '--namespace', 'kappaflow-system', ...args]);
  return parseAllDocuments(out)
    .map((d) => d.toJSON())
    .filter(Boolean);
}

/** helm template's error output for values that must be refused. */
async function refused(...args: string[]): Promise<string> {
  try {
    await helm(['template', 'kf', chart, ...args]);
  } catch (e) {
    return String((e as Error).message);
  }
  throw new Error(`helm template ${args.join(' ')} succeeded but should have failed`);
}

const files: string[] = [];
function valuesFile(yaml: string): string {
  const file = join(ensureDir(runDir), `values-${randomBytes(3).toString('hex')}.yaml`);
  writeFileSync(file, yaml);
  files.push(file);
  return file;
}
afterAll(() => {
  for (const f of files) rmSync(f, { force: true });
});

const byKind = (ms: Manifest[], kind: string) => ms.filter((m) => m.kind === kind);

describe('helm chart charts/kappaflow', () => {
  it('passes helm lint --strict with the default and the all-on values', async () => {
    await helm(['lint', '--strict', chart]);
    await helm(['lint', '--strict', chart, '-f', allOn]);
  });

  it('ships the CRD generated from the schema, unchanged', async () => {
    const out = await run(process.execPath, ['--import', 'tsx', 'scripts/gen-crd.ts', '--check'], {
      cwd: repoRoot,
    });
    expect(out).toContain('up to date');
  });

  it('renders the operator, its RBAC and metrics Service with the default values', async () => {
    const ms = await render();
    expect(ms.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      'ClusterRole/kf-kappaflow-operator',
      'ClusterRoleBinding/kf-kappaflow-operator',
      'Deployment/kf-kappaflow-operator',
      'Role/kf-kappaflow-operator-leader-election',
      'RoleBinding/kf-kappaflow-operator-leader-election',
      'Service/kf-kappaflow-operator-metrics',
      'ServiceAccount/kf-kappaflow-operator',
    ]);
    const deployment = byKind(ms, 'Deployment')[0];
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    expect(container.args).toEqual(['operator']);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    const env = Object.fromEntries(container.env.map((e: Manifest) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      KAFKA_BROKERS: 'kafka:9092',
      REDIS_URL: 'redis://redis:6379',
      LEADER_ELECT: 'false',
      LEASE_NAME: 'kf-kappaflow-operator',
      WATCH_NAMESPACES: '',
      PORT: '8081',
      POD_NAMESPACE: { fieldRef: { fieldPath: 'metadata.namespace' } },
      PROCESSOR_IMAGE: 'ghcr.io/kappaflow/kappaflow:0.1.0',
    });
    expect(JSON.parse(env.PROCESSOR_RESOURCES)).toEqual({
      requests: { cpu: '250m', memory: '256Mi' },
      limits: { memory: '512Mi' },
    });
    // Without leader election the old operator stops before the new one starts.
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    expect(container.ports[0].containerPort).toBe(8081);
    expect(container.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
  });

  it('grants no access to Secrets (unless opted in), and never creates or deletes Pipelines', async () => {
    for (const [values, ms] of [
      ['default', await render()],
      ['all-on', await render('-f', allOn)],
    ] as const) {
      const rules = [...byKind(ms, 'ClusterRole'), ...byKind(ms, 'Role')].flatMap((r) => r.rules);
      expect(rules.length).toBeGreaterThan(0);
      for (const rule of rules) {
        if (rule.resources.includes('secrets')) {
          // rbac.readPipelineSecrets (on in all-on): get by name, never list or watch.
          expect(values).toBe('all-on');
          expect(rule.verbs).toEqual(['get']);
        }
        if (rule.resources.includes('pods')) expect(rule.verbs).toEqual(['list']);
        expect(rule.resources).not.toContain('*');
        expect(rule.verbs).not.toContain('*');
        expect(rule.apiGroups).not.toContain('*');
        expect(rule.resources).not.toContain('customresourcedefinitions');
        if (rule.resources.includes('pipelines')) {
          expect(rule.verbs).not.toContain('create');
          expect(rule.verbs).not.toContain('delete');
        }
      }
    }
  });

  it('turns every option on with ci/all-on-values.yaml', async () => {
    const ms = await render('-f', allOn);
    const kinds = new Set(ms.map((m) => m.kind));
    for (const kind of [
      'ServiceMonitor',
      'PodDisruptionBudget',
      'NetworkPolicy',
      'Pipeline',
      'Role',
      'RoleBinding',
    ]) {
      expect(kinds, kind).toContain(kind);
    }
    // Watching two namespaces: a Role in each, nothing cluster-wide.
    expect(kinds).not.toContain('ClusterRole');
    expect(
      byKind(ms, 'Role')
        .map((r) => r.metadata.namespace)
        .sort(),
    ).toEqual(['kappaflow-system', 'team-a', 'team-b']);
    const [operator, query] = ['operator', 'query'].map((c) =>
      byKind(ms, 'Deployment').find((d) => d.metadata.labels['app.kubernetes.io/component'] === c),
    );
    const env = Object.fromEntries(
      operator.spec.template.spec.containers[0].env.map((e: Manifest) => [e.name, e.value ?? e.valueFrom]),
    );
    expect(env).toMatchObject({
      LEADER_ELECT: 'true',
      LEASE_NAME: 'kappaflow-leader',
      WATCH_NAMESPACES: 'team-a,team-b',
      REDIS_URL:
        'redis-cluster://redis-0.redis.data.svc:6379,redis-1.redis.data.svc:6379,redis-2.redis.data.svc:6379',
      REDIS_PASSWORD: { secretKeyRef: { name: 'redis-auth', key: 'password' } },
      KAFKA_CONFIG_FILE: '/etc/kappaflow/kafka/kafka.yaml',
      KAFKA_CONFIG_SECRET: 'kafka-client',
      QUERY_AUTH_SECRET: 'query-tokens',
      PROCESSOR_IMAGE_PULL_SECRETS: 'regcred',
      REDIS_TLS_SECRET: 'redis-tls',
      REDIS_TLS_DIR: '/etc/kappaflow/redis-tls',
    });
    const mountsSecret = (d: Manifest, name: string, secretName: string, mountPath: string) => {
      expect(d.spec.template.spec.volumes).toContainEqual({
        name,
        secret: expect.objectContaining({ secretName }),
      });
      expect(d.spec.template.spec.containers[0].volumeMounts).toContainEqual({
        name,
        mountPath,
        readOnly: true,
      });
    };
    // The Redis TLS Secret is mounted where REDIS_TLS_DIR points, in the operator and query pods.
    for (const d of [operator, query]) mountsSecret(d, 'redis-tls', 'redis-tls', '/etc/kappaflow/redis-tls');
    // The query pods read lag from the same Kafka: its TLS/SASL settings file is mounted there too.
    const queryEnv = Object.fromEntries(
      query.spec.template.spec.containers[0].env.map((e: Manifest) => [e.name, e.value ?? e.valueFrom]),
    );
    expect(queryEnv.KAFKA_CONFIG_FILE).toBe('/etc/kappaflow/kafka/kafka.yaml');
    mountsSecret(query, 'kafka-config', 'kafka-client', '/etc/kappaflow/kafka');
    expect(operator.spec.template.spec.containers[0].image).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(query.spec.template.spec.containers[0].args).toEqual(['serve']);
    expect(query.spec.template.spec.automountServiceAccountToken).toBe(false);
    expect(operator.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
  });

  it('runs the operator and the processors in the node network with hostNetwork, processor port and env', async () => {
    const defaults = byKind(await render(), 'Deployment')[0];
    expect(defaults.spec.template.spec.hostNetwork).toBeUndefined();
    const env = (d: Manifest) =>
      Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: Manifest) => [e.name, e.value]));
    expect(env(defaults)).toMatchObject({ PROCESSOR_PORT: '8080', PROCESSOR_ENV: '{"LOG_LEVEL":"info"}' });
    expect(env(defaults).PROCESSOR_HOST_NETWORK).toBeUndefined();
    const [operator] = byKind(
      await render(
        '--set',
        'operator.hostNetwork=true',
        '--set',
        'processor.hostNetwork=true',
        '--set',
        'processor.port=18080',
        '--set',
        'processor.extraEnv.HOST=127.0.0.1',
      ),
      'Deployment',
    );
    expect(operator.spec.template.spec).toMatchObject({
      hostNetwork: true,
      dnsPolicy: 'ClusterFirstWithHostNet',
    });
    expect(env(operator)).toMatchObject({
      PROCESSOR_HOST_NETWORK: 'true',
      PROCESSOR_PORT: '18080',
      PROCESSOR_ENV: '{"HOST":"127.0.0.1","LOG_LEVEL":"info"}',
    });
    expect(await refused('--set', 'processor.port=0')).toMatch(/processor\/port/);
  });

  it('runs query pods in the node network with hostNetwork, on their pod IP and query.server.port', async () => {
    const queryOf = async (...args: string[]) =>
      byKind(await render('--set', 'query.server.enabled=true', ...args), 'Deployment').find(
        (d) => d.spec.template.spec.containers[0].name === 'query',
      ) as Manifest;
    const envOf = (d: Manifest) =>
      Object.fromEntries(
        d.spec.template.spec.containers[0].env.map((e: Manifest) => [e.name, e.value ?? e.valueFrom]),
      );
    const defaults = await queryOf();
    expect(defaults.spec.template.spec.hostNetwork).toBeUndefined();
    expect(defaults.spec.template.spec.containers[0].ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
    ]);
    expect(envOf(defaults).PORT).toBe('8080');
    expect(envOf(defaults).HOST).toBeUndefined();
    const host = await queryOf('--set', 'query.server.hostNetwork=true', '--set', 'query.server.port=18090');
    expect(host.spec.template.spec).toMatchObject({
      hostNetwork: true,
      dnsPolicy: 'ClusterFirstWithHostNet',
    });
    expect(host.spec.template.spec.containers[0].ports[0].containerPort).toBe(18090);
    expect(envOf(host)).toMatchObject({ PORT: '18090', HOST: { fieldRef: { fieldPath: 'status.podIP' } } });
    expect(await refused('--set', 'query.server.port=70000')).toMatch(/query\/server\/port/);
  });

  it("gives the Sentinels' own password (redis.auth.sentinelKey) to the operator, query and processor pods", async () => {
    const secretEnv = (d: Manifest, name: string) =>
      d.spec.template.spec.containers[0].env.find((e: Manifest) => e.name === name);
    const sentinel = ['--set', 'redis.url=redis+sentinel://sentinel-0:26379/mymaster'];
    const withKey = byKind(
      await render(
        ...sentinel,
        '--set',
        'redis.auth.existingSecret=redis-auth',
        '--set',
        'redis.auth.sentinelKey=sentinel-pw',
      ),
      'Deployment',
    );
    for (const d of withKey) {
      expect(secretEnv(d, 'REDIS_SENTINEL_PASSWORD'), d.metadata.name).toEqual({
        name: 'REDIS_SENTINEL_PASSWORD',
        valueFrom: { secretKeyRef: { name: 'redis-auth', key: 'sentinel-pw' } },
      });
    }
    // the operator hands the key on to the processor Deployments it renders
    const operator = withKey.find((d) => d.metadata.labels['app.kubernetes.io/component'] === 'operator');
    expect(secretEnv(operator, 'REDIS_SENTINEL_PASSWORD_SECRET_KEY').value).toBe('sentinel-pw');
    // without the key, the Sentinels get the Redis password: no env of their own
    for (const d of byKind(
      await render(...sentinel, '--set', 'redis.auth.existingSecret=redis-auth'),
      'Deployment',
    )) {
      expect(secretEnv(d, 'REDIS_SENTINEL_PASSWORD')).toBeUndefined();
      expect(secretEnv(d, 'REDIS_SENTINEL_PASSWORD_SECRET_KEY')).toBeUndefined();
    }
    expect(await refused(...sentinel, '--set', 'redis.auth.sentinelKey=sentinel-pw')).toMatch(
      /redis\/auth\/existingSecret/,
    );
  });

  it('refuses wrong values with a message naming the value', async () => {
    expect(await refused('--set', 'operator.replicas=-1')).toMatch(/operator\/replicas.*minimum/);
    expect(await refused('-f', valuesFile('kafka:\n  brokers: []\n'))).toMatch(/kafka\/brokers.*minItems/);
    expect(await refused('-f', valuesFile('kafka:\n  brokers: null\n'))).toMatch(/kafka/);
    expect(await refused('--set', 'kafka.brokers={kafka}')).toMatch(/kafka\/brokers\/0.*pattern/);
    expect(await refused('--set', 'redis.url=')).toMatch(/redis\/url[\s\S]*redis\/cluster\/nodes/);
    expect(await refused('--set', 'redis.url=http://redis:6379')).toMatch(/redis\/url/);
    expect(await refused('--set', 'query.auth.enabled=true')).toMatch(/query\/auth\/existingSecret/);
    expect(await refused('--set', 'operator.replica=2')).toMatch(/additional properties? 'replica'/i);
    expect(await refused('--set', 'operator.logLevel=loud')).toMatch(/operator\/logLevel/);
    expect(await refused('--set', 'image.pullPolicy=Sometimes')).toMatch(/image\/pullPolicy/);
    expect(
      await refused('--set', 'metrics.serviceMonitor.enabled=true', '--set', 'metrics.service.enabled=false'),
    ).toContain('metrics.service.enabled');
  });

  it('has a configuration table in docs/install.md generated from the values.yaml comments', () => {
    expect(checkValuesDocs()).toEqual({ upToDate: true });
  });
});
