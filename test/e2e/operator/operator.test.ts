// The operator against a real kube-apiserver + etcd + kube-controller-manager, real Kafka and
// Redis, with the node harness running one real processor process per Pod. One Pipeline goes
// through its whole life: applied -> Ready; a burst of records -> scale out, lag drains, exact
// counts, scale in after the stabilization window; API server restart + leader SIGKILL -> the
// standby takes over the Lease; delete -> garbage collection and the finalizer's delete policy.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type KubeApi, startKubeApi } from '../../../harness/kube.ts';
import { kubeWithPipelineCrd, serviceAccountKubeconfig } from '../../../harness/kube-pipelines.ts';
import { type NodeHarness, startNodeHarness } from '../../../harness/node-harness.ts';
import { ensureDir, repoRoot, runDir } from '../../../harness/paths.ts';
import { freePort } from '../../../harness/ports.ts';
import { type ServiceProcess, startProcess, waitUntil } from '../../../harness/service.ts';
import { type KubeClient, type KubeObject, paths } from '../../../operator/src/kube/client.ts';
import { OPERATOR_RULES } from '../../../operator/src/rbac.ts';
import {
  childName,
  desiredConfigMap,
  desiredDeployment,
  FINALIZER,
  type PipelineObject,
  versionName,
} from '../../../operator/src/resources.ts';
import { createHttpApp, startHttpServer } from '../../../processor/src/http/app.ts';
import { logger } from '../../../processor/src/observability/logger.ts';
import { createProcessorMetrics } from '../../../processor/src/observability/metrics.ts';
import { validatePipelineObject } from '../../../processor/src/spec/validate.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { fieldOf, groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';

const NS = 'default';
const PARTITIONS = 4;
const WINDOW_MS = 10_000;
const STABILIZATION = '20s';
const RECORDS = Number(process.env.KAPPAFLOW_OPERATOR_RECORDS ?? 150_000);

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
  const operatorServiceAccount = () =>
    serviceAccountKubeconfig({
      api,
      kube,
      namespace: NS,
      name: 'kappaflow-operator',
      rules: OPERATOR_RULES,
      dir,
    });

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
  const getDeployment = (version = 1) =>
    kube.getOrNull<Deployment>(paths.deployment(NS, versionName(name, version)));
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
    kube = await kubeWithPipelineCrd(api, NS);
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
    expect(await kube.getOrNull(paths.deployment(NS, versionName(`${name}-bad`, 1)))).toBeNull();
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
      paths.configMap(NS, versionName(name, 1)),
      paths.deployment(NS, versionName(name, 1)),
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
          scale.status.selector ===
            `app.kubernetes.io/name=kappaflow-processor,kappaflow.io/pipeline=${name},kappaflow.io/version=1`
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
    /** A version's count once it equals `expected`, or its last reading after a minute (then the test fails on it). */
    const settledCount = async (version: number, expected: number) => {
      let last = -1;
      await waitUntil(
        `version ${version} counts ${expected}`,
        async () => {
          last = await counted(version);
          return last === expected;
        },
        { timeoutMs: 60_000 },
      ).catch(() => {});
      return last;
    };
    // Version 1's count once its checkpoints are at the end of the topic (Kafka's end offsets): the
    // operator's lag can read 0 a moment before the last batch of the previous test is committed.
    await waitUntil(
      'version 1 checkpointed to the end of the topic',
      async () => {
        const admin = kafka.admin();
        await admin.connect();
        try {
          for (const { partition, high } of await admin.fetchTopicOffsets(topic)) {
            const offset = await redis.hget(keys.checkpoint(partitionPrefix(name, 1, partition)), 'offset');
            if (Number(offset ?? 0) < Number(high)) return false;
          }
          return true;
        } finally {
          await admin.disconnect();
        }
      },
      { timeoutMs: 120_000 },
    );
    const before = await counted(1);
    expect(before).toBeGreaterThan(RECORDS);
    await kube.mergePatch(paths.pipeline(NS, name), { spec: { aggregates: { total: { sum: 'event.n' } } } });
    let sawCatchingUp = false;
    let sawBoth = false;
    await waitUntil(
      'version 2 active and up to date',
      async () => {
        const p = await getPipeline();
        if (condition(p, 'Reprocessing')?.status === 'True') {
          sawCatchingUp = true;
          expect(p?.status?.activeVersion).toBe(1);
          // blue/green: version 1 keeps its own Deployment beside version 2's while it replays
          const [one, two] = [await getDeployment(1), await getDeployment(2)];
          if (one && two && (one.status?.readyReplicas ?? 0) >= 1) sawBoth = true;
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
    timings.reprocessingSawBothDeployments = sawBoth ? 1 : 0;
    // version 1's Deployment, ConfigMap and consumer group go once version 2 serves
    await waitUntil(
      "version 1's Deployment and group removed",
      async () => {
        const admin = kafka.admin();
        await admin.connect();
        const { groups } = await admin.listGroups();
        await admin.disconnect();
        return (
          (await getDeployment(1)) === null &&
          (await kube.getOrNull(paths.configMap(NS, versionName(name, 1)))) === null &&
          !groups.some((g) => g.groupId === `kappaflow.${name}.v1`)
        );
      },
      { timeoutMs: 60_000 },
    );
    // Events are posted after the steps they report (retire.ts deletes, then records): wait for them.
    await waitUntil(
      'VersionRetired and NewVersion Events',
      async () => {
        const reasons = (await events()).map((e) => e.reason);
        return reasons.includes('VersionRetired') && reasons.includes('NewVersion');
      },
      { timeoutMs: 60_000 },
    );
    // Version 2 counted the same log from the start, exactly; version 1's state is gone.
    expect(await settledCount(2, before)).toBe(before);
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
    expect(await settledCount(3, before)).toBe(before);
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
        (await kube.list(paths.deployments(NS), { labelSelector: `kappaflow.io/pipeline=${name}` })).items
          .length === 0 &&
        (await kube.getOrNull(paths.configMap(NS, versionName(name, 3)))) === null &&
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

  // Blue/green reprocessing on a second Pipeline fed by a steady producer: version 1 keeps
  // consuming live (its open window advances, probes stay fresh) while version 2 replays the log
  // in its own Deployment scaled for catch-up; the query API never mixes versions; the operator
  // leader dies mid-replay and the standby finishes; after the switch version 2's answers equal an
  // independent ground truth and version 1's Deployment, keys and group are gone. Then manual
  // promotion waits for the annotation, and reverting the spec aborts a replay.
  describe('blue/green versions', () => {
    const bg = `bg-${id}`;
    const bgTopic = `bg-events-${id}`;
    const BACKLOG = 60_000;
    const RATE = 400; // records/s of the steady producer
    /** ground truth per window start: records and the sum of n, counted as produced */
    const truth = new Map<number, { events: number; total: number }>();
    let produced = 0;
    let producing = true;
    let producerDone: Promise<void> = Promise.resolve();
    let query: { url: string; close: () => Promise<void> } | undefined;
    const bgPipeline = () =>
      kube.getOrNull<
        Pipeline & {
          status?: {
            versions?: {
              version: number;
              role: string;
              replicas?: number;
              lag?: number;
              etaSeconds?: number;
            }[];
          };
        }
      >(paths.pipeline(NS, bg));
    const bgDeployment = (v: number) => kube.getOrNull<Deployment>(paths.deployment(NS, versionName(bg, v)));
    const bgEvents = async () =>
      (
        await kube.list<KubeObject & { reason: string; message: string; involvedObject: { name: string } }>(
          paths.events(NS),
        )
      ).items.filter((e) => e.involvedObject.name === bg);
    const groupsOf = async () => {
      const admin = kafka.admin();
      await admin.connect();
      const { groups } = await admin.listGroups();
      await admin.disconnect();
      return groups.map((g) => g.groupId);
    };
    const record = (n: number, kind: string) => {
      const ts = Date.now();
      const start = ts - (ts % WINDOW_MS);
      const t = truth.get(start) ?? { events: 0, total: 0 };
      t.events++;
      t.total += n;
      truth.set(start, t);
      produced++;
      return { value: JSON.stringify({ ts, n, kind }) };
    };
    interface WindowsAnswer {
      version: number;
      windows: {
        start: string | number;
        groups: { group: Record<string, string>; values: Record<string, number> }[];
      }[];
    }
    const windows = async (qs: string): Promise<WindowsAnswer> => {
      const res = await fetch(`${query!.url}/api/v1/pipelines/${bg}/windows?${qs}`);
      expect(res.status).toBe(200);
      return (await res.json()) as WindowsAnswer;
    };

    /** the serving version's whole answer, to compare before and after */
    const answerOf = async () => {
      const a = await windows('limit=10000');
      return JSON.stringify({ version: a.version, windows: a.windows });
    };

    /** the active version, the next one, and what a failing replay must leave untouched */
    const beforeReplay = async () => {
      const p0 = (await bgPipeline())!;
      const active = p0.status!.activeVersion!;
      return {
        active,
        next: (p0.status?.latestVersion ?? active) + 1,
        dep0: (await bgDeployment(active))!,
        answer0: await answerOf(),
      };
    };

    beforeAll(async () => {
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({
        topics: [{ topic: bgTopic, numPartitions: PARTITIONS }],
        waitForLeaders: true,
      });
      await admin.disconnect();
      const producer = kafka.producer();
      await producer.connect();
      for (let i = 0; i < BACKLOG; i += 5000) {
        await producer.send({
          topic: bgTopic,
          messages: Array.from({ length: 5000 }, (_, j) => record((i + j) % 100, 'load')),
        });
      }
      // the steady producer: RATE records/s in batches every 100 ms until the tests end
      producerDone = (async () => {
        let n = 0;
        while (producing) {
          const t = Date.now();
          await producer.send({
            topic: bgTopic,
            messages: Array.from({ length: RATE / 10 }, () => record(n++ % 100, 'load')),
          });
          await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - t))));
        }
        await producer.disconnect();
      })();
      // the query API as `kappaflow serve` runs it (no rate limit: the test polls every 50 ms)
      const app = createHttpApp({
        redis,
        registry: createProcessorMetrics('e2e-query').registry,
        readiness: () => true,
        logger,
        rateLimit: false,
      });
      query = await startHttpServer(app, 0, '127.0.0.1');
    });

    afterAll(async () => {
      producing = false;
      await producerDone;
      await query?.close();
    });

    it('version 1 stays live while version 2 replays beside it; the switch never mixes versions; version 2 equals the ground truth', async () => {
      // two operators again (an earlier test killed one): a leader to kill mid-replay and a standby
      for (const identity of ['operator-a', 'operator-b']) {
        const child = operators.get(identity)?.proc.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) await startOperator(identity);
      }
      await kube.create(paths.pipelines(NS), {
        apiVersion: 'kappaflow.io/v1alpha1',
        kind: 'Pipeline',
        metadata: { name: bg, namespace: NS },
        spec: {
          source: { topic: bgTopic, format: 'json', eventTime: { field: 'ts' }, startFrom: 'earliest' },
          groupBy: { kind: 'event.kind' },
          window: { type: 'tumbling', size: `${WINDOW_MS / 1000}s`, grace: '1h' },
          aggregates: { events: { count: {} } },
          scaling: {
            minReplicas: 1,
            maxReplicas: 3,
            lagThreshold: 2000,
            catchUpSeconds: 10,
            scaleDownStabilization: '5m',
          },
        },
      });
      await waitUntil(
        'version 1 active and caught up',
        async () => {
          const p = await bgPipeline();
          return p?.status?.activeVersion === 1 && (p.status.lag ?? Number.POSITIVE_INFINITY) < 2000;
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      );

      // Queries every 50 ms from now on: each answer is one version's (v1 has no `total`, v2 has it
      // in every group), and once version 2 answers, version 1 never does again.
      let polling = true;
      const answers: number[] = [];
      const poller = (async () => {
        while (polling) {
          const a = await windows('limit=10000');
          const kinds = new Set(a.windows.flatMap((w) => w.groups.map((g) => 'total' in g.values)));
          expect(kinds.size).toBeLessThanOrEqual(1);
          if (kinds.size === 1) expect([...kinds][0]).toBe(a.version === 2);
          if (answers.length > 0 && answers[answers.length - 1] === 2) expect(a.version).toBe(2);
          answers.push(a.version);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();

      // Probes: a record of its own group; produce -> queryable (on the active version) latency.
      const latencies: number[] = [];
      let probing = true;
      const probeProducer = kafka.producer();
      await probeProducer.connect();
      const prober = (async () => {
        for (let i = 0; probing; i++) {
          const kind = `probe-${i}`;
          const sent = Date.now();
          await probeProducer.send({ topic: bgTopic, messages: [record(0, kind)] });
          for (;;) {
            const a = await windows(`kind=${kind}&from=${sent - WINDOW_MS}`);
            if (a.windows.some((w) => w.groups.some((g) => g.values.events === 1))) break;
            if (Date.now() - sent > 30_000) throw new Error(`probe ${kind} not queryable after 30 s`);
            await new Promise((r) => setTimeout(r, 20));
          }
          if (answers[answers.length - 1] !== 2) latencies.push(Date.now() - sent);
          await new Promise((r) => setTimeout(r, 200));
        }
      })();

      try {
        // The logic change: version 2 replays the whole log (backlog + live) into its own keys.
        await kube.mergePatch(paths.pipeline(NS, bg), {
          spec: { aggregates: { total: { sum: 'event.n' } } },
        });
        let maxV2 = 0;
        let killed = '';
        let v1LiveDuringReplay = false;
        await waitUntil(
          'version 2 replays beside version 1',
          async () => {
            const two = await bgDeployment(2);
            const one = await bgDeployment(1);
            maxV2 = Math.max(maxV2, two?.spec.replicas ?? 0);
            v1LiveDuringReplay ||= !!one && (one.status?.readyReplicas ?? 0) >= 1 && !!two;
            return v1LiveDuringReplay;
          },
          { timeoutMs: 60_000, intervalMs: 100 },
        );
        // The leader dies mid-replay; the standby finishes the same promotion.
        killed = await leaseHolder();
        await operators.get(killed)!.proc.kill();
        let sawReplaying = false;
        await waitUntil(
          'version 2 promoted by the standby and version 1 removed',
          async () => {
            const p = await bgPipeline();
            const two = await bgDeployment(2);
            maxV2 = Math.max(maxV2, two?.spec.replicas ?? 0);
            const replay = p?.status?.versions?.find((v) => v.role === 'replaying');
            if (replay?.version === 2) sawReplaying = true;
            return p?.status?.activeVersion === 2 && (await bgDeployment(1)) === null;
          },
          { timeoutMs: 180_000, intervalMs: 200 },
        );
        await startOperator(killed);
        timings.bgSawReplayingStatus = sawReplaying ? 1 : 0;
        // catch-up scaling: the replaying version got more than one replica (bounded by maxReplicas)
        expect(maxV2).toBeGreaterThan(1);
        expect(maxV2).toBeLessThanOrEqual(3);
      } finally {
        probing = false;
        polling = false;
        await prober;
        await probeProducer.disconnect();
        await poller;
      }
      expect(answers).toContain(1);
      expect(answers[answers.length - 1]).toBe(2);

      // Version 1 stayed live: produce -> queryable p99 over the probes answered by version 1.
      latencies.sort((a, b) => a - b);
      const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]!;
      timings.bgProbes = latencies.length;
      timings.bgProbeP50Ms = latencies[Math.floor(latencies.length / 2)]!;
      timings.bgProbeP99Ms = p99;
      expect(latencies.length).toBeGreaterThanOrEqual(5);
      // The target, 2 s (measured 0.14-1.2 s, also at load averages of 20-70, reported in
      // timings). A version frozen by the replay would not answer its probes until it is retired.
      expect(p99).toBeLessThanOrEqual(2000);

      // Version 1's keys and consumer group are gone; Events name start and retirement.
      await waitUntil(
        'version 1 keys and group deleted',
        async () =>
          (await redis.keys(`kf:{${bg}:1:*`)).length === 0 &&
          !(await groupsOf()).includes(`kappaflow.${bg}.v1`),
        { timeoutMs: 60_000 },
      );
      const reasons = (await bgEvents()).map((e) => e.reason);
      expect(reasons).toContain('NewVersion');
      expect(reasons).toContain('VersionRetired');

      // Stop producing; once version 2 has drained, its answers equal the ground truth per window.
      producing = false;
      await producerDone;
      await waitUntil('version 2 drained', async () => (await bgPipeline())?.status?.lag === 0, {
        timeoutMs: 120_000,
      });
      await waitUntil(
        'version 2 equals the ground truth',
        async () => {
          const a = await windows('limit=10000');
          const got = new Map<number, { events: number; total: number }>();
          for (const w of a.windows) {
            const start = typeof w.start === 'number' ? w.start : Date.parse(w.start);
            const t = got.get(start) ?? { events: 0, total: 0 };
            for (const g of w.groups) {
              t.events += g.values.events ?? 0;
              t.total += g.values.total ?? 0;
            }
            got.set(start, t);
          }
          return a.version === 2 && JSON.stringify([...got].sort()) === JSON.stringify([...truth].sort());
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      timings.bgRecords = produced;
    });

    it('manual promotion: a caught-up version waits for the annotation naming it', async () => {
      await kube.mergePatch(paths.pipeline(NS, bg), {
        spec: { reprocessing: { promotion: 'manual' }, aggregates: { top: { max: 'event.n' } } },
      });
      await waitUntil(
        'version 3 caught up and waiting for promotion',
        async () => condition(await bgPipeline(), 'Reprocessing')?.reason === 'WaitingForPromotion',
        { timeoutMs: 120_000, intervalMs: 250 },
      );
      // it stays waiting (several of the processors' 2 s checks) with version 2 serving
      const until = Date.now() + 8000;
      while (Date.now() < until) {
        const p = await bgPipeline();
        expect(p?.status?.activeVersion).toBe(2);
        expect((await windows('limit=1')).version).toBe(2);
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(JSON.parse((await redis.hget(keys.pipelines(), bg))!).activeVersion).toBe(2);
      await kube.mergePatch(paths.pipeline(NS, bg), {
        metadata: { annotations: { 'kappaflow.io/promote': '3' } },
      });
      await waitUntil(
        'version 3 promoted after the annotation',
        async () => (await bgPipeline())?.status?.activeVersion === 3 && (await bgDeployment(2)) === null,
        { timeoutMs: 90_000, intervalMs: 250 },
      );
      expect((await windows('limit=1')).version).toBe(3);
    });

    it('reverting the spec aborts a replay: its Deployment, keys and group go; the active version is untouched', async () => {
      const p0 = (await bgPipeline())!;
      await kube.mergePatch(paths.pipeline(NS, bg), { spec: { aggregates: { low: { min: 'event.n' } } } });
      await waitUntil(
        'version 4 replaying',
        async () => {
          const d = await bgDeployment(4);
          return (d?.status?.readyReplicas ?? 0) >= 1 && (await redis.keys(`kf:{${bg}:4:*`)).length > 0;
        },
        { timeoutMs: 90_000, intervalMs: 250 },
      );
      // revert: the same aggregates as version 3
      await kube.jsonPatch(paths.pipeline(NS, bg), [{ op: 'remove', path: '/spec/aggregates/low' }]);
      await waitUntil(
        'version 4 removed',
        async () =>
          (await bgDeployment(4)) === null &&
          (await redis.keys(`kf:{${bg}:4:*`)).length === 0 &&
          !(await groupsOf()).includes(`kappaflow.${bg}.v4`),
        { timeoutMs: 90_000, intervalMs: 250 },
      );
      const p = await bgPipeline();
      expect(p?.status?.activeVersion).toBe(3);
      expect((await bgDeployment(3))?.metadata.uid).toBeDefined();
      expect(p0.status?.activeVersion).toBe(3);
      await waitUntil(
        'a ReplayAborted Event (posted after the deletions it reports)',
        async () => (await bgEvents()).some((e) => e.reason === 'ReplayAborted'),
        { timeoutMs: 60_000 },
      );
      await waitUntil(
        'Reprocessing back to UpToDate',
        async () => condition(await bgPipeline(), 'Reprocessing')?.reason === 'UpToDate',
      );
      expect((await windows('limit=1')).version).toBe(3);
    });

    it('a replay dead-lettering above reprocessing.maxDeadLetterRatio is held (Degraded ReplayFailing, a Warning Event); the active version is untouched', async () => {
      const { active, next, dep0, answer0 } = await beforeReplay();
      // The new logic reads its event time from a field no record has: every record is dead-lettered.
      await kube.mergePatch(paths.pipeline(NS, bg), {
        spec: {
          source: { eventTime: { field: 'missing' } },
          reprocessing: { promotion: 'auto', maxDeadLetterRatio: 0.1 },
        },
      });
      // Held as soon as its checkpoints count dead letters (the ratio is measured before it could
      // catch up); the replay's speed does not matter here.
      let seen: unknown;
      await waitUntil(
        `version ${next} held as failing`,
        async () => {
          const p = await bgPipeline();
          seen = { conditions: p?.status?.conditions, versions: p?.status?.versions };
          return (
            condition(p, 'Degraded')?.reason === 'ReplayFailing' &&
            condition(p, 'Reprocessing')?.reason === 'ReplayFailing' &&
            p?.status?.versions?.some((v) => v.version === next && v.role === 'replaying') === true
          );
        },
        { timeoutMs: 240_000, intervalMs: 500 },
      ).catch((e: unknown) => {
        throw new Error(`${String(e)}\nlast seen: ${JSON.stringify(seen).slice(0, 3000)}`);
      });
      const degraded = condition(await bgPipeline(), 'Degraded')!;
      expect(degraded.status).toBe('True');
      expect(degraded.message).toMatch(
        new RegExp(`version ${next}'s processors dead-lettered \\d+ of \\d+ records`),
      );
      const gate = JSON.parse((await redis.hget(keys.pipelines(), `${bg}@gate`))!);
      expect(gate).toMatchObject({ version: next, allow: false });
      // It stays held across several of the processors' 2 s checks, the active version serving as before.
      const until = Date.now() + 8000;
      while (Date.now() < until) {
        expect((await bgPipeline())?.status?.activeVersion).toBe(active);
        expect(JSON.parse((await redis.hget(keys.pipelines(), bg))!).activeVersion).toBe(active);
        expect(await answerOf()).toBe(answer0);
        await new Promise((r) => setTimeout(r, 500));
      }
      const failing = (await bgEvents()).filter((e) => e.reason === 'ReplayFailing');
      expect(failing.length).toBeGreaterThanOrEqual(1);
      expect(failing.every((e) => (e as { type?: string }).type === 'Warning')).toBe(true);
      expect(failing[0]!.message).toContain(`version ${next}`);
      // never touched: the same Deployment and pod template, its keys in place
      const dep = (await bgDeployment(active))!;
      expect(dep.metadata.uid).toBe(dep0.metadata.uid);
      expect(JSON.stringify(dep.spec.template)).toBe(JSON.stringify(dep0.spec.template));
      expect((await redis.keys(`kf:{${bg}:${active}:*`)).length).toBeGreaterThan(0);

      // Reverting the logic aborts the held replay; Degraded clears.
      await kube.mergePatch(paths.pipeline(NS, bg), {
        spec: { source: { eventTime: { field: 'ts' } }, reprocessing: { maxDeadLetterRatio: null } },
      });
      await waitUntil(
        `version ${next} removed and Degraded cleared`,
        async () =>
          (await bgDeployment(next)) === null &&
          (await redis.keys(`kf:{${bg}:${next}:*`)).length === 0 &&
          condition(await bgPipeline(), 'Degraded')?.status === 'False',
        { timeoutMs: 120_000, intervalMs: 250 },
      );
      expect((await bgPipeline())?.status?.activeVersion).toBe(active);
      expect((await windows('limit=1')).version).toBe(active);
    });

    it('a replay whose processors crash-loop is not promoted past reprocessing.maxRestarts (Degraded ReplayFailing); the active version is untouched', async () => {
      const { active, next, dep0, answer0 } = await beforeReplay();
      // A real start-up failure: the new version's sink topic collides with an existing topic
      // (Kafka refuses `x_y` beside `x.y`), so each of its processors exits at start and is restarted.
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: `${bg}.out`, numPartitions: 1 }], waitForLeaders: true });
      await admin.disconnect();
      await kube.mergePatch(paths.pipeline(NS, bg), {
        spec: {
          sink: { topic: `${bg}_out` },
          aggregates: { peak: { max: 'event.n' } },
          reprocessing: { promotion: 'auto', maxRestarts: 1 },
        },
      });
      await waitUntil(
        `version ${next} held as crash-looping`,
        async () => {
          const p = await bgPipeline();
          return (
            condition(p, 'Degraded')?.reason === 'ReplayFailing' &&
            condition(p, 'Reprocessing')?.reason === 'ReplayFailing' &&
            p?.status?.versions?.some((v) => v.version === next && v.role === 'replaying') === true
          );
        },
        { timeoutMs: 300_000, intervalMs: 500 },
      );
      expect(condition(await bgPipeline(), 'Degraded')?.message).toMatch(
        new RegExp(
          `version ${next}'s processors restarted \\d+ times \\(more than reprocessing.maxRestarts 1\\)`,
        ),
      );
      expect(JSON.parse((await redis.hget(keys.pipelines(), `${bg}@gate`))!)).toMatchObject({
        version: next,
        allow: false,
      });
      const failing = (await bgEvents()).filter(
        (e) => e.reason === 'ReplayFailing' && e.message.includes(`version ${next}'s processors restarted`),
      );
      expect(failing.length).toBeGreaterThanOrEqual(1);
      expect(failing.every((e) => (e as { type?: string }).type === 'Warning')).toBe(true);
      // the active version serves as before, its Deployment and pod template untouched
      expect((await bgPipeline())?.status?.activeVersion).toBe(active);
      expect(JSON.parse((await redis.hget(keys.pipelines(), bg))!).activeVersion).toBe(active);
      expect(await answerOf()).toBe(answer0);
      const dep = (await bgDeployment(active))!;
      expect(dep.metadata.uid).toBe(dep0.metadata.uid);
      expect(JSON.stringify(dep.spec.template)).toBe(JSON.stringify(dep0.spec.template));

      // Reverting the logic aborts the failing replay; Degraded clears.
      await kube.jsonPatch(paths.pipeline(NS, bg), [
        { op: 'remove', path: '/spec/sink' },
        { op: 'remove', path: '/spec/aggregates/peak' },
      ]);
      await waitUntil(
        `version ${next} removed and Degraded cleared`,
        async () =>
          (await bgDeployment(next)) === null &&
          condition(await bgPipeline(), 'Degraded')?.status === 'False',
        { timeoutMs: 120_000, intervalMs: 250 },
      );
      expect((await bgPipeline())?.status?.activeVersion).toBe(active);
      expect(await answerOf()).toBe(answer0);
    });

    it('upgrade: a Pipeline run by the previous release (one Deployment) moves to its version Deployment without a gap', async () => {
      const up = `up-${id}`;
      const manifest = {
        apiVersion: 'kappaflow.io/v1alpha1',
        kind: 'Pipeline',
        metadata: { name: up, namespace: NS },
        spec: {
          source: { topic: bgTopic, format: 'json', eventTime: { field: 'ts' }, startFrom: 'earliest' },
          window: { type: 'tumbling', size: `${WINDOW_MS / 1000}s`, grace: '1h' },
          aggregates: { events: { count: {} } },
          scaling: { minReplicas: 1, maxReplicas: 1 },
        },
      } as PipelineObject;
      const v = validatePipelineObject(manifest);
      if (!v.ok) throw new Error('upgrade test spec invalid');
      // What the previous release created: kappaflow-<name> (ConfigMap and Deployment, the selector
      // without the version label), running version 1.
      const legacyName = childName(up);
      const settings = {
        image: 'kappaflow:e2e',
        kafkaBrokers: inject('kafkaBrokers').join(','),
        redisUrl: inject('redisUrl'),
        env: { LOG_LEVEL: 'warn' },
      };
      const cm = desiredConfigMap(manifest, 1) as KubeObject & { data: Record<string, string> };
      await kube.create(`/api/v1/namespaces/${NS}/configmaps`, {
        ...cm,
        metadata: { ...cm.metadata, name: legacyName, ownerReferences: undefined },
      });
      const dep = desiredDeployment(manifest, 1, 1, v.normalized.logicFingerprint, settings) as KubeObject & {
        spec: {
          selector: { matchLabels: Record<string, string> };
          template: { spec: { volumes: { name: string; configMap?: { name: string } }[] } };
        };
      };
      delete dep.spec.selector.matchLabels['kappaflow.io/version'];
      dep.spec.template.spec.volumes[0] = { name: 'pipeline', configMap: { name: legacyName } };
      await kube.create(paths.deployments(NS), {
        ...dep,
        metadata: { ...dep.metadata, name: legacyName, ownerReferences: undefined },
      });
      const readyV1 = () =>
        harness.running().filter((r) => r.pod.startsWith(`${legacyName}-`) && r.ready).length;
      await waitUntil("the previous release's processor runs", async () => readyV1() >= 1, {
        timeoutMs: 60_000,
      });

      // The new operator takes the Pipeline over.
      await kube.create(paths.pipelines(NS), manifest);
      let gaps = 0;
      await waitUntil(
        'migrated to kappaflow-<name>-v1',
        async () => {
          if (readyV1() === 0) gaps++;
          return (
            (await kube.getOrNull(paths.deployment(NS, legacyName))) === null &&
            ((await kube.getOrNull<Deployment>(paths.deployment(NS, versionName(up, 1))))?.status
              ?.readyReplicas ?? 0) >= 1
          );
        },
        { timeoutMs: 120_000, intervalMs: 100 },
      );
      expect(gaps).toBe(0);
      // The Event is posted after the step it reports (one sample right after the migration can miss it).
      await waitUntil(
        'a Migrated Event for the Pipeline',
        async () =>
          (
            await kube.list<KubeObject & { reason: string; involvedObject: { name: string } }>(
              paths.events(NS),
            )
          ).items.some((e) => e.involvedObject.name === up && e.reason === 'Migrated'),
        { timeoutMs: 60_000 },
      );
      expect((await kube.getOrNull<Pipeline>(paths.pipeline(NS, up)))?.status?.latestVersion).toBe(1);
      // same version, same group and keys: version 1 counted every record exactly once
      await waitUntil(
        'version 1 counts every record once',
        async () => {
          let total = 0;
          for (let part = 0; part < PARTITIONS; part++) {
            const prefix = partitionPrefix(up, 1, part);
            for (const start of await redis.zrange(keys.windows(prefix), 0, -1))
              total += Number(
                (await redis.hget(keys.window(prefix, Number(start)), fieldOf('events', groupKeyOf([])))) ??
                  0,
              );
          }
          return total === produced;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
    });
  });
});
