import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, found from this file so scripts work from any working directory. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Where downloaded jars, built binaries and service data live. Git-ignored `.cache/` by default;
 * KAPPAFLOW_CACHE moves it (CI points it at a per-user cache so fresh clones reuse builds).
 */
export const cacheDir = resolve(process.env.KAPPAFLOW_CACHE ?? join(repoRoot, '.cache'));

/** Per-run scratch space for service data and logs (deleted with the service unless it is kept). */
export const runDir = join(cacheDir, 'run');

export function ensureDir(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}
