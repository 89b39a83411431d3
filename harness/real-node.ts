/**
 * A real single-node Kubernetes cluster for tests: the control plane of kube.ts plus kube-scheduler,
 * containerd + runc (Debian) and a kubelet, with the Kappaflow image built from the Dockerfile
 * (image.ts) imported into containerd. Pods really run in containers, from local images only, with
 * hostNetwork so every listener stays on 127.0.0.1.
 *
 * The kubelet is machine-wide (/kubepods cgroups, a few fixed host paths, kernel settings), so there is
 * one node per machine: startRealNode() takes a lock (/run/kappaflow-node) that records the owner and
 * every pid; a later start or `npm run infra -- down` cleans up after an owner that died.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import {
  type Containerd,
  checkNodePackages,
  startContainerd,
  stopContainerd,
  unmountUnder,
} from './containerd.ts';
import { type BuiltImage, ensureKappaflowImage, ensurePauseImage, pauseImage } from './image.ts';
import { ensureGoTool, ensureKubeBinaries, type KubeApi, kubeGet, startKubeApi } from './kube.ts';
import {
  type KubeletHandle,
  makeNodePki,
  nodeApiServerArgs,
  nodeControllers,
  nodeName,
  nodeNames,
  nodeUsersFor,
  startKubelet,
  startScheduler,
} from './kubelet.ts';
import { ensureDir, runDir } from './paths.ts';
import { processAlive, type ServiceProcess } from './service.ts';
import { restoreSysctls, saveSysctls, startSysctlWatchdog } from './sysctls.ts';

const lockDir = '/run/kappaflow-node';
const ownerFile = join(lockDir, 'owner.json');

/** Host paths the kubelet and containerd 1.x create whatever their flags say; removed if they were not there. */
const hostPaths = ['/var/lib/kubelet', '/usr/libexec/kubernetes', '/var/log/containers', '/run/containerd'];

interface NodeOwner {
  /** the process that owns the node: the test process, or the kubelet for `infra up --node` */
  pid: number;
  dir: string;
  /** the control plane's folder (etcd data, certificates, logs) */
  apiDir?: string;
  pids: Record<string, number>;
  /** host paths that did not exist before the node started */
  createdPaths: string[];
  /** cgroups made for the extra nodes' kubelets (cgroupRoot), under every hierarchy */
  cgroupRoots?: string[];
  watchdog?: number;
  startedAt: string;
}

function readOwner(): NodeOwner | null {
  try {
    return JSON.parse(readFileSync(ownerFile, 'utf8')) as NodeOwner;
  } catch {
    return null;
  }
}

function writeOwner(owner: NodeOwner): void {
  writeFileSync(ownerFile, JSON.stringify(owner, null, 2));
}

/** Takes the machine's node lock, cleaning up after a dead owner; waits while a live one holds it. */
async function acquireNodeLock(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      return;
    } catch {
      const owner = readOwner();
      if (owner && processAlive(owner.pid)) {
        if (Date.now() > deadline) {
          throw new Error(
            `Another real node runs on this machine (pid ${owner.pid}, ${owner.dir}); one node per machine. Stop it with \`npm run infra -- down\`.`,
          );
        }
        if (!told) process.stderr.write(`  waiting for the real node of pid ${owner.pid} to stop\n`);
        told = true;
        await new Promise((r) => setTimeout(r, 2000));
      } else {
        if (owner) cleanupNode(owner);
        rmSync(lockDir, { recursive: true, force: true });
      }
    }
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** `name` in every v1 hierarchy (or the v2 root), where it exists. */
function cgroupsNamed(name: string): string[] {
  const root = '/sys/fs/cgroup';
  const dirs = [join(root, name)];
  for (const entry of readdirSync(root)) dirs.push(join(root, entry, name));
  return [...new Set(dirs)].filter((d) => existsSync(d));
}

/**
 * Where the kubelets put pod cgroups: every hierarchy's `kubepods`, and the extra nodes' cgroup
 * roots (their `kubepods` inside), which are removed too.
 */
function kubepodsCgroups(cgroupRoots: string[] = []): string[] {
  return [...cgroupsNamed('kubepods'), ...cgroupRoots.flatMap((r) => cgroupsNamed(r.replace(/^\//, '')))];
}

/**
 * Makes a kubelet's cgroupRoot in every v1 hierarchy (the kubelet refuses a root that does not
 * exist); cpuset needs its cpus and mems filled in before anything can join a child of it.
 */
function makeCgroupRoot(name: string): void {
  const root = '/sys/fs/cgroup';
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === 'unified') continue;
    const dir = join(root, entry.name, name);
    mkdirSync(dir, { recursive: true });
    if (entry.name.split(',').includes('cpuset')) {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        writeFileSync(join(dir, file), readFileSync(join(root, entry.name, file), 'utf8'));
      }
    }
  }
}

function walkDirs(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) out.push(...walkDirs(join(dir, entry.name)));
  }
  out.push(dir);
  return out; // deepest first
}

/** SIGKILLs every process still in a pod cgroup (containers survive their shim and the kubelet). */
function killPodProcesses(cgroupRoots: string[] = []): number {
  let killed = 0;
  for (const top of kubepodsCgroups(cgroupRoots)) {
    for (const dir of walkDirs(top)) {
      let procs: string[] = [];
      try {
        procs = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
      } catch {
        continue;
      }
      for (const pid of procs) {
        try {
          process.kill(Number(pid), 'SIGKILL');
          killed++;
        } catch {
          // already gone
        }
      }
    }
  }
  return killed;
}

/**
 * Synchronous and idempotent: kills what is left of a node (its processes by pid, pod processes by
 * cgroup, containerd shims), unmounts everything under its folder, removes the pod cgroups and the host
 * paths it created, and puts the kernel settings back. Runs at stop, at exit and for a dead owner.
 */
function cleanupNode(owner: NodeOwner): void {
  for (const pid of Object.values(owner.pids)) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  if (killPodProcesses(owner.cgroupRoots) > 0) sleepSync(500);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('containerd-shim') && cmdline.includes(owner.dir))
        process.kill(Number(entry), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  try {
    unmountUnder(owner.dir);
  } catch {
    // reported by the next start if it matters
  }
  for (const top of kubepodsCgroups(owner.cgroupRoots)) {
    for (const dir of walkDirs(top)) {
      try {
        rmdirSync(dir);
      } catch {
        // a process is still leaving; the next cleanup removes it
      }
    }
  }
  for (const path of owner.createdPaths) rmSync(path, { recursive: true, force: true });
  restoreSysctls(join(owner.dir, 'sysctls.json'), { remove: true });
  if (processAlive(owner.watchdog)) process.kill(owner.watchdog as number, 'SIGKILL');
}

/** One kubelet of the cluster, with its own containerd. */
export interface NodeMember {
  /** the Node's name, also its InternalIP (127.0.0.x) and so the pod IP of its hostNetwork pods */
  name: string;
  containerd: Containerd;
}

export interface RealNode {
  api: KubeApi;
  /** the first node's name */
  nodeName: string;
  /** every node, the first one first (`nodes` option) */
  nodes: NodeMember[];
  /** the first node's containerd */
  containerd: Containerd;
  kubelet: ServiceProcess;
  scheduler: ServiceProcess;
  /** the Kappaflow image, built from the Dockerfile and imported into containerd */
  image: BuiltImage;
  dir: string;
  /** Stops the kubelet (SIGTERM, or SIGKILL with `kill`) and starts it again; pods keep running meanwhile. */
  restartKubelet(options?: { kill?: boolean }): Promise<void>;
  /** Deletes every pod (the kubelet stops them), stops everything, cleans up and releases the lock. */
  stop(): Promise<void>;
}

export interface RealNodeOptions {
  /** Leave everything running after this process exits (`npm run infra -- up --node`). */
  detached?: boolean;
  /** Keep the node's folder (logs, etcd data) after stop (also when KAPPAFLOW_KEEP=1). */
  keep?: boolean;
  /** How long to wait for another process's node to stop. Default 20 min. */
  lockTimeoutMs?: number;
  /**
   * How many kubelet nodes to run (default 1): 127.0.0.1, 127.0.0.2, ... each with its own
   * containerd, kubelet folder and cgroup root, so hostNetwork pods of one Deployment can run side by
   * side on the same port (one per node, as the scheduler's host-port check wants).
   */
  nodes?: number;
}

/** Builds what the node needs (cached): binaries, the pause image and the Kappaflow image. */
export async function provisionNode(): Promise<{ image: BuiltImage; pause: BuiltImage }> {
  checkNodePackages();
  await ensureKubeBinaries();
  await ensureGoTool('kubelet');
  await ensureGoTool('kube-scheduler');
  const pause = await ensurePauseImage();
  const image = await ensureKappaflowImage();
  return { image, pause };
}

export async function startRealNode(options: RealNodeOptions = {}): Promise<RealNode> {
  const started = Date.now();
  const detached = options.detached ?? false;
  const keep = options.keep ?? process.env.KAPPAFLOW_KEEP === '1';
  const { image, pause } = await provisionNode();
  const names = nodeNames(options.nodes ?? 1);
  await acquireNodeLock(options.lockTimeoutMs ?? 20 * 60_000);
  const dir = ensureDir(join(runDir, `node-${process.pid}-${randomBytes(3).toString('hex')}`));
  const owner: NodeOwner = {
    pid: process.pid,
    dir,
    pids: {},
    createdPaths: hostPaths.filter((p) => !existsSync(p)),
    startedAt: new Date().toISOString(),
  };
  writeOwner(owner);
  const sysctlFile = join(dir, 'sysctls.json');
  let exitHook: (() => void) | undefined;
  let extra: { name: string; containerd: Containerd; kubelet: KubeletHandle }[] = [];
  const release = () => {
    cleanupNode(owner);
    if (!keep) rmSync(dir, { recursive: true, force: true });
    rmSync(lockDir, { recursive: true, force: true });
    if (exitHook) process.off('exit', exitHook);
  };
  if (!detached) {
    exitHook = release;
    process.once('exit', exitHook);
  }
  let api: KubeApi | undefined;
  try {
    const pki = makeNodePki(join(dir, 'pki'));
    const containerd = await startContainerd(join(dir, 'containerd'), pauseImage);
    owner.pids.containerd = containerd.process.child.pid ?? 0;
    writeOwner(owner);
    await containerd.importImage(pause.archive);
    await containerd.importImage(image.archive);

    api = await startKubeApi({
      users: nodeUsersFor(names),
      apiServerArgs: nodeApiServerArgs(pki),
      controllers: nodeControllers,
      detached,
      keep,
    });
    const currentApi = api;
    owner.apiDir = api.dir;
    owner.pids.etcd = api.etcd.child.pid ?? 0;
    owner.pids['kube-apiserver'] = api.apiServer.child.pid ?? 0;
    owner.pids['kube-controller-manager'] = api.controllerManager?.child.pid ?? 0;
    const scheduler = await startScheduler(api, { dir, detached });
    owner.pids['kube-scheduler'] = scheduler.child.pid ?? 0;
    writeOwner(owner);

    saveSysctls(sysctlFile);
    owner.watchdog = startSysctlWatchdog(sysctlFile, process.pid);
    writeOwner(owner);
    const kubeletDir = join(dir, 'kubelet');
    const launchKubelet = async (): Promise<KubeletHandle> => {
      try {
        return await startKubelet(currentApi, {
          dir: kubeletDir,
          containerdSocket: containerd.socket,
          pki,
          detached,
        });
      } finally {
        // The kubelet rewrites them once, at start, and never looks again.
        restoreSysctls(sysctlFile);
      }
    };
    let kubelet = await launchKubelet();
    owner.pids.kubelet = kubelet.process.child.pid ?? 0;
    // A detached node belongs to its kubelet: alive while it runs, cleaned up by the next start if not.
    if (detached) owner.pid = owner.pids.kubelet;
    writeOwner(owner);
    // The other nodes: each its own containerd (a kubelet removes containers it does not know) and
    // cgroup root (and kills pod cgroups it does not know).
    owner.cgroupRoots = names.slice(1).map((n) => `/kappaflow-node-${n.split('.').pop()}`);
    writeOwner(owner);
    extra = await Promise.all(
      names.slice(1).map(async (name, i) => {
        const suffix = name.split('.').pop();
        const cgroupRoot = owner.cgroupRoots?.[i] as string;
        makeCgroupRoot(cgroupRoot.slice(1));
        const own = await startContainerd(join(dir, `containerd-${suffix}`), pauseImage);
        owner.pids[`containerd-${suffix}`] = own.process.child.pid ?? 0;
        writeOwner(owner);
        await own.importImage(pause.archive);
        await own.importImage(image.archive);
        try {
          const handle = await startKubelet(currentApi, {
            dir: join(dir, `kubelet-${suffix}`),
            containerdSocket: own.socket,
            pki,
            detached,
            name,
            cgroupRoot,
          });
          owner.pids[`kubelet-${suffix}`] = handle.process.child.pid ?? 0;
          writeOwner(owner);
          return { name, containerd: own, kubelet: handle };
        } finally {
          restoreSysctls(sysctlFile);
        }
      }),
    );
    await waitForDefaultServiceAccount(api);

    if (process.env.KAPPAFLOW_QUIET !== '1') {
      process.stderr.write(
        `  real node${names.length > 1 ? `s ${names.join(', ')}` : ` ${nodeName}`} Ready in ${((Date.now() - started) / 1000).toFixed(1)}s (containerd, kubelet, kube-scheduler; ${dir})\n`,
      );
    }
    const node: RealNode = {
      api,
      nodeName,
      nodes: [
        { name: nodeName, containerd },
        ...extra.map((e) => ({ name: e.name, containerd: e.containerd })),
      ],
      containerd,
      kubelet: kubelet.process,
      scheduler,
      image,
      dir,
      async restartKubelet(restart = {}) {
        if (restart.kill) await kubelet.process.kill();
        else await kubelet.process.stop(15_000);
        kubelet = await launchKubelet();
        node.kubelet = kubelet.process;
        owner.pids.kubelet = kubelet.process.child.pid ?? 0;
        if (detached) owner.pid = owner.pids.kubelet;
        writeOwner(owner);
      },
      async stop() {
        await stopRealNode(owner, currentApi, [containerd, ...extra.map((e) => e.containerd)]);
        await currentApi.stop();
        release();
      },
    };
    return node;
  } catch (error) {
    await api?.stop().catch(() => undefined);
    await stopContainerd(join(dir, 'containerd'), owner.pids.containerd).catch(() => undefined);
    for (const name of names.slice(1)) {
      const suffix = name.split('.').pop();
      await stopContainerd(join(dir, `containerd-${suffix}`), owner.pids[`containerd-${suffix}`]).catch(
        () => undefined,
      );
    }
    release();
    throw error;
  }
}

async function waitForDefaultServiceAccount(api: KubeApi): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const res = await kubeGet(api.server, '/api/v1/namespaces/default/serviceaccounts/default', api);
    if (res.status === 200) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * The graceful part of a stop: no controller recreates pods (controller manager and scheduler stop
 * first), every pod is deleted with a short grace period and the kubelet gets to stop its containers
 * and unmount their volumes; then kubelet and containerd stop.
 */
async function stopRealNode(owner: NodeOwner, api: KubeApi, containerds: Containerd[]): Promise<void> {
  await api.controllerManager?.stop(10_000);
  if (processAlive(owner.pids['kube-scheduler']))
    process.kill(owner.pids['kube-scheduler'] as number, 'SIGTERM');
  const { body } = await kubeGet(api.server, '/api/v1/pods', api).catch(() => ({ body: '{}' }));
  const pods =
    (JSON.parse(body) as { items?: { metadata: { name: string; namespace: string } }[] }).items ?? [];
  await Promise.all(
    pods.map((p) => deletePod(api, p.metadata.namespace, p.metadata.name, 5).catch(() => undefined)),
  );
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const res = await kubeGet(api.server, '/api/v1/pods', api).catch(() => ({ status: 0, body: '{}' }));
    if (res.status === 200 && ((JSON.parse(res.body) as { items?: unknown[] }).items ?? []).length === 0)
      break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const kubelets = Object.entries(owner.pids)
    .filter(([name, pid]) => name.startsWith('kubelet') && processAlive(pid))
    .map(([, pid]) => pid);
  for (const pid of kubelets) process.kill(pid, 'SIGTERM');
  const until = Date.now() + 10_000;
  while (kubelets.some((pid) => processAlive(pid)) && Date.now() < until)
    await new Promise((r) => setTimeout(r, 100));
  for (const containerd of containerds) await containerd.stop();
}

/** DELETE of one pod with a grace period, through the admin token. */
export function deletePod(
  api: KubeApi,
  namespace: string,
  name: string,
  graceSeconds: number,
): Promise<void> {
  return new Promise((resolveDelete, reject) => {
    const body = JSON.stringify({
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      gracePeriodSeconds: graceSeconds,
    });
    const req = request(
      new URL(`/api/v1/namespaces/${namespace}/pods/${name}`, api.server),
      {
        method: 'DELETE',
        ca: api.caPem,
        headers: {
          authorization: `Bearer ${api.token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolveDelete());
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Stops the node recorded in the lock, whoever started it (`npm run infra -- down`): processes by pid,
 * then the same cleanup as a dead owner's. Returns false when no node was recorded.
 */
export async function stopRecordedNode(): Promise<boolean> {
  const owner = readOwner();
  if (!owner) {
    rmSync(lockDir, { recursive: true, force: true });
    return false;
  }
  const kubelets = Object.keys(owner.pids).filter((n) => n.startsWith('kubelet'));
  for (const name of ['kube-scheduler', 'kube-controller-manager', ...kubelets, 'kube-apiserver', 'etcd']) {
    const pid = owner.pids[name];
    if (processAlive(pid)) process.kill(pid as number, 'SIGTERM');
  }
  const until = Date.now() + 15_000;
  while (
    Object.entries(owner.pids).some(([n, p]) => !n.startsWith('containerd') && processAlive(p)) &&
    Date.now() < until
  ) {
    await new Promise((r) => setTimeout(r, 200));
  }
  // each node's containerd at once (a stop can take its 10 s grace)
  await Promise.all(
    Object.keys(owner.pids)
      .filter((n) => n.startsWith('containerd'))
      .map((name) => stopContainerd(join(owner.dir, name), owner.pids[name])),
  );
  cleanupNode(owner);
  for (const dir of [owner.dir, owner.apiDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  rmSync(lockDir, { recursive: true, force: true });
  return true;
}

/** For `infra status`: the recorded node, if any, its kubelets and how many of them run. */
export function recordedNode(): { dir: string; kubelets: number; running: number } | null {
  const owner = readOwner();
  if (!owner) return null;
  const kubelets = Object.entries(owner.pids).filter(([name]) => name.startsWith('kubelet'));
  return {
    dir: owner.dir,
    kubelets: kubelets.length,
    running: kubelets.filter(([, pid]) => processAlive(pid)).length,
  };
}
