// Scale-out on real pods: three kubelet nodes on this machine (127.0.0.1-3, each with its own
// containerd and cgroup root; harness/real-node.ts), processor pods with hostNetwork on the same port,
// one per node, each listening on its pod IP. A burst of input makes the operator's lag-based
// autoscaler scale the Deployment out; the new pods really start on the other nodes, become Ready
// through their probes and take partitions over; the counts stay exact against the ground truth.
// Then what only a node enforces: the chart's memory limit in the container's cgroup, and the API
// server refusing an eviction that would break the operator's PodDisruptionBudget. Last, the other two
// example pipelines side by side (one processor pod per node and port) with live answers.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RealNode, startRealNode } from '../../../harness/real-node.ts';
import { waitUntil } from '../../../harness/service.ts';
import { helm } from '../../../harness/tools.ts';
import { type KubeClient, KubeError, type KubeObject, paths } from '../../../operator/src/kube/client.ts';
import { selectorString, versionName } from '../../../operator/src/resources.ts';
import {
  containerPid,
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

const NODES = 3;
const PARTITIONS = 6;
const CHUNK = 2000;
/** a bound on the input, so a scaler that never acts fails the test instead of filling the disk */
const MAX_RECORDS = 1_000_000;

interface Windows {
  windows: { groups: { values: Record<string, number> }[] }[];
}

describe('real node: a burst scales processors out over three nodes, counts exact', () => {
  let node: RealNode;
  let kube: KubeClient;
  let installed: Installed;
  let producer: Producer;
  const pipeline = examplePipeline('page-views.yaml', randomUUID().slice(0, 6));
  const name = pipeline.metadata.name;
  // one processor pod per node (hostNetwork, one port): at most NODES replicas
  pipeline.spec.scaling = { minReplicas: 1, maxReplicas: NODES, lagThreshold: 2000 };
  const input = new PageViews(() => producer, pipeline.spec.source.topic, PARTITIONS);
  const timings: Record<string, number> = {};

  async function produceChunk(): Promise<void> {
    if (input.produced >= MAX_RECORDS)
      throw new Error(`${input.produced} records sent and the condition still not met`);
    await input.send(CHUNK);
  }

  /**
   * Sends rounds of `chunks` chunks until `done` holds; after each round it checks `done` every
   * 500 ms for `pauseMs` (the input comes in bursts, so the backlog builds up whatever the speed of
   * the processors on this machine).
   */
  async function produceUntil(
    what: string,
    done: () => Promise<boolean>,
    options: { timeoutMs: number; chunks: number; pauseMs: number },
  ): Promise<void> {
    const deadline = Date.now() + options.timeoutMs;
    const check = () => done().catch(() => false);
    for (;;) {
      for (let i = 0; i < options.chunks; i++) await produceChunk();
      const until = Date.now() + options.pauseMs;
      do {
        if (await check()) return;
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${what} (${input.produced} records sent)`);
        await new Promise((r) => setTimeout(r, 500));
      } while (Date.now() < until);
    }
  }

  const processorPods = async () =>
    (await pods(kube, selectorString(name))).filter((p) => !p.metadata.deletionTimestamp);
  const ready = async () => (await processorPods()).filter(podReady);
  /** records this pod folded and committed, from its own /metrics on its pod IP */
  const aggregatedBy = async (pod: Pod): Promise<number> => {
    const res = await fetch(`http://${pod.status?.podIP}:${installed.processorPort}/metrics`);
    const text = await res.text();
    return text
      .split('\n')
      .filter((l) => l.startsWith('kappaflow_records_aggregated_total'))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  };
  const views = async (filter = '') => {
    const [pod] = await ready();
    const answer = await query<Windows>(
      installed.processorPort,
      `/api/v1/pipelines/${name}/windows?rollup=true${filter}`,
      pod?.status?.podIP,
    );
    return answer.windows[0]?.groups[0]?.values.views ?? 0;
  };

  beforeAll(async () => {
    const t0 = Date.now();
    node = await startRealNode({ nodes: NODES });
    timings.nodesUpMs = Date.now() - t0;
    kube = kubeClient(node);
    installed = await installChart(node, inject('kafkaBrokers'), inject('redisUrl'), [
      '--set',
      'operator.podDisruptionBudget.enabled=true',
      // the autoscaler looks every 2 s (default 10 s), so a burst is seen while it is still a backlog
      '--set-string',
      'operator.extraEnv[3].name=SCALE_INTERVAL_SECONDS,operator.extraEnv[3].value=2',
    ]);
    await readyPods(kube, 'app.kubernetes.io/component=operator', 1);
    const kafka = new Kafka({ brokers: inject('kafkaBrokers'), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: pipeline.spec.source.topic, numPartitions: PARTITIONS }] });
    await admin.disconnect();
    producer = kafka.producer();
    await producer.connect();
    await kube.create(paths.pipelines(NAMESPACE), pipeline);
    await readyPods(kube, selectorString(name), 1);
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
    console.log(`real-node scale timings (ms): ${JSON.stringify(timings)}`);
  });

  it('a burst scales the Deployment out; new pods start on other nodes, become Ready and share the partitions', async () => {
    const nodes = (await kube.list('/api/v1/nodes')).items.map((n) => n.metadata.name).sort();
    expect(nodes).toEqual(node.nodes.map((n) => n.name).sort());
    const deployment = paths.deployment(NAMESPACE, versionName(name, 1));
    const t0 = Date.now();
    await produceUntil(
      'the operator to scale the Deployment out',
      async () =>
        ((await kube.get<KubeObject & { spec: { replicas: number } }>(deployment)).spec.replicas ?? 0) >= 2,
      { timeoutMs: 240_000, chunks: 50, pauseMs: 5000 },
    );
    timings.burstToScaleOutMs = Date.now() - t0;
    // The new pods run on other nodes (one port per node), listen on their own pod IP and pass probes.
    let seen: Pod[] = [];
    await produceUntil(
      'two or more Ready processor pods that each committed records',
      async () => {
        seen = await ready();
        if (seen.length < 2) return false;
        const counts = await Promise.all(seen.map(aggregatedBy));
        return counts.every((c) => c > 0);
      },
      { timeoutMs: 300_000, chunks: 1, pauseMs: 0 },
    ).catch(async (e: unknown) => {
      const all = await processorPods();
      throw new Error(
        `${String(e)}\n${JSON.stringify(all.map((p) => [p.spec.nodeName, p.status]))}`.slice(0, 4000),
      );
    });
    timings.burstToSharedMs = Date.now() - t0;
    const onNodes = seen.map((p) => p.spec.nodeName);
    expect(new Set(onNodes).size, JSON.stringify(onNodes)).toBe(seen.length);
    for (const pod of seen) expect(pod.status?.podIP).toBe(pod.spec.nodeName);
    timings.readyProcessors = seen.length;
  });

  it('counts are exact against the ground truth after the scale-out', async () => {
    let last = -1;
    await waitUntil(
      'exact totals',
      async () => {
        last = await views();
        return last === input.total();
      },
      { timeoutMs: 240_000, intervalMs: 1000 },
    ).catch((e: unknown) => {
      throw new Error(
        `${String(e)} (last answer ${last}, expected ${input.total()} of ${input.produced} sent)`,
      );
    });
    await new Promise((r) => setTimeout(r, 3000));
    expect(await views()).toBe(input.total());
    for (const [page, count] of input.expected) {
      expect(await views(`&page=${encodeURIComponent(page)}`), page).toBe(count);
    }
    timings.recordsSent = input.produced;
  });

  it('the chart’s processor memory limit is the container’s cgroup limit on the node', async () => {
    const [pod] = await ready();
    const memory = readFileSync(`/proc/${containerPid(pod!)}/cgroup`, 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => f[1]?.split(',').includes('memory'));
    expect(memory, 'a memory cgroup').toBeDefined();
    const limit = readFileSync(`/sys/fs/cgroup/memory${memory![2]}/memory.limit_in_bytes`, 'utf8').trim();
    expect(Number(limit)).toBe(512 * 1024 * 1024); // values.yaml processor.resources.limits.memory 512Mi
  });

  it('an eviction that would break the operator’s PodDisruptionBudget is refused; a processor pod’s is not', async () => {
    const pdb = `/apis/policy/v1/namespaces/${NAMESPACE}/poddisruptionbudgets/${RELEASE}-operator`;
    type Pdb = KubeObject & {
      status?: { observedGeneration?: number; currentHealthy?: number; disruptionsAllowed?: number };
    };
    await waitUntil(
      'the disruption controller to count the operator pod',
      async () => {
        const p = await kube.get<Pdb>(pdb);
        return (
          (p.status?.observedGeneration ?? 0) >= (p.metadata.generation ?? 1) &&
          p.status?.currentHealthy === 1
        );
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect((await kube.get<Pdb>(pdb)).status?.disruptionsAllowed).toBe(0);
    const evict = (pod: Pod) =>
      kube.create(`${paths.pod(NAMESPACE, pod.metadata.name)}/eviction`, {
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name: pod.metadata.name, namespace: NAMESPACE },
      });
    const [operator] = await readyPods(kube, 'app.kubernetes.io/component=operator', 1);
    const refused = await evict(operator!).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(KubeError);
    expect((refused as KubeError).status).toBe(429);
    expect((refused as KubeError).message).toMatch(/disruption budget/);
    const [still] = await pods(kube, 'app.kubernetes.io/component=operator');
    expect(still?.metadata.uid).toBe(operator!.metadata.uid);
    expect(still?.metadata.deletionTimestamp).toBeUndefined();
    // no budget covers the processors: the same request evicts one (a graceful delete)
    const [processor] = await ready();
    await evict(processor!);
    await waitUntil(
      'the evicted processor pod to go',
      async () =>
        (await kube.getOrNull(paths.pod(NAMESPACE, processor!.metadata.name)))?.metadata.uid !==
        processor!.metadata.uid,
      { timeoutMs: 120_000, intervalMs: 500 },
    );
  });

  it('the other two examples run side by side on the nodes with live answers (hopping + enrich + sink, sessions)', async () => {
    // frees the processor port on the nodes (one processor pod per node and port): scaled to 0
    const t0 = Date.now();
    await kube.mergePatch(paths.pipeline(NAMESPACE, name), {
      spec: { scaling: { mode: 'external' }, replicas: 0 },
    });
    await waitUntil(
      'the scaled pipeline’s pods gone',
      async () => (await pods(kube, selectorString(name))).length === 0,
      {
        timeoutMs: 180_000,
        intervalMs: 500,
      },
    );
    timings.scaleToZeroMs = Date.now() - t0;
    const id = randomUUID().slice(0, 6);
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 60 * 60_000;
    const cases = [
      {
        pipeline: examplePipeline('orders-hopping.yaml', id),
        countName: 'orders',
        // 100 orders, 80 paid; each paid order falls in 15 hopping windows (15m every 1m)
        expected: 80 * 15,
        records: Array.from({ length: 100 }, (_, i) => ({
          value: JSON.stringify({
            created_at: new Date(base + i * 5000).toISOString(),
            state: i % 5 === 0 ? 'pending' : 'paid',
            merchant_id: `m${i % 3}`,
            amount: 10 + (i % 7),
          }),
        })),
      },
      {
        pipeline: examplePipeline('sessions.yaml', id),
        countName: 'clicks',
        expected: 120,
        // record keys are not the group key: the processors repartition by user first
        records: Array.from({ length: 120 }, (_, i) => ({
          key: `k${i % 11}`,
          value: JSON.stringify({ ts: base + i * 20_000, user_id: `u${i % 4}`, path: `/p${i % 6}` }),
        })),
      },
    ];
    // the enrichment table the orders example joins against (shared Redis: same values every run)
    const redis = new Redis(inject('redisUrl'));
    await redis.hset('merchants:region', 'm0', 'eu', 'm1', 'us', 'm2', 'apac');
    redis.disconnect();
    const kafka = new Kafka({ brokers: inject('kafkaBrokers'), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: cases.map((c) => ({ topic: c.pipeline.spec.source.topic as string, numPartitions: 3 })),
      waitForLeaders: true,
    });
    await admin.disconnect();
    for (const c of cases) {
      c.pipeline.spec.scaling = { minReplicas: 1, maxReplicas: 1 };
      await kube.create(paths.pipelines(NAMESPACE), c.pipeline);
    }
    for (const c of cases) {
      const [pod] = await readyPods(kube, selectorString(c.pipeline.metadata.name), 1);
      await producer.send({ topic: c.pipeline.spec.source.topic as string, messages: c.records });
      let total = -1;
      await waitUntil(
        `${c.expected} ${c.countName} from ${c.pipeline.metadata.name}`,
        async () => {
          const answer = await query<Windows>(
            installed.processorPort,
            `/api/v1/pipelines/${c.pipeline.metadata.name}/windows?rollup=true&limit=1000`,
            pod!.status?.podIP,
          );
          total = answer.windows
            .flatMap((w) => w.groups)
            .reduce((sum, g) => sum + (g.values[c.countName] ?? 0), 0);
          return total >= c.expected;
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      ).catch((e: unknown) => {
        throw new Error(`${String(e)} (last total ${total})`);
      });
      expect(total, c.pipeline.metadata.name).toBe(c.expected);
      timings[`${c.countName}ExactMs`] = Date.now() - t0;
    }
    const nodesUsed = await Promise.all(
      cases.map(async (c) => (await pods(kube, selectorString(c.pipeline.metadata.name)))[0]?.spec.nodeName),
    );
    expect(new Set(nodesUsed).size).toBe(2);
  });
});
