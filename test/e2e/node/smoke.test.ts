// The reference install on a real node (containerd + runc + kubelet, harness/real-node.ts): the image
// built from the Dockerfile, `helm install` of the chart, the operator pod Running with its
// ServiceAccount (in-cluster config), an example Pipeline's processor pod Running and Ready through
// its probes, reading the tests' Kafka and Redis on loopback, a live exact answer through the query
// API, logs through the API server, and `helm uninstall`.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RealNode, startRealNode } from '../../../harness/real-node.ts';
import { waitUntil } from '../../../harness/service.ts';
import { helm } from '../../../harness/tools.ts';
import { type KubeClient, paths } from '../../../operator/src/kube/client.ts';
import { childName, selectorString } from '../../../operator/src/resources.ts';
import {
  containerPid,
  examplePipeline,
  execInContainer,
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

const RECORDS = 3000;
const NODE = '/nodejs/bin/node';
/** the image's entrypoint (Dockerfile ENTRYPOINT) */
const KAPPAFLOW = [NODE, '/app/bin/kappaflow.js'];
/** node -e: writes argv[2] to the file argv[1] */
const WRITE = "require('fs').writeFileSync(process.argv[1], process.argv[2])";
const PAGES = ['/', '/docs', '/pricing'];

interface Windows {
  windows: { start: number; groups: { group: Record<string, unknown>; values: Record<string, number> }[] }[];
}

describe('real node: helm install, operator and a pipeline in containers', () => {
  let node: RealNode;
  let kube: KubeClient;
  let installed: Installed;
  const id = randomUUID().slice(0, 6);
  const pipeline = examplePipeline('page-views.yaml', id);
  const name = pipeline.metadata.name;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    const t0 = Date.now();
    node = await startRealNode();
    timings.nodeUpMs = Date.now() - t0;
    kube = kubeClient(node);
  });

  afterAll(async () => {
    kube?.close();
    await node?.stop();
    console.log(`real-node smoke timings (ms): ${JSON.stringify(timings)}`);
  });

  it('helm install runs the operator pod from the local image with its ServiceAccount', async () => {
    const t0 = Date.now();
    installed = await installChart(node, inject('kafkaBrokers'), inject('redisUrl'));
    const [operator] = await readyPods(kube, 'app.kubernetes.io/component=operator', 1);
    timings.installToOperatorReadyMs = Date.now() - t0;
    expect(operator!.spec.nodeName).toBe(node.nodeName);
    expect(operator!.spec.serviceAccountName).toBe(`${RELEASE}-operator`);
    expect(operator!.status?.containerStatuses?.[0]).toMatchObject({ ready: true, restartCount: 0 });
    // The container really runs the image as user 10001 (the Dockerfile's USER), found by its cgroup.
    const pid = containerPid(operator!);
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Uid:\s+10001\s/m);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toEqual(
      expect.arrayContaining(['/nodejs/bin/node', '/app/bin/kappaflow.js', 'operator']),
    );
    // /healthz of the operator on the node's loopback (hostNetwork)
    expect((await fetch(`http://127.0.0.1:${installed.operatorPort}/healthz`)).ok).toBe(true);
  });

  it('the operator (in-cluster config) turns an example Pipeline into a Ready processor pod', async () => {
    const kafka = new Kafka({ brokers: inject('kafkaBrokers'), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: pipeline.spec.source.topic, numPartitions: 2 }] });
    await admin.disconnect();
    const t0 = Date.now();
    await kube.create(paths.pipelines(NAMESPACE), pipeline);
    const [processor] = await readyPods(kube, selectorString(name), 1);
    timings.pipelineToProcessorReadyMs = Date.now() - t0;
    expect(processor!.metadata.name.startsWith(childName(name))).toBe(true);
    expect(processor!.spec.hostNetwork).toBe(true);
    expect(processor!.status?.podIP).toBe('127.0.0.1');
    // Only the operator can have created the Deployment: it reached the API with its own token.
    const deployments = await kube.list(paths.deployments(NAMESPACE), {
      labelSelector: selectorString(name),
    });
    expect(deployments.items[0]?.metadata.ownerReferences?.[0]?.name).toBe(name);
  });

  it('answers live through the query API with exact counts', async () => {
    const minute = Math.floor(Date.now() / 60_000) * 60_000 - 5 * 60_000;
    const expected = new Map<string, number>();
    const messages = Array.from({ length: RECORDS }, (_, i) => {
      const path = PAGES[i % PAGES.length] as string;
      const status = i % 10 === 0 ? 503 : 200; // the example's `where` drops 5xx
      if (status < 500) expected.set(path, (expected.get(path) ?? 0) + 1);
      return {
        value: JSON.stringify({
          ts: minute + (i % 60) * 1000,
          path,
          status,
          country: 'DE',
          bytes: 100,
          latency_ms: i % 100,
          user_id: `u${i % 50}`,
          referrer: 'r',
        }),
      };
    });
    const kafka = new Kafka({ brokers: inject('kafkaBrokers'), logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: pipeline.spec.source.topic, messages });
    await producer.disconnect();
    const total = [...expected.values()].reduce((a, b) => a + b, 0);
    const t0 = Date.now();
    let seen: Windows | undefined;
    await waitUntil(
      `all ${total} views in the query API`,
      async () => {
        seen = await query<Windows>(installed.processorPort, `/api/v1/pipelines/${name}/windows?rollup=true`);
        return seen.windows[0]?.groups[0]?.values.views === total;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}\nlast answer: ${JSON.stringify(seen ?? null).slice(0, 2000)}`);
    });
    timings.produceToExactAnswerMs = Date.now() - t0;
    expect(seen!.windows).toHaveLength(1);
    expect(seen!.windows[0]!.start).toBe(minute);
    for (const [page, count] of expected) {
      const byPage = await query<Windows>(
        installed.processorPort,
        `/api/v1/pipelines/${name}/windows?rollup=true&page=${encodeURIComponent(page)}`,
      );
      expect(byPage.windows[0]?.groups[0]?.values.views, page).toBe(count);
    }
  });

  it('shows the pods’ logs through the API server (kubelet on loopback)', async () => {
    const [operator] = await pods(kube, 'app.kubernetes.io/component=operator');
    expect(await podLog(kube, operator!.metadata.name)).toMatch(/"msg"/);
    const [processor] = await pods(kube, selectorString(name));
    expect(await podLog(kube, processor!.metadata.name)).toContain(name);
  });

  it('kappaflow --help and validate run inside the image (exec in the running containers)', async () => {
    const [processor] = await pods(kube, selectorString(name));
    const [operator] = await pods(kube, 'app.kubernetes.io/component=operator');
    const help = await execInContainer(node, processor!, [...KAPPAFLOW, '--help']);
    expect(help.code, help.output).toBe(0);
    expect(help.output).toMatch(/^Usage: kappaflow /m);
    expect(help.output).toMatch(/^\s+validate /m);
    // the spec the operator mounted from the Pipeline's ConfigMap
    const valid = await execInContainer(node, processor!, [
      ...KAPPAFLOW,
      'validate',
      '/etc/kappaflow/pipeline.yaml',
    ]);
    expect(valid.code, valid.output).toBe(0);
    expect(valid.output).toContain(`${name} ok`);
    // a bad spec, written where the operator's pod declares a writable directory (/tmp)
    const bad = `/tmp/bad-${id}.yaml`;
    const spec = `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: bad }
spec:
  source: { topic: t }
  window: { type: tumbling, size: soon }
  aggregates: { n: { count: {} } }
`;
    const write = await execInContainer(node, operator!, [NODE, '-e', WRITE, bad, spec]);
    expect(write.code, write.output).toBe(0);
    const invalid = await execInContainer(node, operator!, [...KAPPAFLOW, 'validate', bad]);
    expect(invalid.code, invalid.output).toBe(1);
    expect(invalid.output).toContain('spec.window.size: expected a duration');
  });

  it('the read-only root filesystem refuses writes in both pods; the operator writes only its /tmp', async () => {
    const [processor] = await pods(kube, selectorString(name));
    const [operator] = await pods(kube, 'app.kubernetes.io/component=operator');
    for (const pod of [processor!, operator!]) {
      for (const path of ['/app/written-by-e2e', '/written-by-e2e']) {
        const r = await execInContainer(node, pod, [NODE, '-e', WRITE, path, 'x']);
        expect(r.code, `${pod.metadata.name} ${path}: ${r.output}`).not.toBe(0);
        expect(r.output).toMatch(/EROFS: read-only file system/);
      }
    }
    const tmp = await execInContainer(node, operator!, [NODE, '-e', WRITE, `/tmp/ok-${id}`, 'x']);
    expect(tmp.code, tmp.output).toBe(0);
  });

  it('helm uninstall removes the operator; the Pipeline stays until deleted (retain policy)', async () => {
    await kube.delete(paths.pipeline(NAMESPACE, name));
    await waitUntil(
      'Pipeline finalized',
      async () => (await kube.getOrNull(paths.pipeline(NAMESPACE, name))) === null,
      {
        timeoutMs: 60_000,
      },
    );
    await helm(['uninstall', RELEASE, '--namespace', NAMESPACE, '--wait', '--timeout', '120s'], node.api);
    await waitUntil('no pods left', async () => (await pods(kube, '')).length === 0, {
      timeoutMs: 120_000,
    }).catch(async (error: Error) => {
      // Say which pods stayed and why (owner, phase, deletion) instead of only that some did.
      const left = (await pods(kube, '')).map((p) => ({
        name: p.metadata.name,
        phase: p.status?.phase,
        deleting: p.metadata.deletionTimestamp ?? null,
        owners: p.metadata.ownerReferences?.map((o) => `${o.kind}/${o.name}`),
      }));
      const deployments = (await kube.list(paths.deployments(NAMESPACE), {})).items.map((d) => ({
        name: d.metadata.name,
        owners: d.metadata.ownerReferences?.map((o) => `${o.kind}/${o.name}`),
        deleting: d.metadata.deletionTimestamp ?? null,
      }));
      throw new Error(`${error.message}: ${JSON.stringify({ left, deployments })}`);
    });
  });
});
