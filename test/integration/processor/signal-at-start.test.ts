// SIGTERM to `kappaflow` running as PID 1, as in a container: the kernel drops every signal PID 1 has
// no handler for, so a command still starting (loading, waiting for Kafka or the API server) ignored
// it and the kubelet killed the pod only at the end of its 60 s grace period (seen on the real nodes
// when a Pipeline was scaled to 0 right after a pod started). bin/kappaflow.js handles SIGTERM from
// its first line (exit 143) until the command installs its own handler (drain, exit 0).
// Each process runs as PID 1 of a new PID namespace (`unshare --pid --fork`), signalled from outside.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { repoRoot } from '../../../harness/paths.ts';
import { freePorts } from '../../../harness/ports.ts';
import { waitUntil } from '../../../harness/service.ts';

/** The pid of a child of `parent` (0 if none yet). */
function childOf(parent: number): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (new RegExp(`^PPid:\\s+${parent}$`, 'm').test(readFileSync(`/proc/${entry}/status`, 'utf8')))
        return Number(entry);
    } catch {
      // the process ended meanwhile
    }
  }
  return 0;
}

/** `kappaflow <args>` as PID 1 of its own PID namespace, with its output and its end. */
function spawnAsPid1(args: string[], env: Record<string, string>) {
  const child = spawn(
    'unshare',
    // --kill-child: the namespace's processes die with unshare if the test ends early
    ['--pid', '--fork', '--kill-child', process.execPath, join(repoRoot, 'bin', 'kappaflow.js'), ...args],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  // unshare exits with its child's status
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const status = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8');
  /** The kappaflow process's pid as seen from here, once it is PID 1 inside. */
  const pid = async () => {
    let inner = 0;
    await waitUntil('kappaflow started as PID 1', async () => {
      inner = childOf(child.pid!);
      return inner > 0 && /^NSpid:\s+\d+\s+1$/m.test(status(inner));
    });
    return inner;
  };
  /** SIGTERM from outside the namespace, as the container runtime sends it. */
  const sigterm = async () => process.kill(await pid(), 'SIGTERM');
  const exitWithin = async (ms: number) => {
    const code = await Promise.race([
      exited,
      new Promise<'running'>((r) => setTimeout(() => r('running'), ms)),
    ]);
    if (code === 'running')
      throw new Error(`still running ${ms} ms after SIGTERM (the signal was lost):\n${output.slice(-2000)}`);
    return code;
  };
  return { child, sigterm, exitWithin, output: () => output };
}

const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

const answers = (port: number) => async () =>
  (await fetch(`http://127.0.0.1:${port}/healthz`)
    .then((r) => r.status)
    .catch(() => 0)) > 0;

describe('SIGTERM to kappaflow as PID 1 (a container), during start-up and after it', () => {
  it('run, while waiting for Kafka: exits at once (143), saying so', { timeout: 120_000 }, async () => {
    const [deadKafka, port] = (await freePorts(2)) as [number, number];
    const run = spawnAsPid1(
      ['run', join(repoRoot, 'examples', 'page-views.yaml'), '--port', String(port), '--host', '127.0.0.1'],
      { KAFKA_BROKERS: `127.0.0.1:${deadKafka}`, REDIS_URL: inject('redisUrl') },
    );
    started.push(run.child);
    // its HTTP endpoints answer from the start of start-up, before it waits for Kafka
    await waitUntil('the processor to be starting (HTTP up, Kafka not answering)', answers(port), {
      timeoutMs: 90_000,
      intervalMs: 200,
    });
    expect(run.output()).not.toContain('"msg":"consuming"');
    await run.sigterm();
    expect(await run.exitWithin(10_000)).toBe(143);
    expect(run.output()).toContain('kappaflow: SIGTERM during start-up, exiting');
  });

  // The operator starts without its API server (its informers retry in the background), so its
  // handler is in place at once; a SIGTERM must reach it, not the start-up one that exits 143.
  it('operator, started while its API server does not answer: stops and exits 0', {
    timeout: 120_000,
  }, async () => {
    const [deadApi, port] = (await freePorts(2)) as [number, number];
    const dir = mkdtempSync(join(tmpdir(), 'kf-sig-'));
    const kubeconfig = join(dir, 'kubeconfig.yaml');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: dead, cluster: {server: "https://127.0.0.1:${deadApi}"}}]`,
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: dead, context: {cluster: dead, user: u}}]',
        'current-context: dead',
        '',
      ].join('\n'),
    );
    const operator = spawnAsPid1(
      ['operator', '--kubeconfig', kubeconfig, '--port', String(port), '--host', '127.0.0.1'],
      { KAFKA_BROKERS: inject('kafkaBrokers').join(','), REDIS_URL: inject('redisUrl') },
    );
    started.push(operator.child);
    await waitUntil(
      'the operator started and trying its API server',
      async () => /operator started[\s\S]*list failed/.test(operator.output()),
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    await operator.sigterm();
    expect(await operator.exitWithin(30_000)).toBe(0);
    expect(operator.output()).not.toContain('during start-up');
    rmSync(dir, { recursive: true, force: true });
  });

  it('run, once consuming: drains and exits 0 (the start-up handler is gone)', {
    timeout: 120_000,
  }, async () => {
    const [port] = (await freePorts(1)) as [number];
    const topic = `page-views-sig-${randomUUID().slice(0, 6)}`;
    const spec = readFileSync(join(repoRoot, 'examples', 'page-views.yaml'), 'utf8')
      .replace('name: page-views', `name: ${topic}`)
      .replace('topic: page-views\n', `topic: ${topic}\n`)
      .replace('topic: page-views.dlq', `topic: ${topic}.dlq`);
    const dir = mkdtempSync(join(tmpdir(), 'kf-sig-'));
    writeFileSync(join(dir, 'pipeline.yaml'), spec);
    const kafka = new Kafka({ brokers: inject('kafkaBrokers'), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const run = spawnAsPid1(
      ['run', join(dir, 'pipeline.yaml'), '--port', String(port), '--host', '127.0.0.1'],
      { KAFKA_BROKERS: inject('kafkaBrokers').join(','), REDIS_URL: inject('redisUrl') },
    );
    started.push(run.child);
    await waitUntil('the processor consuming', async () => run.output().includes('"msg":"consuming"'), {
      timeoutMs: 90_000,
      intervalMs: 200,
    });
    await run.sigterm();
    expect(await run.exitWithin(60_000)).toBe(0);
    expect(run.output()).toContain('"msg":"draining"');
    expect(run.output()).toContain('"msg":"stopped"');
    expect(run.output()).not.toContain('during start-up');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serve, once listening: closes and exits 0', { timeout: 120_000 }, async () => {
    const [port] = (await freePorts(1)) as [number];
    const serve = spawnAsPid1(['serve', '--port', String(port), '--host', '127.0.0.1'], {
      REDIS_URL: inject('redisUrl'),
    });
    started.push(serve.child);
    await waitUntil('the query API listening', async () => serve.output().includes('query API listening'), {
      timeoutMs: 90_000,
      intervalMs: 200,
    });
    expect(await answers(port)()).toBe(true);
    await serve.sigterm();
    expect(await serve.exitWithin(30_000)).toBe(0);
    expect(serve.output()).toContain('"msg":"stopped"');
    expect(serve.output()).not.toContain('during start-up');
  });
});
