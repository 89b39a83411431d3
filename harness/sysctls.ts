/**
 * The kernel settings a kubelet rewrites when it starts (protectKernelDefaults: false, the only way it
 * runs on a host it does not own): kubelet's setupKernelTunables sets them once, at start. Two of them
 * are dangerous on a shared test machine: with kernel.panic_on_oops=1 and kernel.panic=10 any kernel
 * oops reboots it. So the values are saved to a file before the kubelet starts and written back as soon
 * as it is up (it does not look at them again), at stop, at process exit, and by a watchdog process if
 * the owner dies without running any of that (SIGKILL).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

/** What kubelet v1.36 sets (pkg/kubelet/cm/container_manager_linux.go, setupKernelTunables). */
export const kubeletSysctls = [
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
] as const;

const procPath = (key: string) => `/proc/sys/${key.replaceAll('.', '/')}`;

export function readSysctls(): Record<string, string> {
  return Object.fromEntries(kubeletSysctls.map((k) => [k, readFileSync(procPath(k), 'utf8').trim()]));
}

/**
 * Records the current values in `file` unless it already exists: a file left by a run that died holds
 * the machine's original values, which must not be replaced by the kubelet's.
 */
export function saveSysctls(file: string): void {
  if (existsSync(file)) return;
  writeFileSync(file, `${JSON.stringify(readSysctls(), null, 2)}\n`);
}

/** Writes the saved values back (synchronous: it also runs in exit hooks). Returns what changed. */
export function restoreSysctls(file: string, options: { remove?: boolean } = {}): string[] {
  if (!existsSync(file)) return [];
  const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  const changed: string[] = [];
  for (const [key, value] of Object.entries(saved)) {
    const path = procPath(key);
    if (readFileSync(path, 'utf8').trim() === value) continue;
    writeFileSync(path, value);
    changed.push(`${key}=${value}`);
  }
  if (options.remove) rmSync(file, { force: true });
  return changed;
}

/**
 * A detached shell that restores the saved values once `pid` has gone, however it went (a SIGKILLed
 * test process runs no exit hook). Returns its pid, to stop it after a clean stop.
 */
export function startSysctlWatchdog(file: string, pid: number): number {
  const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  const writes = Object.entries(saved)
    .map(([key, value]) => `echo ${Number(value)} > ${procPath(key)}`)
    .join('; ');
  const script = `while kill -0 ${pid} 2>/dev/null; do sleep 1; done; if [ -f '${file}' ]; then ${writes}; fi`;
  const child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  child.unref();
  return child.pid ?? 0;
}
