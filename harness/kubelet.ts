/**
 * The kubelet and kube-scheduler of the real node, built from the same wrapper module as
 * kube-apiserver (harness/kube/kubernetes), started against a control plane from startKubeApi().
 *
 * Everything listens on 127.0.0.1: the node is named `127.0.0.1` (the kubelet takes an IP given as its
 * hostname as the node's InternalIP without the loopback check it applies to --node-ip), so hostNetwork
 * pods get 127.0.0.1 as their IP and the API server reaches the kubelet (logs, exec) on loopback.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureGoTool, type KubeApi, kubeconfigYaml, kubeGet } from './kube.ts';
import { ensureDir } from './paths.ts';
import { freePorts } from './ports.ts';
import { type ServiceProcess, startProcess, waitUntil } from './service.ts';

export const nodeName = '127.0.0.1';
export const nodeUser = `system:node:${nodeName}`;
export const schedulerUser = 'system:kube-scheduler';

/**
 * The names (and so the InternalIPs) of a cluster of `count` nodes on this machine: 127.0.0.1,
 * 127.0.0.2, ... Every 127.x address is loopback, and hostNetwork pods get their node's address as
 * pod IP, so pods on different nodes can listen on the same port.
 */
export function nodeNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.0.${i + 1}`);
}

/** The identities the API server must know for these nodes and the scheduler (startKubeApi's `users`). */
export function nodeUsersFor(names: string[]): { name: string; groups?: string[] }[] {
  return [
    ...names.map((n) => ({ name: `system:node:${n}`, groups: ['system:nodes'] })),
    { name: schedulerUser },
  ];
}

/**
 * The controllers of a cluster with a node: all but IP allocation, volume binding/attaching and CSR
 * signing (nothing here needs them). Node lifecycle and pod garbage collection are on, as on a cluster.
 */
export const nodeControllers = [
  '*',
  '-node-ipam-controller',
  '-persistentvolume-binder-controller',
  '-persistentvolume-attach-detach-controller',
  '-persistentvolume-expander-controller',
  '-certificatesigningrequest-signing-controller',
  '-certificatesigningrequest-approving-controller',
  '-certificatesigningrequest-cleaner-controller',
].join(',');

export interface NodePki {
  /** the CA the kubelet trusts for client certificates */
  caFile: string;
  /** the API server's client certificate for kubelet calls (logs, exec): O=system:masters */
  clientCert: string;
  clientKey: string;
}

/**
 * A throw-away CA and the API server's kubelet-client certificate, with openssl (node:crypto cannot
 * issue X.509 certificates).
 */
export function makeNodePki(dir: string): NodePki {
  ensureDir(dir);
  const pki = {
    caFile: join(dir, 'ca.crt'),
    clientCert: join(dir, 'apiserver-kubelet-client.crt'),
    clientKey: join(dir, 'apiserver-kubelet-client.key'),
  };
  if (existsSync(pki.clientCert)) return pki;
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '30',
    '-subj',
    '/CN=kappaflow-node-ca',
  ]);
  openssl([
    'req',
    ...ec,
    '-keyout',
    pki.clientKey,
    '-out',
    'client.csr',
    '-subj',
    '/O=system:masters/CN=kube-apiserver-kubelet-client',
  ]);
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
  openssl([
    'x509',
    '-req',
    '-in',
    'client.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    pki.clientCert,
    '-days',
    '30',
    '-extfile',
    'client.ext',
  ]);
  return pki;
}

/** kube-apiserver flags for a node: the Node authorizer (appended to RBAC), NodeRestriction, kubelet client cert. */
export function nodeApiServerArgs(pki: NodePki): string[] {
  return [
    '--authorization-mode=Node',
    '--enable-admission-plugins=NodeRestriction',
    `--kubelet-client-certificate=${pki.clientCert}`,
    `--kubelet-client-key=${pki.clientKey}`,
    '--kubelet-preferred-address-types=InternalIP,Hostname',
  ];
}

/**
 * KubeletConfiguration for a borrowed test machine: cgroup v1 allowed (some VMs offer nothing else),
 * cgroupfs (no systemd), swap tolerated, kernel defaults rewritten (sysctls.ts puts them back), image
 * GC thresholds high (local-only images cannot be pulled again), state and logs under `dir`.
 */
function kubeletConfig(
  dir: string,
  socket: string,
  pki: NodePki,
  ports: { port: number; healthzPort: number },
  node: { address: string; cgroupRoot?: string },
): string {
  const { port, healthzPort } = ports;
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
${node.cgroupRoot ? `cgroupRoot: ${node.cgroupRoot}\n` : ''}containerRuntimeEndpoint: unix://${socket}
address: ${node.address}
port: ${port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${healthzPort}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${pki.caFile}}
authorization:
  mode: Webhook
failSwapOn: false
protectKernelDefaults: false
podLogsDir: ${dir}/pod-logs
volumePluginDir: ${dir}/volume-plugins
resolvConf: /etc/resolv.conf
serializeImagePulls: false
evictionHard: {memory.available: "200Mi", nodefs.available: "2%", imagefs.available: "2%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
syncFrequency: 10s
nodeStatusUpdateFrequency: 5s
`;
}

export interface KubeletHandle {
  process: ServiceProcess;
  healthz: string;
}

/** Starts the kubelet; resolves when /healthz answers and the Node is Ready in the API. */
export async function startKubelet(
  api: KubeApi,
  options: {
    dir: string;
    containerdSocket: string;
    pki: NodePki;
    detached?: boolean;
    timeoutMs?: number;
    /** the node's name and InternalIP (a 127.x address, nodeNames()); default 127.0.0.1 */
    name?: string;
    /**
     * The cgroup the kubelet puts `kubepods` under (it must exist). A second kubelet on the machine
     * needs its own: each kubelet kills pod cgroups under its root that it does not know.
     */
    cgroupRoot?: string;
  },
): Promise<KubeletHandle> {
  const bin = await ensureGoTool('kubelet');
  const dir = ensureDir(options.dir);
  const name = options.name ?? nodeName;
  const user = `system:node:${name}`;
  const [port, healthzPort] = (await freePorts(2)) as [number, number];
  const configFile = join(dir, 'kubelet-config.yaml');
  writeFileSync(
    configFile,
    kubeletConfig(
      dir,
      options.containerdSocket,
      options.pki,
      { port, healthzPort },
      { address: name, ...(options.cgroupRoot ? { cgroupRoot: options.cgroupRoot } : {}) },
    ),
  );
  const kubeconfig = join(dir, 'kubelet.kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(api.server, api.caPem, user, api.tokens[user] ?? ''), {
    mode: 0o600,
  });
  const process = startProcess(
    name === nodeName ? 'kubelet' : `kubelet ${name}`,
    bin,
    [
      `--config=${configFile}`,
      `--kubeconfig=${kubeconfig}`,
      `--root-dir=${join(dir, 'root')}`,
      `--cert-dir=${join(dir, 'pki')}`,
      `--hostname-override=${name}`,
      '--v=1',
    ],
    { logFile: join(dir, 'kubelet.log'), detached: options.detached },
  );
  const healthz = `http://127.0.0.1:${healthzPort}/healthz`;
  const timeoutMs = options.timeoutMs ?? 120_000;
  await waitUntil('kubelet /healthz', async () => (await fetch(healthz)).ok, { service: process, timeoutMs });
  await waitUntil(
    `Node ${name} Ready`,
    async () => {
      const res = await kubeGet(api.server, `/api/v1/nodes/${name}`, api);
      const node = JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string }[] } };
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
    },
    { service: process, timeoutMs, intervalMs: 250 },
  );
  return { process, healthz };
}

/** Starts kube-scheduler with its own identity (bootstrap RBAC binds `system:kube-scheduler`). */
export async function startScheduler(
  api: KubeApi,
  options: { dir: string; detached?: boolean },
): Promise<ServiceProcess> {
  const bin = await ensureGoTool('kube-scheduler');
  const kubeconfig = join(options.dir, 'kube-scheduler.kubeconfig');
  writeFileSync(
    kubeconfig,
    kubeconfigYaml(api.server, api.caPem, schedulerUser, api.tokens[schedulerUser] ?? ''),
    {
      mode: 0o600,
    },
  );
  return startProcess(
    'kube-scheduler',
    bin,
    [`--kubeconfig=${kubeconfig}`, '--leader-elect=false', '--secure-port=0', '--profiling=false'],
    { logFile: join(options.dir, 'kube-scheduler.log'), detached: options.detached },
  );
}
