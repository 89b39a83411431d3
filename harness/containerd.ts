/**
 * containerd (Debian's package, with runc) as the real node's container runtime: its own config, root,
 * state and socket under one folder, so it never touches a system containerd. Images come only from
 * archives built here (image.ts): nothing is ever pulled.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir } from './paths.ts';
import { processAlive, run, type ServiceProcess, startProcess, waitUntil } from './service.ts';

/** The Debian packages the real node needs, with the binary that shows each is installed. */
export const nodePackages = [
  { pkg: 'containerd', bin: '/usr/bin/containerd' },
  { pkg: 'runc', bin: '/usr/sbin/runc' },
  { pkg: 'buildah', bin: '/usr/bin/buildah' },
  { pkg: 'containernetworking-plugins', bin: '/usr/lib/cni/loopback' },
] as const;

/** Fails with what to install when a package is missing (`npm run infra -- provision --node` does it). */
export function checkNodePackages(): void {
  const missing = nodePackages.filter((p) => !existsSync(p.bin)).map((p) => p.pkg);
  if (missing.length > 0) {
    throw new Error(
      `The real node needs the Debian packages ${missing.join(', ')}: run \`npm run infra -- provision --node\` (or apt-get install -y ${missing.join(' ')}).`,
    );
  }
}

/** apt-get install of whatever nodePackages lacks. */
export async function installNodePackages(): Promise<void> {
  const missing = nodePackages.filter((p) => !existsSync(p.bin)).map((p) => p.pkg);
  if (missing.length === 0) return;
  await run('apt-get', ['update', '-qq']);
  await run('apt-get', ['install', '-y', '-qq', ...missing], { env: { DEBIAN_FRONTEND: 'noninteractive' } });
}

export interface Containerd {
  socket: string;
  dir: string;
  process: ServiceProcess;
  /** `ctr` against this containerd, in the `k8s.io` namespace the CRI (and so the kubelet) uses. */
  ctr(args: string[]): Promise<string>;
  /** Imports an image archive (docker-archive or OCI); the CRI sees it at once (namespace k8s.io). */
  importImage(archive: string): Promise<void>;
  /** Kills every task, removes the containers, stops containerd and the shims it left behind. */
  stop(): Promise<void>;
}

/**
 * Config v2 for containerd 1.6. The must-haves on this kind of machine: the sandbox (pause) image is a
 * local one; restrict_oom_score_adj, because processes here lack CAP_SYS_RESOURCE and runc fails
 * ("can't get final child's PID from pipe") when asked for the pause container's -998; cgroupfs,
 * because no systemd runs. Everything else keeps containerd's files under `dir`.
 */
function config(dir: string, pauseImage: string): string {
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
[grpc]
  address = "${dir}/containerd.sock"
[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pauseImage}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${dir}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${dir}/cni"
`;
}

/**
 * The only network config: the loopback plugin. Pods run with hostNetwork (every listener stays on
 * 127.0.0.1); the file exists because without any CNI config containerd reports the network as not
 * ready and the node never becomes Ready.
 */
const loopbackOnly = JSON.stringify({
  cniVersion: '1.0.0',
  name: 'kappaflow-loopback',
  plugins: [{ type: 'loopback' }],
});

export async function startContainerd(dir: string, pauseImage: string): Promise<Containerd> {
  checkNodePackages();
  ensureDir(dir);
  writeFileSync(join(ensureDir(join(dir, 'cni')), '10-loopback.conflist'), loopbackOnly);
  const configFile = join(dir, 'config.toml');
  writeFileSync(configFile, config(dir, pauseImage));
  const socket = join(dir, 'containerd.sock');
  const process = startProcess('containerd', '/usr/bin/containerd', ['--config', configFile], {
    logFile: join(dir, 'containerd.log'),
    detached: true,
  });
  const ctr = (args: string[]) => run('/usr/bin/ctr', ['-a', socket, '-n', 'k8s.io', ...args]);
  await waitUntil('containerd', async () => (await ctr(['version'])).includes('Server'), {
    service: process,
    timeoutMs: 30_000,
  });
  return {
    socket,
    dir,
    process,
    ctr,
    async importImage(archive) {
      await ctr(['images', 'import', archive]);
    },
    async stop() {
      await stopContainerd(dir, process.child.pid);
    },
  };
}

/** Pids of the containerd-shim-runc-v2 processes serving this containerd (they outlive it). */
function shimPids(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmdline[0]?.endsWith('containerd-shim-runc-v2') && cmdline.includes(join(dir, 'containerd.sock'))) {
        pids.push(Number(entry));
      }
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function waitGone(pids: number[], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (pids.some((p) => processAlive(p)) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
}

/**
 * Stops what a containerd started from `dir` left: tasks (SIGKILL), containers, containerd itself
 * (by pid), the shims, then unmounts whatever is still mounted under `dir` (deepest first). Safe to
 * run again, and on the leftovers of a run that died.
 */
export async function stopContainerd(dir: string, pid?: number): Promise<void> {
  const socket = join(dir, 'containerd.sock');
  const ctr = (args: string[]) => run('/usr/bin/ctr', ['-a', socket, '-n', 'k8s.io', ...args]);
  if (pid && processAlive(pid) && existsSync(socket)) {
    const ids = async (kind: string) =>
      (await ctr([kind, 'ls', '-q']).catch(() => ''))
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
    for (const id of await ids('tasks')) await ctr(['tasks', 'kill', '-s', 'SIGKILL', id]).catch(() => '');
    for (const id of await ids('tasks')) await ctr(['tasks', 'rm', '-f', id]).catch(() => '');
    for (const id of await ids('containers')) await ctr(['containers', 'rm', id]).catch(() => '');
    process.kill(pid, 'SIGTERM');
    await waitGone([pid], 10_000);
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  const shims = shimPids(dir);
  for (const shim of shims) process.kill(shim, 'SIGKILL');
  await waitGone(shims, 5_000);
  unmountUnder(dir);
}

/** Unmounts every mount point under `dir`, deepest first (overlay roots, shm, netns, volumes). */
export function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4]?.replaceAll('\\040', ' '))
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const mount of mounts) {
    try {
      execFileSync('umount', [mount], { stdio: 'ignore' });
    } catch {
      execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
    }
  }
}
