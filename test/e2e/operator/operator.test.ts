// The operator against a real kube-apiserver + etcd + kube-controller-manager, real Kafka and
// Redis, with the node harness running one real processor process per Pod. One Pipeline goes
// through its whole life: applied -> Ready; a burst of records -> scale out, lag drains, exact
// counts, scale in after the stabilization window; API server restart + leader SIGKILL -> the
// standby takes over the Lease; delete -> garbage collection and the finalizer's delete policy.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { type KubeApi, startKubeApi } from '../../../harness/kube.ts';
import { type NodeHarness, startNodeHarness } from '../../../harness/node-harness.ts';
import { ensureDir, repoRoot, runDir } from '../../../harness/paths.ts';
import { freePort } from '../../../harness/ports.ts';
import { type ServiceProcess, startProcess, waitUntil } from '../../../harness/service.ts';
import { KubeClient, type KubeObject, paths } from '../../../operator/src/kube/client.ts';
import { OPERATOR_RULES } from '../../../operator/src/rbac.ts';
import { childName, FINALIZER } from '../../../operator/src/resources.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { fieldOf, groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';

const NS = 'default';
const PARTITIONS = 4;
const WINDOW_MS = 10_000;
const STABILIZATION = '20s';
const RECORDS = Number(process.env.KAPPAFLOW_OPERATOR_RECORDS ?? 150_000);
const CRD = join(repoRoot, 'charts', 'kappaflow', 'crds', 'pipelines.kappaflow.io.yaml');

interface Pipeline extends KubeObject {
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    replicas?: number;
    lag?: number;
    activeVersion?: number;
    latestVersion?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}
interface Deployment extends KubeObject {
  spec: {
    replicas: number;
    template: { spec: { containers: { env: { name: string; value?: string }[] }[] } };
  };
  status?: { readyReplicas?: number; replicas?: number };
}

const condition = (p: Pipeline | null, type: string) => p?.status?.conditions?.find((c) => c.type === type);

describe('operator e2e', () => {
  let api: KubeApi;
  let kube: KubeClient;
  let harness: NodeHarness;
  let redis: RedisClient;
  let kafka: Kafka;
  const operators = new Map<string, { proc: ServiceProcess; port: number }>();
  const id = randomUUID().slice(0, 6);
  const name = `ops-${id}`;
  const topic = `ops-events-${id}`;
  const dir = ensureDir(join(runDir, `operator-e2e-${id}`));
  const timings: Record<string, number> = {};
  let operatorKubeconfig = '';

  /** A ServiceAccount bound to OPERATOR_RULES, and a kubeconfig with a token for it. */
  const operatorServiceAccount = async () => {
    const sa = 'kappaflow-operator';
    await kube.create(`/api/v1/namespaces/${NS}/serviceaccounts`, { metadata: { name: sa } });
    await kube.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name: sa },
      rules: OPERATOR_RULES,
    });
    await kube.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name: sa },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: sa },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: NS }],
    });
    const tr = await kube.request<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${NS}/serviceaccounts/${sa}/token`,
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
      users: [{ name: sa, token: tr.status.token }],
      contexts: [{ name: 'test', cluster: 'test', user: sa, namespace: NS }],
      currentContext: 'test',
    });
    const file = join(dir, 'operator.kubeconfig');
    writeFileSync(file, kc.exportConfig(), { mode: 0o600 });
    return file;
  };

  const startOperator = async (identity: string) => {
    const port = await freePort();
    const proc = startProcess(
      `operator ${identity}`,
      process.execPath,
      [
        join(repoRoot, 'bin', 'kappaflow.js'),
        'operator',
        '--kubeconfig',
        operatorKubeconfig,
        '--namespaces',
        NS,
        '--image',
        'kappaflow:e2e',
        '--identity',
        identity,
        '--lease-namespace',
        NS,
        '--lease-duration',
        '4',
        '--renew-deadline',
        '3',
        '--retry-period',
        '1',
        '--scale-interval',
        '2',
        '--resync',
        '15',
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--processor-env',
        JSON.stringify({ LOG_LEVEL: 'warn' }),
      ],
      {
        logFile: join(dir, `${identity}.log`),
        env: {
          KAFKA_BROKERS: inject('kafkaBrokers').join(','),
          REDIS_URL: inject('redisUrl'),
          LOG_LEVEL: 'info',
        },
      },
    );
    operators.set(identity, { proc, port });
    await waitUntil(
      `operator ${identity} /healthz`,
      async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok,
      {
        service: proc,
        timeoutMs: 30_000,
      },
    );
    return proc;
  };

  const getPipeline = () => kube.getOrNull<Pipeline>(paths.pipeline(NS, name));
  const getDeployment = () => kube.getOrNull<Deployment>(paths.deployment(NS, childName(name)));
  const leaseHolder = async () =>
    (
      await kube.getOrNull<KubeObject & { spec?: { holderIdentity?: string } }>(
        paths.lease(NS, 'kappaflow-operator'),
      )
    )?.spec?.holderIdentity ?? '';
  const events = async () =>
    (
      await kube.list<KubeObject & { reason: string; message: string; involvedObject: { name: string } }>(
        paths.events(NS),
      )
    ).items.filter((e) => e.involvedObject.name === name);

  const pipelineManifest = () => ({
    apiVersion: 'kappaflow.io/v1alpha1',
    kind: 'Pipeline',
    metadata: { name, namespace: NS, annotations: { 'kappaflow.io/deletion-policy': 'delete' } },
    spec: {
      source: { topic, format: 'json', eventTime: { field: 'ts' }, startFrom: 'earliest' },
      window: { type: 'tumbling', size: `${WINDOW_MS / 1000}s`, grace: '1h' },
      aggregates: { events: { count: {} } },
      scaling: {
        minReplicas: 1,
        maxReplicas: 3,
        lagThreshold: 2000,
        catchUpSeconds: 10,
        scaleDownStabilization: STABILIZATION,
      },
    },
  });

  beforeAll(async () => {
    api = await startKubeApi();
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig);
    kube = new KubeClient(kc);
    await kube.create(
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      parse(readFileSync(CRD, 'utf8')),
    );
    await waitUntil('the Pipeline CRD is served', async () => {
      await kube.list(paths.pipelines(NS));
      return true;
    });
    kafka = new Kafka({ brokers: inject('kafkaBrokers'), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
    await admin.disconnect();
    redis = connectRedis(inject('redisUrl'));
    operatorKubeconfig = await operatorServiceAccount();
    harness = await startNodeHarness({
      kubeconfig: api.kubeconfig,
      namespace: NS,
      logDir: join(dir, 'pods'),
    });
    await startOperator('operator-a');
    await waitUntil('operator-a holds the Lease', async () => (await leaseHolder()) === 'operator-a', {
      timeoutMs: 20_000,
    });
    await startOperator('operator-b');
  });

  afterAll(async () => {
    for (const { proc } of operators.values()) await proc.stop(5000);
    await harness?.stop();
    await redis?.quit().catch(() => {});
    kube?.close();
    await api?.stop();
    process.stderr.write(`  operator e2e timings: ${JSON.stringify(timings)}\n`);
  });

  it('an invalid spec is reported as Degraded with the error paths, no crash', async () => {
    const bad = {
      apiVersion: 'kappaflow.io/v1alpha1',
      kind: 'Pipeline',
      metadata: { name: `${name}-bad`, namespace: NS },
      spec: {
        source: { topic },
        where: 'event.page ==',
        window: { type: 'tumbling', size: '10s' },
        aggregates: { events: { count: {} } },
      },
    };
    await kube.create(paths.pipelines(NS), bad);
    let p: Pipeline | null = null;
    await waitUntil('Degraded=True on the invalid pipeline', async () => {
      p = await kube.getOrNull<Pipeline>(paths.pipeline(NS, `${name}-bad`));
      return condition(p, 'Degraded')?.status === 'True';
    });
    expect(condition(p, 'Degraded')).toMatchObject({ reason: 'InvalidSpec' });
    expect(condition(p, 'Degraded')?.message).toContain('spec.where');
    expect(await kube.getOrNull(paths.deployment(NS, childName(`${name}-bad`)))).toBeNull();
    await kube.delete(paths.pipeline(NS, `${name}-bad`));
    await waitUntil(
      'the invalid pipeline is gone',
      async () => (await kube.getOrNull(paths.pipeline(NS, `${name}-bad`))) === null,
    );
  });

  it('apply: ConfigMap, Deployment and Service with owner references; status Ready', async () => {
    const t0 = Date.now();
    const created = await kube.create<Pipeline>(paths.pipelines(NS), pipelineManifest());
    let p: Pipeline | null = null;
    await waitUntil(
      'Ready=True',
      async () => {
        p = await getPipeline();
        return condition(p, 'Ready')?.status === 'True';
      },
      { timeoutMs: 90_000 },
    );
    timings.applyToReadyMs = Date.now() - t0;
    expect(p!.metadata.finalizers).toContain(FINALIZER);
    expect(p!.status?.observedGeneration).toBe(p!.metadata.generation);
    expect(p!.status?.replicas).toBe(1);
    for (const path of [
      paths.configMap(NS, childName(name)),
      paths.deployment(NS, childName(name)),
      paths.service(NS, childName(name)),
    ]) {
      const obj = await kube.get(path);
      expect(obj.metadata.ownerReferences).toEqual([
        expect.objectContaining({ kind: 'Pipeline', name, uid: created.metadata.uid, controller: true }),
      ]);
    }
    const dep = (await getDeployment())!;
    const env = Object.fromEntries(dep.spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ KAFKA_BROKERS: inject('kafkaBrokers').join(','), KAPPAFLOW_VERSION: '1' });
    expect(harness.running().filter((r) => r.pod.startsWith(childName(name)))).toHaveLength(1);
  });

  it(`a burst of ${RECORDS} records scales out within bounds, drains with exact counts, scales back in`, async () => {
    const base = Date.UTC(2026, 0, 1);
    const expected = new Map<number, number>();
    // A stalled consumer: the one replica is paused (SIGSTOP) while the burst lands, so the backlog
    // is there when the operator samples lag. Unpaused, one replica can drain 150k records between
    // two samples and the scale-out this test is about never becomes necessary.
    const [only] = harness.running().filter((r) => r.pod.startsWith(childName(name)));
    expect(only).toBeDefined();
    const paused = only!.process.child;
    paused.kill('SIGSTOP');
    const resume = () => paused.kill('SIGCONT');
    let maxReplicas = 1;
    const t0 = Date.now();
    try {
      const producer = kafka.producer();
      await producer.connect();
      const chunk = 5000;
      for (let i = 0; i < RECORDS; i += chunk) {
        const messages = [];
        for (let j = i; j < Math.min(RECORDS, i + chunk); j++) {
          const ts = base + (j % 60) * 1000;
          const start = ts - (ts % WINDOW_MS);
          expected.set(start, (expected.get(start) ?? 0) + 1);
          messages.push({ partition: j % PARTITIONS, value: `{"ts":${ts},"n":${j}}` });
        }
        await producer.send({ topic, messages });
      }
      await producer.disconnect();
      await waitUntil(
        'scale out',
        async () => {
          const d = await getDeployment();
          maxReplicas = Math.max(maxReplicas, d?.spec.replicas ?? 0);
          return maxReplicas > 1;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    } finally {
      resume();
    }
    timings.burstToScaleOutMs = Date.now() - t0;
    const sawPods = new Set<string>();
    await waitUntil(
      'lag drained and all replicas ready',
      async () => {
        const d = await getDeployment();
        maxReplicas = Math.max(maxReplicas, d?.spec.replicas ?? 0);
        for (const r of harness.running()) sawPods.add(r.pod);
        const p = await getPipeline();
        return p?.status?.lag === 0 && (d?.status?.readyReplicas ?? 0) >= 1;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    timings.burstToDrainedMs = Date.now() - t0;
    expect(maxReplicas).toBeGreaterThan(1);
    expect(maxReplicas).toBeLessThanOrEqual(3);
    // One fast replica can drain the burst before the new pod's process is up; the Deployment stays
    // scaled out for the stabilization window, so the new process must still start.
    await waitUntil('the harness runs the added replicas', async () => harness.started.size > 1, {
      timeoutMs: 30_000,
    });
    expect(harness.started.size).toBeGreaterThan(1);

    // Exact: the count of each window, merged over partitions, equals what was produced.
    const observed = new Map<number, number>();
    for (let part = 0; part < PARTITIONS; part++) {
      const prefix = partitionPrefix(name, 1, part);
      for (const start of await redis.zrange(keys.windows(prefix), 0, -1)) {
        const v = await redis.hget(keys.window(prefix, Number(start)), fieldOf('events', groupKeyOf([])));
        observed.set(Number(start), (observed.get(Number(start)) ?? 0) + Number(v ?? 0));
      }
    }
    expect(observed).toEqual(expected);

    const tIdle = Date.now();
    await waitUntil(
      'scale back in to 1 after the stabilization window',
      async () => (await getDeployment())?.spec.replicas === 1,
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    timings.drainedToScaleInMs = Date.now() - tIdle;
    await waitUntil(
      'one processor left',
      async () => harness.running().filter((r) => r.pod.startsWith(childName(name))).length === 1,
      {
        timeoutMs: 60_000,
      },
    );
    const reasons = (await events()).map((e) => e.reason);
    expect(reasons).toContain('ScaledOut');
    expect(reasons).toContain('ScaledIn');
    const out = (await events()).find((e) => e.reason === 'ScaledOut')!;
    expect(out.message).toMatch(/scale up 1 -> [23]: lag \d+/);
    const p = await getPipeline();
    expect(condition(p, 'Scaling')?.message).toMatch(/steady|holding|scale/);
  });

  it('API server restart and a SIGKILLed leader: the standby takes over via the Lease, no duplicates', async () => {
    const leader = await leaseHolder();
    expect(['operator-a', 'operator-b']).toContain(leader);
    const standby = leader === 'operator-a' ? 'operator-b' : 'operator-a';
    const t0 = Date.now();
    await api.restartApiServer();
    await operators.get(leader)!.proc.kill();
    await waitUntil(`${standby} holds the Lease`, async () => (await leaseHolder()) === standby, {
      timeoutMs: 60_000,
    });
    timings.takeoverMs = Date.now() - t0;

    // Reconciliation resumes: a spec change (more replicas at minimum) is acted on by the new leader.
    const p = (await getPipeline())!;
    await kube.mergePatch(paths.pipeline(NS, name), { spec: { scaling: { minReplicas: 2 } } });
    await waitUntil(
      'the new leader reconciles the change',
      async () => {
        const q = await getPipeline();
        const d = await getDeployment();
        return (
          (q?.status?.observedGeneration ?? 0) > (p.metadata.generation ?? 0) &&
          d?.spec.replicas === 2 &&
          condition(q, 'Ready')?.status === 'True'
        );
      },
      { timeoutMs: 90_000 },
    );
    const selector = `kappaflow.io/pipeline=${name}`;
    expect((await kube.list(paths.deployments(NS), { labelSelector: selector })).items).toHaveLength(1);
    expect(
      (await kube.list(`/api/v1/namespaces/${NS}/services`, { labelSelector: selector })).items,
    ).toHaveLength(1);
    expect(
      (await kube.list(`/api/v1/namespaces/${NS}/configmaps`, { labelSelector: selector })).items,
    ).toHaveLength(1);
    // Pods converge to the two replicas once the rollout of the spec change settles (a surge pod or a
    // terminating one may still be listed for a moment).
    const livePods = async () =>
      (await kube.list(paths.pods(NS), { labelSelector: selector })).items.filter(
        (pod) => !(pod.metadata as { deletionTimestamp?: string }).deletionTimestamp,
      );
    await waitUntil('two live pods', async () => (await livePods()).length === 2, { timeoutMs: 60_000 });
    expect(await livePods()).toHaveLength(2);
    const metrics = await (await fetch(`http://127.0.0.1:${operators.get(standby)!.port}/metrics`)).text();
    expect(metrics).toMatch(/kappaflow_operator_leader 1/);
  });

  it('scaling.mode external: replicas follow spec.replicas through the scale subresource', async () => {
    await kube.mergePatch(paths.pipeline(NS, name), { spec: { scaling: { mode: 'external' }, replicas: 3 } });
    await waitUntil(
      '3 replicas from spec.replicas',
      async () => (await getDeployment())?.spec.replicas === 3,
      {
        timeoutMs: 30_000,
      },
    );
    // What `kubectl scale pipeline --replicas=1` (or an HPA/KEDA) does:
    await kube.mergePatch(`${paths.pipeline(NS, name)}/scale`, { spec: { replicas: 1 } });
    await waitUntil(
      'the Deployment and the scale subresource follow',
      async () => {
        const scale = await kube.get<
          KubeObject & { spec: { replicas: number }; status: { replicas: number; selector: string } }
        >(`${paths.pipeline(NS, name)}/scale`);
        return (
          (await getDeployment())?.spec.replicas === 1 &&
          scale.status.replicas === 1 &&
          scale.status.selector === `app.kubernetes.io/name=kappaflow-processor,kappaflow.io/pipeline=${name}`
        );
      },
      { timeoutMs: 60_000 },
    );
    const p = await getPipeline();
    expect(condition(p, 'Scaling')).toMatchObject({ reason: 'External' });
  });

  it('a hot partition is reported in status, a metric and an Event', async () => {
    const producer = kafka.producer();
    await producer.connect();
    const ts = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 4; i++) {
      await producer.send({
        topic,
        messages: Array.from({ length: 5000 }, (_, j) => ({ partition: 0, value: `{"ts":${ts},"n":${j}}` })),
      });
    }
    await producer.disconnect();
    await waitUntil(
      'partition 0 listed as hot',
      async () => {
        const p = (await getPipeline()) as
          | (Pipeline & { status?: { hotPartitions?: { topic?: string; partition: number }[] } })
          | null;
        return (p?.status?.hotPartitions ?? []).some((h) => h.partition === 0 && h.topic === topic);
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const leader = await leaseHolder();
    const metrics = await (await fetch(`http://127.0.0.1:${operators.get(leader)!.port}/metrics`)).text();
    expect(metrics).toMatch(
      new RegExp(`kappaflow_operator_hot_partitions\\{namespace="${NS}",pipeline="${name}"\\} 1`),
    );
    await waitUntil('a HotPartition event', async () =>
      (await events()).some((e) => e.reason === 'HotPartition'),
    );
  });

  it('a logic change: version 2 replays the log while queries read version 1, then takes over', async () => {
    await waitUntil('lag drained before the change', async () => (await getPipeline())?.status?.lag === 0, {
      timeoutMs: 60_000,
    });
    /** Records counted by a version: the `events` counts of every window of every partition. */
    const counted = async (version: number) => {
      let total = 0;
      for (let part = 0; part < PARTITIONS; part++) {
        const prefix = partitionPrefix(name, version, part);
        for (const start of await redis.zrange(keys.windows(prefix), 0, -1)) {
          total += Number(
            (await redis.hget(keys.window(prefix, Number(start)), fieldOf('events', groupKeyOf([])))) ?? 0,
          );
        }
      }
      return total;
    };
    const before = await counted(1);
    expect(before).toBeGreaterThan(RECORDS);
    await kube.mergePatch(paths.pipeline(NS, name), { spec: { aggregates: { total: { sum: 'event.n' } } } });
    let sawCatchingUp = false;
    await waitUntil(
      'version 2 active and up to date',
      async () => {
        const p = await getPipeline();
        if (condition(p, 'Reprocessing')?.status === 'True') {
          sawCatchingUp = true;
          expect(p?.status?.activeVersion).toBe(1);
        }
        return (
          p?.status?.activeVersion === 2 &&
          p.status?.latestVersion === 2 &&
          condition(p, 'Reprocessing')?.reason === 'UpToDate'
        );
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    timings.reprocessingSawCatchingUp = sawCatchingUp ? 1 : 0;
    expect((await events()).some((e) => e.reason === 'NewVersion')).toBe(true);
    // Version 2 counted the same log from the start, exactly; version 1's state is gone.
    expect(await counted(2)).toBe(before);
    expect(JSON.parse((await redis.hget(keys.pipelines(), name))!).activeVersion).toBe(2);
    await waitUntil(
      'version 1 keys deleted',
      async () => {
        // KEYS, not one SCAN step: a single step covers only part of a shared Redis
        const found = await redis.keys(`kf:{${name}:1:*`);
        return found.length === 0;
      },
      { timeoutMs: 30_000 },
    );

    // An explicit replay, same logic: version 3 recounts the log and takes over.
    await kube.mergePatch(paths.pipeline(NS, name), {
      metadata: { annotations: { 'kappaflow.io/replay': '2026-11-25T18:00:00Z' } },
    });
    await waitUntil(
      'version 3 active after the replay',
      async () => {
        const p = await getPipeline();
        return p?.status?.activeVersion === 3 && condition(p, 'Reprocessing')?.reason === 'UpToDate';
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    expect(
      (await events()).some((e) => e.reason === 'NewVersion' && e.message.includes('replay requested')),
    ).toBe(true);
    expect(await counted(3)).toBe(before);
    // Reconciling again with the same annotation does not start another replay.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await getPipeline())?.status?.latestVersion).toBe(3);
  });

  it('delete: owned objects are garbage-collected and the delete policy removes keys and the group', async () => {
    expect((await redis.keys(`kf:{${name}:*`)).length).toBeGreaterThan(0);
    await kube.delete(paths.pipeline(NS, name));
    await waitUntil('the pipeline is gone', async () => (await getPipeline()) === null, {
      timeoutMs: 90_000,
    });
    await waitUntil(
      'owned objects collected',
      async () =>
        (await getDeployment()) === null &&
        (await kube.getOrNull(paths.configMap(NS, childName(name)))) === null &&
        (await kube.getOrNull(paths.service(NS, childName(name)))) === null,
      { timeoutMs: 60_000 },
    );
    expect(harness.running().filter((r) => r.pod.startsWith(childName(name)))).toHaveLength(0);
    expect(await redis.keys(`kf:{${name}:*`)).toEqual([]);
    expect(await redis.hget(keys.pipelines(), name)).toBeNull();
    const admin = kafka.admin();
    await admin.connect();
    const { groups } = await admin.listGroups();
    await admin.disconnect();
    expect(groups.map((g) => g.groupId)).not.toContain(`kappaflow.${name}.v1`);
  });
});
