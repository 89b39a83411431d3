// What the node enforces on Kappaflow's pods, on two kubelet nodes (harness/real-node.ts):
// - the query pods' PodDisruptionBudget: with two query pods and minAvailable 1, one eviction goes
//   through and a second, while the first pod's replacement is not Ready, is refused with 429;
// - a processor container over its memory limit (the chart's processor.resources, set too small) is
//   killed by the kernel's cgroup OOM killer and restarted by the kubelet (restartCount, reason
//   OOMKilled); once the limit is raised with `helm upgrade`, every record sent meanwhile is counted
//   exactly once, by the processor and by the query pods.
// Part of `npm run test:node` (KAPPAFLOW_NODE_FULL=1), not of `npm test`.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { repoRoot } from '../../../harness/paths.ts';
import { freePorts } from '../../../harness/ports.ts';
import { type RealNode, startRealNode } from '../../../harness/real-node.ts';
import { waitUntil } from '../../../harness/service.ts';
import { helm } from '../../../harness/tools.ts';
import { type KubeClient, KubeError, type KubeObject, paths } from '../../../operator/src/kube/client.ts';
import { selectorString } from '../../../operator/src/resources.ts';
import {
  examplePipeline,
  type Installed,
  installChart,
  kubeClient,
  NAMESPACE,
  type Pod,
  podReady,
  pods,
  query,
  RELEASE,
  readyPods,
} from './cluster.ts';
import { PageViews } from './page-views.ts';

const PARTITIONS = 3;
const CHUNK = 1000;
/**
 * Below what a processor needs to start (the kernel killed it at 67-69 MiB resident with 80Mi).
 * Above that, its memory is bounded by the fetch size: with 8 KB records streaming in, it stayed at
 * 84 MiB resident under a 104Mi limit, so input alone does not push a right-sized processor over.
 */
const SMALL_LIMIT = '64Mi';
const QUERY = 'app.kubernetes.io/component=query';

interface Windows {
  windows: { groups: { values: Record<string, number> }[] }[];
}

describe('real nodes: the query pods’ disruption budget, and a processor OOM-killed over its memory limit', () => {
  let node: RealNode;
  let kube: KubeClient;
  let installed: Installed;
  let queryPort: number;
  let producer: Producer;
  const pipeline = examplePipeline('page-views.yaml', randomUUID().slice(0, 6));
  const name = pipeline.metadata.name;
  pipeline.spec.scaling = { minReplicas: 1, maxReplicas: 1 };
  const input = new PageViews(() => producer, pipeline.spec.source.topic, PARTITIONS);
  const timings: Record<string, number | string | boolean> = {};
  const produceChunk = () => input.send(CHUNK);

  const evict = (pod: Pod) =>
    kube.create(`${paths.pod(NAMESPACE, pod.metadata.name)}/eviction`, {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: pod.metadata.name, namespace: NAMESPACE },
    });

  beforeAll(async () => {
    const t0 = Date.now();
    node = await startRealNode({ nodes: 2 });
    timings.nodesUpMs = Date.now() - t0;
    kube = kubeClient(node);
    [queryPort] = (await freePorts(1)) as [number];
    installed = await installChart(node, inject('kafkaBrokers'), inject('redisUrl'), [
      '--set',
      'query.server.enabled=true',
      '--set',
      'query.server.hostNetwork=true',
      '--set',
      `query.server.port=${queryPort}`,
      '--set',
      'query.server.podDisruptionBudget.enabled=true',
      '--set',
      'query.server.resources.requests.cpu=50m',
      '--set',
      `processor.resources.limits.memory=${SMALL_LIMIT}`,
      '--set',
      `processor.resources.requests.memory=${SMALL_LIMIT}`,
    ]);
    await readyPods(kube, 'app.kubernetes.io/component=operator', 1);
    const kafka = new Kafka({ brokers: inject('kafkaBrokers'), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: pipeline.spec.source.topic, numPartitions: PARTITIONS }] });
    await admin.disconnect();
    producer = kafka.producer();
    await producer.connect();
  });

  afterAll(async () => {
    await producer?.disconnect();
    if (node) {
      await helm(
        ['uninstall', RELEASE, '--namespace', NAMESPACE, '--wait', '--timeout', '120s'],
        node.api,
      ).catch(() => undefined);
    }
    kube?.close();
    await node?.stop();
    console.log(`real-node limits timings: ${JSON.stringify(timings)}`);
  });

  it('the query pods’ budget lets one eviction through and refuses a second (429) until the replacement is Ready', async () => {
    const t0 = Date.now();
    const before = await readyPods(kube, QUERY, 2);
    timings.queryPodsReadyMs = Date.now() - t0;
    // one per node (hostNetwork, one port), each listening on its own pod IP
    expect(new Set(before.map((p) => p.spec.nodeName)).size).toBe(2);
    for (const pod of before) {
      expect((await fetch(`http://${pod.status?.podIP}:${queryPort}/readyz`)).status).toBe(200);
    }
    const pdb = `/apis/policy/v1/namespaces/${NAMESPACE}/poddisruptionbudgets/${RELEASE}-query`;
    type Pdb = KubeObject & {
      status?: { observedGeneration?: number; currentHealthy?: number; disruptionsAllowed?: number };
    };
    await waitUntil(
      'the disruption controller to count both query pods',
      async () => {
        const p = await kube.get<Pdb>(pdb);
        return (
          (p.status?.observedGeneration ?? 0) >= (p.metadata.generation ?? 1) &&
          p.status?.currentHealthy === 2 &&
          p.status.disruptionsAllowed === 1
        );
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const [first, second] = before as [Pod, Pod];
    await evict(first); // within the budget: a graceful delete
    const refused = await evict(second).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(KubeError);
    expect((refused as KubeError).status).toBe(429);
    expect((refused as KubeError).message).toMatch(/disruption budget/);
    const still = await kube.get<Pod>(paths.pod(NAMESPACE, second.metadata.name));
    expect(still.metadata.uid).toBe(second.metadata.uid);
    expect(still.metadata.deletionTimestamp).toBeUndefined();
    // the ReplicaSet's replacement takes the freed node; then the budget allows one disruption again
    const after = await readyPods(kube, QUERY, 2);
    expect(after.map((p) => p.metadata.uid)).not.toContain(first.metadata.uid);
    expect(after.map((p) => p.metadata.uid)).toContain(second.metadata.uid);
    await waitUntil(
      'the budget to allow one disruption again',
      async () => (await kube.get<Pdb>(pdb)).status?.disruptionsAllowed === 1,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    timings.queryPdbMs = Date.now() - t0;
  });

  it('a processor over its memory limit is OOM-killed by the kernel and restarted by the kubelet; with the limit raised, counts are exact', async () => {
    const t0 = Date.now();
    await kube.create(paths.pipelines(NAMESPACE), pipeline);
    let oomPod: Pod | undefined;
    let countedBeforeOom = 0;
    const oomKilled = (p: Pod) =>
      p.status?.containerStatuses?.find(
        (c) =>
          c.restartCount >= 1 &&
          c.lastState?.terminated?.reason === 'OOMKilled' &&
          c.lastState.terminated.exitCode === 137,
      );
    const counted = async (pod: Pod) =>
      (
        await query<Windows>(
          installed.processorPort,
          `/api/v1/pipelines/${name}/windows?rollup=true`,
          pod.status?.podIP,
        ).catch(() => null)
      )?.windows[0]?.groups[0]?.values.views ?? 0;
    // Input keeps coming, as on a live topic, until the kubelet reports an OOM kill (bounded).
    const deadline = Date.now() + 180_000;
    while (!oomPod) {
      if (Date.now() > deadline) {
        const seen = await pods(kube, selectorString(name));
        throw new Error(
          `no OOMKilled processor container after ${input.produced} records: ${JSON.stringify(seen.map((p) => p.status?.containerStatuses)).slice(0, 3000)}`,
        );
      }
      if (input.produced < 40 * CHUNK) await produceChunk();
      const current = await pods(kube, selectorString(name));
      oomPod = current.find(oomKilled);
      for (const pod of current.filter(podReady))
        countedBeforeOom = Math.max(countedBeforeOom, await counted(pod));
      if (!oomPod) await new Promise((r) => setTimeout(r, 250));
    }
    timings.oomKilledAfterMs = Date.now() - t0;
    timings.recordsBeforeOom = input.produced;
    timings.countedBeforeOom = countedBeforeOom;
    const status = oomKilled(oomPod) as NonNullable<ReturnType<typeof oomKilled>>;
    timings.lastState = JSON.stringify(status.lastState?.terminated);
    // The kernel's own account: a cgroup OOM kill inside this pod's memory cgroup.
    const kernel = execFileSync('dmesg', { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('oom-kill:') && l.includes(`pod${oomPod.metadata.uid}`));
    expect(kernel.length, 'a kernel oom-kill line for the pod').toBeGreaterThan(0);
    expect(kernel[0]).toContain('constraint=CONSTRAINT_MEMCG');
    // ... and the kubelet keeps restarting it (CrashLoopBackOff between attempts), never giving up.
    await waitUntil(
      'a second restart',
      async () => {
        const p = await kube.getOrNull<Pod>(paths.pod(NAMESPACE, oomPod!.metadata.name));
        return (p?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    timings.secondRestartMs = Date.now() - t0;

    // The fix a user makes: a limit the processor fits in. The operator rolls the Deployment.
    await helm(
      [
        'upgrade',
        RELEASE,
        join(repoRoot, 'charts', 'kappaflow'),
        '--namespace',
        NAMESPACE,
        '--reuse-values',
        '--set',
        'processor.resources.limits.memory=512Mi',
        '--set',
        'processor.resources.requests.memory=128Mi',
      ],
      node.api,
    );
    await produceChunk(); // and more input after the fix
    let last = -1;
    let lastFromQueryPods: number[] = [];
    await waitUntil(
      `exactly ${input.total()} views from the processor and both query pods`,
      async () => {
        const ready = (await pods(kube, selectorString(name))).filter(
          (p) => podReady(p) && !p.metadata.deletionTimestamp,
        );
        if (ready.length !== 1) return false;
        const answer = await query<Windows>(
          installed.processorPort,
          `/api/v1/pipelines/${name}/windows?rollup=true`,
          ready[0]?.status?.podIP,
        );
        last = answer.windows[0]?.groups[0]?.values.views ?? 0;
        if (last !== input.total()) return false;
        const servers = (await pods(kube, QUERY)).filter(podReady);
        lastFromQueryPods = await Promise.all(
          servers.map(
            async (s) =>
              (
                await query<Windows>(
                  queryPort,
                  `/api/v1/pipelines/${name}/windows?rollup=true`,
                  s.status?.podIP,
                )
              ).windows[0]?.groups[0]?.values.views ?? 0,
          ),
        );
        return servers.length === 2 && lastFromQueryPods.every((v) => v === input.total());
      },
      { timeoutMs: 240_000, intervalMs: 1000 },
    ).catch((e: unknown) => {
      throw new Error(
        `${String(e)} (processor ${last}, query pods ${JSON.stringify(lastFromQueryPods)}, expected ${input.total()} of ${input.produced} sent)`,
      );
    });
    timings.exactAfterMs = Date.now() - t0;
    timings.recordsSent = input.produced;
    const [processor] = (await pods(kube, selectorString(name))).filter(podReady);
    // the new pod runs with the raised limit and has not been OOM-killed
    expect(processor?.status?.containerStatuses?.[0]?.lastState?.terminated).toBeUndefined();
    for (const [page, count] of input.expected) {
      const answer = await query<Windows>(
        installed.processorPort,
        `/api/v1/pipelines/${name}/windows?rollup=true&page=${encodeURIComponent(page)}`,
        processor?.status?.podIP,
      );
      expect(answer.windows[0]?.groups[0]?.values.views, page).toBe(count);
    }
  });
});
