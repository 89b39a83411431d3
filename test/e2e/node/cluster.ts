// Helpers for the e2e tests on the real node (harness/real-node.ts): the chart installed with helm
// from the image built here, Pods and their logs through the API server, Pipelines from examples/.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { repoRoot } from '../../../harness/paths.ts';
import { freePorts } from '../../../harness/ports.ts';
import type { RealNode } from '../../../harness/real-node.ts';
import { waitUntil } from '../../../harness/service.ts';
import { helm } from '../../../harness/tools.ts';
import { KubeClient, type KubeObject, paths } from '../../../operator/src/kube/client.ts';

export const RELEASE = 'kappaflow';
export const NAMESPACE = 'kappaflow-e2e';

export interface Pod extends KubeObject {
  spec: {
    nodeName?: string;
    serviceAccountName?: string;
    hostNetwork?: boolean;
    containers: { name: string }[];
  };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      name: string;
      ready: boolean;
      restartCount: number;
      containerID?: string;
      state?: Record<string, unknown>;
      lastState?: { terminated?: { exitCode: number; reason?: string } };
    }[];
  };
}

export const podReady = (p: Pod) =>
  p.status?.phase === 'Running' &&
  p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

export function kubeClient(node: RealNode): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromString(node.api.kubeconfig);
  return new KubeClient(kc);
}

export async function pods(kube: KubeClient, selector: string): Promise<Pod[]> {
  return (await kube.list<Pod>(paths.pods(NAMESPACE), { labelSelector: selector })).items;
}

/** Waits until `count` pods match the selector and all are Running and Ready; returns them. */
export async function readyPods(
  kube: KubeClient,
  selector: string,
  count: number,
  timeoutMs = 180_000,
): Promise<Pod[]> {
  let last: Pod[] = [];
  await waitUntil(
    `${count} Ready pod(s) ${selector}`,
    async () => {
      last = (await pods(kube, selector)).filter((p) => !p.metadata.deletionTimestamp);
      return last.length === count && last.every(podReady);
    },
    { timeoutMs, intervalMs: 500 },
  ).catch((error: unknown) => {
    throw new Error(
      `${String(error)}\nlast seen: ${JSON.stringify(
        last.map((p) => p.status),
        null,
        1,
      ).slice(0, 3000)}`,
    );
  });
  return last;
}

/** A container's log through the API server (which fetches it from the kubelet). */
export async function podLog(
  kube: KubeClient,
  name: string,
  options: { previous?: boolean } = {},
): Promise<string> {
  const out = await kube.request<unknown>('GET', `${paths.pod(NAMESPACE, name)}/log`, {
    query: options.previous ? { previous: 'true' } : {},
  });
  // pino writes JSON lines: a log of exactly one line comes back parsed
  return typeof out === 'string' ? out : JSON.stringify(out);
}

export interface Installed {
  /** the processors' HTTP port on the node's loopback */
  processorPort: number;
  operatorPort: number;
}

/**
 * `helm install` of charts/kappaflow with the image built from the Dockerfile. Everything runs with
 * hostNetwork on loopback: Kafka, Redis and the API server of the tests listen on 127.0.0.1, pods
 * listen on their pod IP (their node's 127.0.0.x address). The operator
 * uses its ServiceAccount (in-cluster config): KUBERNETES_SERVICE_HOST/PORT point at the API server's
 * loopback address, as a kube-proxy would route the `kubernetes` Service on a real cluster.
 */
export async function installChart(
  node: RealNode,
  kafkaBrokers: string[],
  redisUrl: string,
  /** more helm arguments (e.g. `--set` of resources, a PodDisruptionBudget) */
  extraArgs: string[] = [],
): Promise<Installed> {
  const [processorPort, operatorPort] = (await freePorts(2)) as [number, number];
  const [repository, tag] = node.image.name.split(':') as [string, string];
  const apiPort = new URL(node.api.server).port;
  await helm(
    [
      'install',
      RELEASE,
      join(repoRoot, 'charts', 'kappaflow'),
      '--namespace',
      NAMESPACE,
      '--create-namespace',
      '--set',
      `image.repository=${repository}`,
      '--set-string', // an all-digit hash is still a tag
      `image.tag=${tag}`,
      '--set',
      'image.pullPolicy=Never',
      '--set',
      'processor.image.pullPolicy=Never',
      '--set',
      `kafka.brokers={${kafkaBrokers.join(',')}}`,
      '--set',
      `redis.url=${redisUrl}`,
      '--set',
      'operator.hostNetwork=true',
      '--set',
      `operator.metricsPort=${operatorPort}`,
      '--set',
      'operator.extraEnv[0].name=HOST,operator.extraEnv[0].valueFrom.fieldRef.fieldPath=status.podIP',
      '--set',
      'operator.extraEnv[1].name=KUBERNETES_SERVICE_HOST,operator.extraEnv[1].value=127.0.0.1',
      '--set-string',
      `operator.extraEnv[2].name=KUBERNETES_SERVICE_PORT,operator.extraEnv[2].value=${apiPort}`,
      '--set',
      'processor.hostNetwork=true',
      '--set',
      `processor.port=${processorPort}`,
      '--set',
      'processor.resources.requests.cpu=100m',
      ...extraArgs,
    ],
    node.api,
  );
  return { processorPort, operatorPort };
}

/** An example Pipeline from examples/, renamed (and its topics too) so runs never share state. */
export function examplePipeline(file: string, suffix: string): KubeObject & { spec: Record<string, any> } {
  const p = parse(readFileSync(join(repoRoot, 'examples', file), 'utf8'));
  p.metadata = { name: `${p.metadata.name}-${suffix}`, namespace: NAMESPACE };
  p.spec.source.topic = `${p.spec.source.topic}-${suffix}`;
  if (p.spec.deadLetter?.topic) p.spec.deadLetter.topic = `${p.spec.deadLetter.topic}-${suffix}`;
  // another run's sink topic would belong to another pipeline (its processors refuse to start)
  if (p.spec.sink?.topic) p.spec.sink.topic = `${p.spec.sink.topic}-${suffix}`;
  return p;
}

/** GET on a processor's query API on the node's loopback (`host`: a pod IP, 127.0.0.x). */
export async function query<T>(port: number, path: string, host = '127.0.0.1'): Promise<T> {
  const res = await fetch(`http://${host}:${port}${path}`);
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** The containerd ID of a pod's first container. */
export function containerId(pod: Pod): string {
  const id = pod.status?.containerStatuses?.[0]?.containerID?.replace(/^containerd:\/\//, '');
  if (!id) throw new Error(`no container ID in ${JSON.stringify(pod.status)}`);
  return id;
}

/**
 * Runs a command inside a pod's running container (`ctr tasks exec`, what `kubectl exec` asks the
 * runtime for): the container's image, user, mounts and read-only root filesystem. Resolves with
 * the exit code and the output (stdout and stderr), whatever the code.
 */
export function execInContainer(
  node: RealNode,
  pod: Pod,
  command: string[],
  timeoutMs = 60_000,
): Promise<{ code: number | null; output: string }> {
  const args = ['-a', node.containerd.socket, '-n', 'k8s.io', 'tasks', 'exec'];
  args.push('--exec-id', `e2e-${randomUUID().slice(0, 8)}`, containerId(pod), ...command);
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/ctr', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** The host pid of a pod's first container: containerd's task for the container ID in the pod status. */
export function containerPid(pod: Pod): number {
  const id = containerId(pod);
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (readFileSync(`/proc/${entry}/cgroup`, 'utf8').includes(id)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no process in the cgroup of container ${id}`);
}
