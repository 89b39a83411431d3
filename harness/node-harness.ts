/**
 * A "node" for the test control plane, playing the scheduler and the kubelet for processor Pods
 * (there is no kubelet here): it watches the Pods of processor Deployments (created by the real
 * kube-controller-manager from ReplicaSets), binds them to a made-up node through the binding
 * subresource, starts one real `kappaflow run` process per Pod from the Pod's container (its args,
 * its env with fieldRef/secretKeyRef/configMapKeyRef resolved, its ConfigMap and Secret volumes
 * written to disk and the paths in its args and env that name them rewritten, the image replaced by
 * the local bin/kappaflow.js, the port replaced by a free one), and
 * writes Pod status (Running, Ready from the process's /readyz), so ReplicaSet and Deployment status
 * and scaling behave as on a cluster. A Pod being deleted gets its process stopped (SIGTERM, then
 * SIGKILL after the Pod's grace period; or SIGKILL at once) and is then removed, as kubelet does.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, type KubeObject, paths } from '../operator/src/kube/client.ts';
import { Informer, keyOf } from '../operator/src/kube/informer.ts';
import { ensureDir, repoRoot, runDir } from './paths.ts';
import { freePort } from './ports.ts';
import { type ServiceProcess, startProcess } from './service.ts';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
  };
}

interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string }[];
}

export interface PodObject extends KubeObject {
  spec: {
    nodeName?: string;
    containers: Container[];
    volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[];
    terminationGracePeriodSeconds?: number;
  };
  status?: { phase?: string };
}

export interface RunningPod {
  pod: string;
  namespace: string;
  port: number;
  process: ServiceProcess;
  ready: boolean;
  restarts: number;
  startedAt: string;
}

export interface NodeHarnessOptions {
  /** kubeconfig YAML (admin) */
  kubeconfig: string;
  /** namespace to watch (default: all) */
  namespace?: string;
  /** Pods to run (default: processor Pods) */
  labelSelector?: string;
  nodeName?: string;
  /** SIGTERM (drain, the default) or SIGKILL (crash) when a Pod is deleted */
  killSignal?: 'SIGTERM' | 'SIGKILL';
  /** extra env for every process, over the Pod's (e.g. LOG_LEVEL) */
  env?: Record<string, string>;
  logDir?: string;
  /** how often readiness is probed (default 1000 ms) */
  probeMs?: number;
}

export interface NodeHarness {
  running(): RunningPod[];
  /** Pods started so far (including ones since deleted), by name */
  started: Set<string>;
  /** SIGKILLs a Pod's process (a crash); the harness restarts it like kubelet would */
  crash(pod: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startNodeHarness(options: NodeHarnessOptions): Promise<NodeHarness> {
  const kc = new KubeConfig();
  kc.loadFromString(options.kubeconfig);
  const client = new KubeClient(kc);
  const nodeName = options.nodeName ?? 'kappaflow-test-node';
  const logDir = ensureDir(options.logDir ?? join(runDir, `node-harness-${process.pid}`));
  const pods = new Map<string, RunningPod>();
  const starting = new Set<string>();
  const stopping = new Set<string>();
  const started = new Set<string>();
  // Restarts per Pod, kept apart from the running process: an informer event can start a crashed
  // container again before the restart timer does, and must not reset its count.
  const restartCounts = new Map<string, number>();
  let closed = false;

  const resolveEnv = async (pod: PodObject, container: Container): Promise<Record<string, string>> => {
    const ns = pod.metadata.namespace ?? 'default';
    const env: Record<string, string> = {};
    for (const e of container.env ?? []) {
      if (e.value !== undefined)
        env[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, n) => env[n] ?? m);
      else if (e.valueFrom?.fieldRef) {
        const f = e.valueFrom.fieldRef.fieldPath;
        const v =
          f === 'metadata.name'
            ? pod.metadata.name
            : f === 'metadata.namespace'
              ? ns
              : f === 'metadata.uid'
                ? (pod.metadata.uid ?? '')
                : f === 'spec.nodeName'
                  ? nodeName
                  : f === 'status.podIP' || f === 'status.hostIP'
                    ? '127.0.0.1'
                    : '';
        env[e.name] = v;
      } else if (e.valueFrom?.secretKeyRef) {
        const ref = e.valueFrom.secretKeyRef;
        const s = await client.getOrNull<KubeObject & { data?: Record<string, string> }>(
          paths.secret(ns, ref.name),
        );
        const b64 = s?.data?.[ref.key];
        if (b64 !== undefined) env[e.name] = Buffer.from(b64, 'base64').toString('utf8');
        else if (!ref.optional) throw new Error(`secret ${ref.name}/${ref.key} not found`);
      } else if (e.valueFrom?.configMapKeyRef) {
        const ref = e.valueFrom.configMapKeyRef;
        const c = await client.getOrNull<KubeObject & { data?: Record<string, string> }>(
          paths.configMap(ns, ref.name),
        );
        const v = c?.data?.[ref.key];
        if (v !== undefined) env[e.name] = v;
        else if (!ref.optional) throw new Error(`configmap ${ref.name}/${ref.key} not found`);
      }
    }
    return env;
  };

  /** Writes the Pod's ConfigMap/Secret volumes to disk; returns mountPath -> local dir. */
  const materializeVolumes = async (pod: PodObject, container: Container, dir: string) => {
    const ns = pod.metadata.namespace ?? 'default';
    const mounts = new Map<string, string>();
    for (const m of container.volumeMounts ?? []) {
      const vol = pod.spec.volumes?.find((v) => v.name === m.name);
      const local = ensureDir(join(dir, 'volumes', m.name));
      if (vol?.configMap) {
        const c = await client.get<KubeObject & { data?: Record<string, string> }>(
          paths.configMap(ns, vol.configMap.name),
        );
        for (const [k, v] of Object.entries(c.data ?? {})) writeFileSync(join(local, k), v);
      } else if (vol?.secret) {
        const s = await client.get<KubeObject & { data?: Record<string, string> }>(
          paths.secret(ns, vol.secret.secretName),
        );
        for (const [k, v] of Object.entries(s.data ?? {}))
          writeFileSync(join(local, k), Buffer.from(v, 'base64'));
      }
      mounts.set(m.mountPath, local);
    }
    return mounts;
  };

  const patchStatus = async (pod: PodObject, running: RunningPod | undefined, ready: boolean) => {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const c = pod.spec.containers[0]!;
    const cond = (type: string, status: boolean) => ({
      type,
      status: status ? 'True' : 'False',
      lastTransitionTime: now,
    });
    await client.mergePatch(`${paths.pod(pod.metadata.namespace ?? 'default', pod.metadata.name)}/status`, {
      status: {
        phase: 'Running',
        hostIP: '127.0.0.1',
        podIP: '127.0.0.1',
        podIPs: [{ ip: '127.0.0.1' }],
        startTime: running?.startedAt ?? now,
        conditions: [
          cond('PodScheduled', true),
          cond('Initialized', true),
          cond('ContainersReady', ready),
          cond('Ready', ready),
        ],
        containerStatuses: [
          {
            name: c.name,
            image: c.image ?? 'kappaflow',
            imageID: 'local://bin/kappaflow.js',
            containerID: `local://${running?.process.child.pid ?? 0}`,
            ready,
            started: running !== undefined,
            restartCount: running?.restarts ?? 0,
            state: running
              ? { running: { startedAt: running.startedAt } }
              : { waiting: { reason: 'ContainerCreating' } },
          },
        ],
      },
    });
  };

  const launch = async (pod: PodObject, restarts: number) => {
    const key = keyOf(pod);
    const c = pod.spec.containers[0]!;
    const dir = ensureDir(join(logDir, pod.metadata.name));
    const env = await resolveEnv(pod, c);
    const mounts = await materializeVolumes(pod, c, dir);
    const port = await freePort();
    // The deepest mount wins, as in a container: /etc/kappaflow/kafka lies inside /etc/kappaflow.
    const deepestFirst = [...mounts].sort(([a], [b]) => b.length - a.length);
    const rewrite = (arg: string) => {
      for (const [mountPath, local] of deepestFirst) {
        if (arg === mountPath || arg.startsWith(`${mountPath}/`)) return local + arg.slice(mountPath.length);
      }
      return arg;
    };
    // Env values naming a mounted path (KAFKA_CONFIG_FILE, REDIS_TLS_DIR) point at the local copy.
    for (const [name, value] of Object.entries(env)) env[name] = rewrite(value);
    // The image's entrypoint is `kappaflow`; the Pod's command (if any) is replaced by the local CLI.
    const args = (c.args ?? []).map(rewrite);
    mkdirSync(dir, { recursive: true });
    const proc = startProcess(
      `pod ${pod.metadata.name}`,
      process.execPath,
      [join(repoRoot, 'bin', 'kappaflow.js'), ...args],
      {
        logFile: join(dir, 'container.log'),
        env: { ...env, PORT: String(port), HOST: '127.0.0.1', HOSTNAME: pod.metadata.name, ...options.env },
      },
    );
    const running: RunningPod = {
      pod: pod.metadata.name,
      namespace: pod.metadata.namespace ?? 'default',
      port,
      process: proc,
      ready: false,
      restarts,
      startedAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
    pods.set(key, running);
    started.add(pod.metadata.name);
    proc.child.once('exit', () => {
      // restartPolicy Always: a crashed container is started again (unless the Pod is going away)
      if (closed || stopping.has(key) || pods.get(key) !== running) return;
      pods.delete(key);
      const current = informer.get(key);
      if (current && !current.metadata.deletionTimestamp) {
        restartCounts.set(key, restarts + 1);
        setTimeout(() => void ensure(current), 500);
      }
    });
    await patchStatus(pod, running, false).catch(() => {});
  };

  const ensure = async (pod: PodObject) => {
    const key = keyOf(pod);
    const restarts = restartCounts.get(key) ?? 0;
    if (closed || starting.has(key) || pods.has(key) || stopping.has(key)) return;
    starting.add(key);
    try {
      if (!pod.spec.nodeName) {
        await client.create(`${paths.pod(pod.metadata.namespace ?? 'default', pod.metadata.name)}/binding`, {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace },
          target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
        });
        return; // the bound Pod comes back through the watch
      }
      if (pod.spec.nodeName !== nodeName) return;
      await launch(pod, restarts);
    } catch (e) {
      if (!closed) process.stderr.write(`node harness: pod ${key}: ${(e as Error).message}\n`);
    } finally {
      starting.delete(key);
    }
  };

  const terminate = async (pod: PodObject, deleted: boolean) => {
    const key = keyOf(pod);
    if (stopping.has(key)) return;
    stopping.add(key);
    try {
      const running = pods.get(key);
      if (running) {
        const graceMs =
          ((pod.metadata.deletionGracePeriodSeconds as number | undefined) ??
            pod.spec.terminationGracePeriodSeconds ??
            30) * 1000;
        if (options.killSignal === 'SIGKILL') await running.process.kill();
        else await running.process.stop(graceMs);
        pods.delete(key);
      }
      if (!deleted) {
        await client.delete(paths.pod(pod.metadata.namespace ?? 'default', pod.metadata.name), {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          gracePeriodSeconds: 0,
          preconditions: { uid: pod.metadata.uid },
        });
      }
    } catch (e) {
      if (!closed) process.stderr.write(`node harness: stopping ${key}: ${(e as Error).message}\n`);
    } finally {
      stopping.delete(key);
    }
  };

  const informer = new Informer<PodObject>({
    client,
    path: paths.pods(options.namespace),
    labelSelector: options.labelSelector ?? 'app.kubernetes.io/name=kappaflow-processor',
    resyncMs: 5000,
    onEvent: (type, pod) => {
      if (closed) return;
      if (type === 'delete') void terminate(pod, true);
      else if (pod.metadata.deletionTimestamp) void terminate(pod, false);
      else void ensure(pod);
    },
  });
  informer.start();
  await informer.waitForSync();

  // Readiness probes: the process's /readyz, written to the Pod status when it changes.
  const probe = setInterval(() => {
    for (const [key, running] of pods) {
      const pod = informer.get(key);
      if (!pod || pod.metadata.deletionTimestamp) continue;
      fetch(`http://127.0.0.1:${running.port}/readyz`, { signal: AbortSignal.timeout(900) })
        .then((r) => r.ok)
        .catch(() => false)
        .then(async (ready) => {
          if (ready === running.ready || pods.get(key) !== running || closed) return;
          running.ready = ready;
          await patchStatus(pod, running, ready).catch(() => {
            running.ready = !ready; // try again next probe
          });
        });
    }
  }, options.probeMs ?? 1000);

  return {
    running: () => [...pods.values()],
    started,
    async crash(pod: string) {
      const running = [...pods.values()].find((p) => p.pod === pod);
      await running?.process.kill();
    },
    async stop() {
      closed = true;
      clearInterval(probe);
      await informer.stop();
      await Promise.all([...pods.values()].map((p) => p.process.stop(5000)));
      pods.clear();
      client.close();
    },
  };
}
