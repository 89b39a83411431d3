// Failures on the real node, with exactly-once checked against an independently computed ground
// truth: the processor container SIGKILLed mid-stream; the kubelet restarts it (restartCount, exit
// code 137, the previous container's log) and it resumes from the checkpoints in Redis; then its pod
// deleted mid-stream (SIGTERM drain within the grace period; the ReplicaSet's new pod resumes from the
// checkpoints). Every record is counted exactly once in the query API's answer.
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RealNode, startRealNode } from '../../../harness/real-node.ts';
import { waitUntil } from '../../../harness/service.ts';
import { helm } from '../../../harness/tools.ts';
import { type KubeClient, type KubeObject, paths } from '../../../operator/src/kube/client.ts';
import { selectorString, versionName } from '../../../operator/src/resources.ts';
import {
  containerPid,
  examplePipeline,
  type Installed,
  installChart,
  kubeClient,
  NAMESPACE,
  podLog,
  pods,
  query,
  RELEASE,
  readyPods,
} from './cluster.ts';
import { PageViews } from './page-views.ts';

const CHUNK = 2000;
const CHUNKS = 15;

interface Windows {
  windows: { groups: { values: Record<string, number> }[] }[];
}

describe('real node: container SIGKILL and pod deletion mid-stream, counts exact', () => {
  let node: RealNode;
  let kube: KubeClient;
  let installed: Installed;
  let producer: Producer;
  const pipeline = examplePipeline('page-views.yaml', randomUUID().slice(0, 6));
  const name = pipeline.metadata.name;
  // hostNetwork: one processor pod per node (its port), so no scale-out on the single node
  pipeline.spec.scaling = { minReplicas: 1, maxReplicas: 1 };
  const input = new PageViews(() => producer, pipeline.spec.source.topic, 2);
  const timings: Record<string, number> = {};
  const produceChunk = () => input.send(CHUNK);

  const views = async (filter = '') =>
    (await query<Windows>(installed.processorPort, `/api/v1/pipelines/${name}/windows?rollup=true${filter}`))
      .windows[0]?.groups[0]?.values.views ?? 0;
  const processorPods = async () =>
    (await pods(kube, selectorString(name))).filter((p) => !p.metadata.deletionTimestamp);

  /** Sends chunks until `CHUNKS` are out, running `disrupt` once the query API shows progress. */
  async function streamWith(disrupt: () => Promise<void>): Promise<void> {
    const total = input.produced + CHUNK * CHUNKS;
    await produceChunk();
    await waitUntil('the first records counted', async () => (await views().catch(() => 0)) > 0, {
      timeoutMs: 60_000,
    });
    await produceChunk();
    await disrupt();
    while (input.produced < total) await produceChunk();
  }

  async function expectExact(): Promise<void> {
    let last = -1;
    await waitUntil(
      `exactly ${input.total()} views`,
      async () => {
        last = await views();
        return last === input.total();
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    ).catch((e: unknown) => {
      throw new Error(`${String(e)} (last answer ${last}, expected ${input.total()})`);
    });
    // stays exact: no late duplicates from a replayed batch
    await new Promise((r) => setTimeout(r, 3000));
    expect(await views()).toBe(input.total());
    for (const [page, count] of input.expected) {
      expect(await views(`&page=${encodeURIComponent(page)}`), page).toBe(count);
    }
  }

  beforeAll(async () => {
    node = await startRealNode();
    kube = kubeClient(node);
    installed = await installChart(node, inject('kafkaBrokers'), inject('redisUrl'));
    await readyPods(kube, 'app.kubernetes.io/component=operator', 1);
    const kafka = new Kafka({ brokers: inject('kafkaBrokers'), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: pipeline.spec.source.topic, numPartitions: 2 }] });
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
    console.log(`real-node failure timings (ms): ${JSON.stringify(timings)}`);
  });

  it('SIGKILL of the processor container: the kubelet restarts it and nothing is lost or doubled', async () => {
    const [before] = await processorPods();
    let killedAt = 0;
    await streamWith(async () => {
      process.kill(containerPid(before!), 'SIGKILL');
      killedAt = Date.now();
    });
    await waitUntil(
      'the kubelet restarted the container',
      async () => {
        const [p] = await processorPods();
        const c = p?.status?.containerStatuses?.[0];
        return p?.metadata.uid === before!.metadata.uid && (c?.restartCount ?? 0) >= 1 && c?.ready === true;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    ).catch(async (e: unknown) => {
      const [p] = await processorPods();
      const log = String(p ? await podLog(kube, p.metadata.name).catch(String) : '');
      throw new Error(`${String(e)}\n${JSON.stringify(p?.status?.containerStatuses)}\n${log.slice(-3000)}`);
    });
    timings.sigkillToReadyAgainMs = Date.now() - killedAt;
    const [after] = await processorPods();
    expect(after!.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode).toBe(137);
    await expectExact();
    timings.sigkillToExactMs = Date.now() - killedAt;
    // the killed container's log is still there (kubelet keeps the previous one)
    expect(await podLog(kube, after!.metadata.name, { previous: true })).toContain(name);
  });

  it('deleting the processor pod mid-stream: a new pod takes over from the checkpoints, counts exact', async () => {
    const [before] = await processorPods();
    let deletedAt = 0;
    await streamWith(async () => {
      await kube.delete(paths.pod(NAMESPACE, before!.metadata.name));
      deletedAt = Date.now();
    });
    let current: Awaited<ReturnType<typeof processorPods>> = [];
    await waitUntil(
      'a new Ready processor pod',
      async () => {
        current = await processorPods();
        return (
          current.length === 1 &&
          current[0]!.metadata.uid !== before!.metadata.uid &&
          current[0]!.status?.containerStatuses?.[0]?.ready === true
        );
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${JSON.stringify(current.map((p) => p.status)).slice(0, 3000)}`);
    });
    timings.deleteToNewPodReadyMs = Date.now() - deletedAt;
    await expectExact();
    timings.deleteToExactMs = Date.now() - deletedAt;
    expect(input.produced).toBe(CHUNK * CHUNKS * 2);
  });

  it('SIGKILL of the operator container: the kubelet restarts it and a later spec change takes effect', async () => {
    const selector = 'app.kubernetes.io/component=operator';
    const [before] = await readyPods(kube, selector, 1);
    const restarts = before!.status?.containerStatuses?.[0]?.restartCount ?? 0;
    process.kill(containerPid(before!), 'SIGKILL');
    const killedAt = Date.now();
    await waitUntil(
      'the kubelet restarted the operator container',
      async () => {
        const [p] = (await pods(kube, selector)).filter((x) => !x.metadata.deletionTimestamp);
        const c = p?.status?.containerStatuses?.[0];
        return (
          p?.metadata.uid === before!.metadata.uid && (c?.restartCount ?? 0) > restarts && c?.ready === true
        );
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    timings.operatorSigkillToReadyMs = Date.now() - killedAt;
    const [after] = await pods(kube, selector);
    expect(after!.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode).toBe(137);
    // The restarted operator (leader again through its Lease) acts on a change made after the crash:
    // external scaling to 0 replicas.
    const generation = (await kube.get(paths.pipeline(NAMESPACE, name))).metadata.generation ?? 0;
    await kube.mergePatch(paths.pipeline(NAMESPACE, name), {
      spec: { scaling: { mode: 'external' }, replicas: 0 },
    });
    await waitUntil(
      'the restarted operator scales the processors to 0',
      async () => {
        const p = await kube.get<KubeObject & { status?: { observedGeneration?: number } }>(
          paths.pipeline(NAMESPACE, name),
        );
        const d = await kube.getOrNull<KubeObject & { spec: { replicas: number } }>(
          paths.deployment(NAMESPACE, versionName(name, 1)),
        );
        return (
          (p.status?.observedGeneration ?? 0) > generation &&
          d?.spec.replicas === 0 &&
          (await processorPods()).length === 0
        );
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    timings.operatorSigkillToSpecAppliedMs = Date.now() - killedAt;
  });
});
