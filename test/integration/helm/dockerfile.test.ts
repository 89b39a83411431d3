// The image, checked without a Docker engine: the Dockerfile's own COPY and RUN steps are replayed
// in a clean folder (dockerfile.ts), then the image's ENTRYPOINT runs from that folder.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheDir, ensureDir, repoRoot } from '../../../harness/paths.ts';
import { parseDockerfile, replayDockerfile, type Stage } from './dockerfile.ts';

const dockerfile = join(repoRoot, 'Dockerfile');

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d)) {
      const p = join(d, entry);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

function duBytes(dir: string): number {
  return listFiles(dir).reduce((n, f) => n + statSync(f).size, 0);
}

describe('Dockerfile', () => {
  let work: string;
  let stages: Stage[];
  let runtime: Stage;
  let app: string;

  /** Runs the image's ENTRYPOINT with `args`: /nodejs/bin/node is this node, /app is the runtime stage's folder. */
  const runImage = (args: string[]) => {
    const [entry, ...entryArgs] = runtime.entrypoint!;
    expect(entry).toMatch(/\/node$/);
    const mapped = entryArgs.map((a) => (a.startsWith('/') ? join(runtime.root, a) : a));
    return spawnSync(process.execPath, [...mapped, ...args], {
      cwd: app,
      encoding: 'utf8',
      // A read-only root filesystem and no writable /tmp: even root cannot create anything under /dev/null.
      env: { PATH: process.env.PATH ?? '', ...runtime.env, TMPDIR: '/dev/null/tmp', HOME: '/dev/null/home' },
      timeout: 60_000,
    });
  };

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'kappaflow-image-'));
    stages = replayDockerfile(dockerfile, repoRoot, work, {
      log: (l) => process.stderr.write(`  ${l}\n`),
      cacheDir: ensureDir(join(cacheDir, 'image-build')), // like BuildKit's cache mounts, kept between runs
    });
    runtime = stages.at(-1)!;
    app = join(runtime.root, runtime.workdir);
  }, 600_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('is multi-stage: dependencies installed in a build stage, a small non-root runtime stage', () => {
    const froms = parseDockerfile(readFileSync(dockerfile, 'utf8')).filter((i) => i.op === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(runtime.base).toMatch(/distroless\/nodejs20|node:20[^ ]*slim/);
    expect(runtime.runs, 'nothing is installed in the runtime stage').toEqual([]);
    expect(runtime.user).toMatch(/^[1-9][0-9]*(:[1-9][0-9]*)?$/); // numeric, so runAsNonRoot can verify it
    expect(runtime.expose).toEqual(expect.arrayContaining(['8080', '8081']));
    expect(stages[0]!.runs.join(' ')).toContain('npm ci --omit=dev');
  });

  it('holds production dependencies only, and no tests', () => {
    const modules = join(app, 'node_modules');
    expect(existsSync(join(modules, 'tsx'))).toBe(true);
    expect(existsSync(join(modules, 'kafkajs'))).toBe(true);
    for (const dev of ['vitest', 'typescript', '@biomejs', 'playwright-core', 'fast-check']) {
      expect(existsSync(join(modules, dev)), `${dev} is a dev dependency`).toBe(false);
    }
    const files = listFiles(app).filter((f) => !f.includes('/node_modules/'));
    expect(files.filter((f) => f.endsWith('.test.ts'))).toEqual([]);
    expect(files.some((f) => f.includes('/test/'))).toBe(false);
    expect(existsSync(join(app, 'bin', 'kappaflow.js'))).toBe(true);
    const mb = duBytes(app) / 1024 / 1024;
    process.stderr.write(`  image app folder: ${mb.toFixed(1)} MB\n`);
    expect(mb).toBeLessThan(200);
  });

  it('runs `kappaflow --help` and `validate examples/` with nowhere to write', () => {
    const before = listFiles(app);
    const help = runImage(['--help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('validate');
    expect(help.stdout).toContain('run');
    const validate = runImage(['validate', 'examples/']);
    expect(validate.status, `${validate.stdout}\n${validate.stderr}`).toBe(0);
    // The image's default command (CMD) is --help too.
    const byDefault = runImage(runtime.cmd ?? []);
    expect(byDefault.status, byDefault.stderr).toBe(0);
    // Nothing was written into the image's folder either.
    expect(listFiles(app)).toEqual(before);
  });

  it('serves the operator role once `kappaflow operator` exists', () => {
    const help = runImage(['--help']);
    if (!/\boperator\b/.test(help.stdout)) {
      console.warn('kappaflow operator is not registered yet: skipping the operator --help check');
      return;
    }
    const operator = runImage(['operator', '--help']);
    expect(operator.status, operator.stderr).toBe(0);
  });
});
