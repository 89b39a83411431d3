/**
 * A real Kubernetes control plane for tests: etcd, kube-apiserver and kube-controller-manager,
 * built from their Go modules through the Go module proxy (see harness/kube/README.md) and
 * started on free loopback ports, the way controller-runtime's envtest does, plus the controller
 * manager so Deployments get ReplicaSets and Pods and owner references are garbage-collected.
 * There is no kubelet and no scheduler: Pods stay Pending unless a test harness plays the node.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { cacheDir, ensureDir, repoRoot, runDir } from './paths.ts';
import { freePorts } from './ports.ts';
import { withProgress } from './progress.ts';
import { run, type ServiceProcess, startProcess, tail, waitUntil } from './service.ts';

// ---------------------------------------------------------------------------------------------
// Building the binaries
// ---------------------------------------------------------------------------------------------

export type GoToolName =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubelet'
  | 'helm'
  | 'kubeconform';

interface GoTool {
  /** folder under harness/kube/ that holds the wrapper go.mod */
  module: string;
  /** the main package to build */
  pkg: string;
  /** how long a cold build takes on a 2-core machine, shown by the progress line */
  expected: string;
  /** `-X` flags stamping the release version in, as the projects' own release builds do */
  versionFlags?: (requires: Map<string, string>) => string[];
}

function minor(version: string | undefined): string {
  return version?.split('.')[1] ?? '0';
}

const kubernetesVersionFlags = (requires: Map<string, string>) => {
  const version = requires.get('k8s.io/kubernetes') ?? 'v0.0.0';
  const pkg = 'k8s.io/component-base/version';
  return [
    `-X ${pkg}.gitVersion=${version}`,
    `-X ${pkg}.gitMajor=${version.replace(/^v/, '').split('.')[0]}`,
    `-X ${pkg}.gitMinor=${minor(version)}`,
    `-X ${pkg}.gitTreeState=clean`,
  ];
};

/** Each tool is a `tool` directive in a small wrapper module; the go.mod/go.sum pin every version. */
const goTools: Record<GoToolName, GoTool> = {
  etcd: { module: 'etcd', pkg: 'go.etcd.io/etcd/server/v3', expected: '1 min cold, instant when cached' },
  'kube-apiserver': {
    module: 'kubernetes',
    pkg: 'k8s.io/kubernetes/cmd/kube-apiserver',
    expected: '3-4 min cold, instant when cached',
    versionFlags: kubernetesVersionFlags,
  },
  'kube-controller-manager': {
    module: 'kubernetes',
    pkg: 'k8s.io/kubernetes/cmd/kube-controller-manager',
    expected: '1 min after kube-apiserver, instant when cached',
    versionFlags: kubernetesVersionFlags,
  },
  // The real node (real-node.ts): same wrapper module, so they share the compiled packages.
  kubelet: {
    module: 'kubernetes',
    pkg: 'k8s.io/kubernetes/cmd/kubelet',
    expected: '1.5-2 min after kube-apiserver (6 min from an empty build cache), instant when cached',
    versionFlags: kubernetesVersionFlags,
  },
  'kube-scheduler': {
    module: 'kubernetes',
    pkg: 'k8s.io/kubernetes/cmd/kube-scheduler',
    expected: '15 s after the kubelet, instant when cached',
    versionFlags: kubernetesVersionFlags,
  },
  helm: {
    module: 'helm',
    pkg: 'helm.sh/helm/v3/cmd/helm',
    expected: '1-1.5 min cold, instant when cached',
    versionFlags: (requires) => {
      // Helm renders `.Capabilities.KubeVersion` (helm template) from the client-go it was built with.
      const kube = minor(requires.get('k8s.io/client-go'));
      return [
        `-X helm.sh/helm/v3/internal/version.version=${requires.get('helm.sh/helm/v3') ?? 'v3'}`,
        '-X helm.sh/helm/v3/internal/version.gitTreeState=clean',
        '-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1',
        `-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${kube}`,
        '-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1',
        `-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${kube}`,
      ];
    },
  },
  kubeconform: {
    module: 'kubeconform',
    pkg: 'github.com/yannh/kubeconform/cmd/kubeconform',
    expected: 'a few seconds',
    versionFlags: (requires) => [
      `-X main.version=${requires.get('github.com/yannh/kubeconform') ?? 'unknown'}`,
    ],
  },
};

export const kubeBinDir = join(cacheDir, 'kube', 'bin');
const kubeModulesDir = join(repoRoot, 'harness', 'kube');
const buildLogDir = join(cacheDir, 'kube', 'logs');

/** The path a tool is (or will be) built to. */
export function kubeBinPath(name: GoToolName): string {
  return join(kubeBinDir, name);
}

/** The `require`d module versions of a wrapper module's go.mod. */
function goModRequires(module: string): Map<string, string> {
  const requires = new Map<string, string>();
  const text = readFileSync(join(kubeModulesDir, module, 'go.mod'), 'utf8');
  for (const match of text.matchAll(/^(?:require\s+|\t)([\w./-]+)\s+(v[^\s]+)(?:\s|$)/gm)) {
    if (match[1] && match[2] && !requires.has(match[1])) requires.set(match[1], match[2]);
  }
  return requires;
}

/** The k8s.io/kubernetes release the control plane and the node are built from. */
export function kubernetesVersion(): string {
  return goModRequires('kubernetes').get('k8s.io/kubernetes') ?? 'v0.0.0';
}

function ldflags(name: GoToolName): string {
  const tool = goTools[name];
  return ['-s', '-w', ...(tool.versionFlags?.(goModRequires(tool.module)) ?? [])].join(' ');
}

function toolStamp(name: GoToolName, goVersion: string): string {
  const tool = goTools[name];
  const dir = join(kubeModulesDir, tool.module);
  const hash = createHash('sha256');
  hash.update(`${tool.pkg}\n${goVersion}\n${ldflags(name)}\n`);
  for (const file of ['go.mod', 'go.sum']) hash.update(readFileSync(join(dir, file)));
  return hash.digest('hex');
}

let goVersionPromise: Promise<string> | undefined;
function goVersion(): Promise<string> {
  goVersionPromise ??= run('go', ['env', 'GOVERSION'])
    .then((out) => out.trim())
    .catch((error: unknown) => {
      goVersionPromise = undefined;
      throw new Error(
        `The Go toolchain is needed to build the Kubernetes binaries (go 1.26 or newer on PATH): ${String(error)}`,
      );
    });
  return goVersionPromise;
}

/** A cross-process lock (a directory holding the owner's pid), so parallel test workers build once. */
async function withLock<T>(lockDir: string, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch {
      let owner = Number.NaN;
      try {
        owner = Number(readFileSync(join(lockDir, 'pid'), 'utf8'));
      } catch {
        // the owner is between mkdir and writing its pid, or just released the lock
      }
      let ownerAlive = true;
      if (Number.isFinite(owner) && owner > 0) {
        try {
          process.kill(owner, 0);
        } catch {
          ownerAlive = false;
        }
      } else if (existsSync(lockDir) && Date.now() - statSync(lockDir).mtimeMs > 60_000) {
        ownerAlive = false;
      }
      if (!ownerAlive) rmSync(lockDir, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`gave up waiting for the build lock ${lockDir}`);
      else await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

/**
 * True when the tool's binary exists and matches its stamp (no Go build needed). Synchronous and
 * cheap, so tests can pick a longer set-up timeout when a cold build is ahead.
 */
export function goToolBuilt(name: GoToolName): boolean {
  const bin = kubeBinPath(name);
  const stampFile = `${bin}.stamp`;
  if (!existsSync(bin) || !existsSync(stampFile)) return false;
  // The Go version is part of the stamp; without asking `go` we accept any line-1 hash that matches
  // go.mod/go.sum for the Go version recorded in the stamp.
  const [stamp, , recordedGo] = readFileSync(stampFile, 'utf8').split('\n');
  return recordedGo !== undefined && stamp === toolStamp(name, recordedGo.replace(/^go: /, ''));
}

/** True when etcd, kube-apiserver and kube-controller-manager are built and current. */
export function kubeBinariesBuilt(): boolean {
  return (['etcd', 'kube-apiserver', 'kube-controller-manager'] as const).every(goToolBuilt);
}

const building = new Map<GoToolName, Promise<string>>();

/**
 * Builds one tool from its wrapper module with `go build` (modules come from the Go module proxy,
 * compiled packages from the Go build cache) unless the binary is there and its stamp, a hash of
 * go.mod, go.sum and the Go version, still matches. Returns the binary's path.
 */
export function ensureGoTool(name: GoToolName): Promise<string> {
  let pending = building.get(name);
  if (!pending) {
    pending = buildGoTool(name).finally(() => building.delete(name));
    building.set(name, pending);
  }
  return pending;
}

async function buildGoTool(name: GoToolName): Promise<string> {
  const tool = goTools[name];
  const bin = kubeBinPath(name);
  const stampFile = `${bin}.stamp`;
  const upToDate = (stamp: string) =>
    existsSync(bin) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').split('\n')[0] === stamp;
  const goVersionText = await goVersion();
  const stamp = toolStamp(name, goVersionText);
  if (upToDate(stamp)) return bin;
  ensureDir(kubeBinDir);
  ensureDir(buildLogDir);
  return withLock(join(kubeBinDir, `.${name}.lock`), async () => {
    if (upToDate(stamp)) return bin; // another process built it while we waited
    const started = Date.now();
    const tmp = `${bin}.tmp-${process.pid}`;
    const logFile = join(buildLogDir, `build-${name}.log`);
    await withProgress(
      `Building ${name} from its Go module (${tool.pkg})`,
      async () => {
        try {
          const output = await run(
            'go',
            ['build', '-trimpath', `-ldflags=${ldflags(name)}`, '-o', tmp, tool.pkg],
            {
              cwd: join(kubeModulesDir, tool.module),
              env: {
                // -mod=mod lets go add missing go.sum lines instead of failing; -buildvcs=false because
                // the wrapper modules sit inside this repository's git work tree.
                GOFLAGS: '-mod=mod -buildvcs=false',
                CGO_ENABLED: '0',
              },
            },
          );
          writeFileSync(logFile, output);
        } catch (error) {
          writeFileSync(logFile, String(error));
          rmSync(tmp, { force: true });
          throw error;
        }
      },
      tool.expected,
    );
    renameSync(tmp, bin);
    const seconds = Math.round((Date.now() - started) / 1000);
    writeFileSync(
      stampFile,
      `${stamp}\nbuilt ${new Date().toISOString()} in ${seconds}s\ngo: ${goVersionText}\n`,
    );
    return bin;
  });
}

/** Builds (once, cached) etcd, kube-apiserver and kube-controller-manager, one after another. */
export async function ensureKubeBinaries(): Promise<{
  etcd: string;
  kubeApiServer: string;
  kubeControllerManager: string;
}> {
  const etcd = await ensureGoTool('etcd');
  const kubeApiServer = await ensureGoTool('kube-apiserver');
  const kubeControllerManager = await ensureGoTool('kube-controller-manager');
  return { etcd, kubeApiServer, kubeControllerManager };
}

/**
 * Everything Kubernetes-related a fresh machine needs, built in sequence (two cores: one Go build at a
 * time keeps the machine usable): etcd, kube-apiserver, kube-controller-manager, helm, kubeconform.
 * For `.ci/run` and `npm run infra`.
 */
export async function provisionKube(): Promise<void> {
  await ensureKubeBinaries();
  await ensureGoTool('helm');
  await ensureGoTool('kubeconform');
}

// ---------------------------------------------------------------------------------------------
// Running the control plane
// ---------------------------------------------------------------------------------------------

export interface KubeApiOptions {
  /** Start kube-controller-manager too (Deployments → ReplicaSets → Pods, garbage collection). Default true. */
  controllerManager?: boolean;
  /**
   * The controller manager's `--controllers` list. The default runs every controller that makes sense
   * without nodes, cloud or volumes.
   */
  controllers?: string;
  /** Extra kube-apiserver flags, e.g. `--feature-gates=...`. */
  apiServerArgs?: string[];
  /** Keep etcd data, certificates and logs after stop() (also when KAPPAFLOW_KEEP=1). */
  keep?: boolean;
  /** How long to wait for everything to be ready. Default 120 s. */
  timeoutMs?: number;
  /** Leave the processes running after this process exits (`npm run infra -- up --node`); stop() still stops them. */
  detached?: boolean;
  /** More static-token identities (e.g. a node's `system:node:<name>` in `system:nodes`); tokens in `KubeApi.tokens`. */
  users?: { name: string; groups?: string[] }[];
}

export interface KubeApi {
  /** https://127.0.0.1:<port> */
  server: string;
  /** a kubeconfig file with admin credentials (user `kappaflow-admin`, group `system:masters`) */
  kubeconfigPath: string;
  /** the same kubeconfig as YAML text, for `KubeConfig.loadFromString()` */
  kubeconfig: string;
  /** the admin bearer token */
  token: string;
  /** bearer tokens of the `users` option, by user name */
  tokens: Record<string, string>;
  /** PEM of the CA that signed the API server's serving certificate */
  caPem: string;
  /** http://127.0.0.1:<port> of etcd */
  etcdEndpoint: string;
  /** where the data, certificates and logs of this control plane live */
  dir: string;
  apiServer: ServiceProcess;
  etcd: ServiceProcess;
  controllerManager?: ServiceProcess;
  /** Stops kube-apiserver and starts it again on the same port with the same etcd data. */
  restartApiServer(options?: { kill?: boolean; downMs?: number }): Promise<void>;
  /** Stops everything (controller manager, API server, etcd) and deletes the data unless kept. */
  stop(): Promise<void>;
}

/** Every process this module started, killed when the test process exits however it exits. */
const running = new Set<ServiceProcess>();
let exitHookInstalled = false;
function track(service: ServiceProcess): ServiceProcess {
  running.add(service);
  service.child.once('exit', () => running.delete(service));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const s of running) s.child.kill('SIGKILL');
    });
  }
  return service;
}

/**
 * Controllers that need nodes, a cloud, volumes or CSR signing keys are left out. So is the pod garbage
 * collector: it deletes Pods bound to Nodes that do not exist, which is what a kubelet-playing test
 * harness may create.
 */
const defaultControllers = [
  '*',
  '-node-ipam-controller',
  '-node-lifecycle-controller',
  '-taint-eviction-controller',
  '-device-taint-eviction-controller',
  '-pod-garbage-collector-controller',
  '-daemonset-controller',
  '-persistentvolume-binder-controller',
  '-persistentvolume-attach-detach-controller',
  '-persistentvolume-expander-controller',
  '-persistentvolume-protection-controller',
  '-persistentvolumeclaim-protection-controller',
  '-ephemeral-volume-controller',
  '-certificatesigningrequest-signing-controller',
  '-certificatesigningrequest-approving-controller',
  '-certificatesigningrequest-cleaner-controller',
  '-ttl-controller',
  '-selinux-warning-controller',
].join(',');

export function kubeconfigYaml(server: string, caPem: string, user: string, token: string): string {
  const ca = Buffer.from(caPem).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: kappaflow-test
  cluster:
    server: ${server}
    certificate-authority-data: ${ca}
users:
- name: ${user}
  user:
    token: ${token}
contexts:
- name: kappaflow-test
  context:
    cluster: kappaflow-test
    user: ${user}
    namespace: default
current-context: kappaflow-test
`;
}

/** A GET on the API server; resolves with the status code and body. */
export function kubeGet(
  server: string,
  path: string,
  auth: { token: string; caPem?: string },
  accept = 'application/json',
): Promise<{ status: number; body: string }> {
  return new Promise((resolveGet, reject) => {
    const req = request(
      new URL(path, server),
      {
        method: 'GET',
        headers: { authorization: `Bearer ${auth.token}`, accept },
        ...(auth.caPem ? { ca: auth.caPem } : { rejectUnauthorized: false }),
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolveGet({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

let instance = 0;

/**
 * Starts etcd, kube-apiserver (RBAC on, service-account tokens signed with a key generated here) and,
 * unless `controllerManager: false`, kube-controller-manager, on free loopback ports. Resolves when
 * /readyz is ok, the `default` namespace exists and (with the controller manager) the `default`
 * ServiceAccount exists, so Pods can be created at once.
 */
export async function startKubeApi(options: KubeApiOptions = {}): Promise<KubeApi> {
  const withControllerManager = options.controllerManager ?? true;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const keep = options.keep ?? process.env.KAPPAFLOW_KEEP === '1';
  const bins = await ensureKubeBinaries();
  const started = Date.now();
  const detached = options.detached ?? false;
  const owned = (service: ServiceProcess) => (detached ? service : track(service));

  const dir = ensureDir(join(runDir, `kube-${process.pid}-${++instance}-${randomBytes(3).toString('hex')}`));
  const etcdDir = join(dir, 'etcd');
  const certDir = ensureDir(join(dir, 'certs'));
  const [etcdPort, etcdPeerPort, apiPort] = (await freePorts(3)) as [number, number, number];
  const etcdEndpoint = `http://127.0.0.1:${etcdPort}`;
  const server = `https://127.0.0.1:${apiPort}`;

  // Service-account tokens: the API server signs them with this key and verifies them with its public half.
  const saKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const saKey = join(certDir, 'sa.key');
  const saPub = join(certDir, 'sa.pub');
  writeFileSync(saKey, saKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(saPub, saKeys.publicKey.export({ type: 'spki', format: 'pem' }));

  // Static bearer tokens: an admin for the tests and the controller manager's own identity, whose
  // bootstrap RBAC binding lets it create one service account per controller (as on a real cluster).
  const token = randomBytes(24).toString('hex');
  const kcmToken = randomBytes(24).toString('hex');
  const tokenFile = join(certDir, 'tokens.csv');
  const tokens: Record<string, string> = {};
  const userLines = (options.users ?? []).map(({ name, groups }) => {
    tokens[name] = randomBytes(24).toString('hex');
    return `${tokens[name]},${name},${name}${groups?.length ? `,"${groups.join(',')}"` : ''}\n`;
  });
  writeFileSync(
    tokenFile,
    `${token},kappaflow-admin,kappaflow-admin,"system:masters"\n${kcmToken},system:kube-controller-manager,system:kube-controller-manager\n${userLines.join('')}`,
    { mode: 0o600 },
  );

  const services: ServiceProcess[] = [];
  const stopAll = async () => {
    for (const s of [...services].reverse()) await s.stop(10_000);
  };

  try {
    const etcd = owned(
      startProcess(
        'etcd',
        bins.etcd,
        [
          '--name=kappaflow',
          `--data-dir=${etcdDir}`,
          `--listen-client-urls=${etcdEndpoint}`,
          `--advertise-client-urls=${etcdEndpoint}`,
          `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
          `--initial-cluster=kappaflow=http://127.0.0.1:${etcdPeerPort}`,
          '--unsafe-no-fsync=true', // test data: durability across machine crashes is not needed
          '--log-level=warn',
        ],
        { logFile: join(dir, 'etcd.log'), detached },
      ),
    );
    services.push(etcd);
    await waitUntil(
      `etcd on ${etcdEndpoint}`,
      async () => {
        const res = await fetch(`${etcdEndpoint}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      },
      { service: etcd, timeoutMs },
    );

    const apiArgs = [
      `--etcd-servers=${etcdEndpoint}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${certDir}`, // the API server writes a self-signed serving cert (and its CA) here
      `--token-auth-file=${tokenFile}`,
      '--authorization-mode=RBAC',
      `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      // No endpoints for the `kubernetes` Service: nothing "in" this cluster could reach loopback anyway.
      '--endpoint-reconciler-type=none',
      // Without it a SIGTERM waits up to a minute for open watches (the controller manager's) to end.
      '--shutdown-watch-termination-grace-period=2s',
      '--profiling=false',
      // Without the controller manager nobody creates the `default` ServiceAccount that this plugin
      // insists on, so Pods could never be created.
      ...(withControllerManager ? [] : ['--disable-admission-plugins=ServiceAccount']),
      ...(options.apiServerArgs ?? []),
    ];
    const apiLog = join(dir, 'kube-apiserver.log');
    const startApiServer = () =>
      owned(startProcess('kube-apiserver', bins.kubeApiServer, apiArgs, { logFile: apiLog, detached }));
    let apiServer = startApiServer();
    services.push(apiServer);

    const caFile = join(certDir, 'apiserver.crt');
    let caPem = '';
    const waitReady = async (service: ServiceProcess) => {
      await waitUntil(
        `the API server's self-signed certificate in ${certDir}`,
        async () => existsSync(caFile),
        {
          service,
          timeoutMs,
        },
      );
      caPem = readFileSync(caFile, 'utf8');
      await waitUntil(
        `kube-apiserver /readyz on ${server}`,
        async () => (await kubeGet(server, '/readyz', { token, caPem })).status === 200,
        { service, timeoutMs, intervalMs: 250 },
      );
    };
    await waitReady(apiServer);
    await waitUntil(
      'the default namespace',
      async () => (await kubeGet(server, '/api/v1/namespaces/default', { token, caPem })).status === 200,
      { service: apiServer, timeoutMs },
    );

    const kubeconfig = kubeconfigYaml(server, caPem, 'kappaflow-admin', token);
    const kubeconfigPath = join(dir, 'kubeconfig.yaml');
    writeFileSync(kubeconfigPath, kubeconfig, { mode: 0o600 });

    let controllerManager: ServiceProcess | undefined;
    if (withControllerManager) {
      const kcmKubeconfig = join(dir, 'kube-controller-manager.kubeconfig');
      writeFileSync(
        kcmKubeconfig,
        kubeconfigYaml(server, caPem, 'system:kube-controller-manager', kcmToken),
        {
          mode: 0o600,
        },
      );
      controllerManager = owned(
        startProcess(
          'kube-controller-manager',
          bins.kubeControllerManager,
          [
            `--kubeconfig=${kcmKubeconfig}`,
            '--leader-elect=false',
            `--controllers=${options.controllers ?? defaultControllers}`,
            '--use-service-account-credentials=true', // each controller acts as its own service account
            `--service-account-private-key-file=${saKey}`,
            `--root-ca-file=${caFile}`,
            '--secure-port=0', // no healthz server: nothing to bind, no certificates to generate
            '--cluster-name=kappaflow-test',
            '--concurrent-gc-syncs=5',
            '--profiling=false',
          ],
          { logFile: join(dir, 'kube-controller-manager.log'), detached },
        ),
      );
      services.push(controllerManager);
      await waitUntil(
        'the default ServiceAccount (created by kube-controller-manager)',
        async () =>
          (await kubeGet(server, '/api/v1/namespaces/default/serviceaccounts/default', { token, caPem }))
            .status === 200,
        { service: controllerManager, timeoutMs },
      );
    }

    if (process.env.KAPPAFLOW_QUIET !== '1') {
      process.stderr.write(
        `  kube-apiserver ${server} ready in ${((Date.now() - started) / 1000).toFixed(1)}s (kubeconfig ${kubeconfigPath})\n`,
      );
    }

    let stopped = false;
    const api: KubeApi = {
      server,
      kubeconfigPath,
      kubeconfig,
      token,
      tokens,
      caPem,
      etcdEndpoint,
      dir,
      apiServer,
      etcd,
      controllerManager,
      async restartApiServer(restart = {}) {
        if (restart.kill) await apiServer.kill();
        else await apiServer.stop(15_000);
        if (restart.downMs) await new Promise((r) => setTimeout(r, restart.downMs));
        const index = services.indexOf(apiServer);
        apiServer = startApiServer();
        if (index >= 0) services[index] = apiServer;
        api.apiServer = apiServer;
        await waitReady(apiServer);
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopAll();
        if (!keep) rmSync(dir, { recursive: true, force: true });
      },
    };
    return api;
  } catch (error) {
    const logs = services.map((s) => `--- ${s.name} (${s.logFile}) ---\n${tail(s.logFile, 40)}`).join('\n');
    await stopAll();
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${logs}`, { cause: error });
  }
}
