// A SIGTERM while `kappaflow run` is still starting (here: waiting for a Kafka that does not answer)
// ends it at once (code 143): bin/kappaflow.js handles it from its first line until the command takes
// over. In a container the process is PID 1, which the kernel spares every signal it has no handler
// for: without that handler the signal was lost and the kubelet killed the pod only at the end of its
// 60 s grace period (seen on the real nodes when a Pipeline was scaled to 0 right after a pod started).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { repoRoot } from '../../../harness/paths.ts';
import { freePorts } from '../../../harness/ports.ts';
import { waitUntil } from '../../../harness/service.ts';

/** `kappaflow run` as a user starts it, with its output and its end. */
function spawnRun(file: string, port: number, brokers: string) {
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'bin', 'kappaflow.js'), 'run', file, '--port', String(port), '--host', '127.0.0.1'],
    {
      env: { ...process.env, KAFKA_BROKERS: brokers, REDIS_URL: inject('redisUrl') },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const answers = async () =>
    (await fetch(`http://127.0.0.1:${port}/healthz`)
      .then((r) => r.status)
      .catch(() => 0)) > 0;
  return { child, exited, answers, output: () => output };
}

const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

describe('kappaflow run: SIGTERM during start-up and after it', () => {
  it('while waiting for Kafka: exits at once (143), saying so', { timeout: 120_000 }, async () => {
    const [deadKafka, port] = (await freePorts(2)) as [number, number];
    const run = spawnRun(join(repoRoot, 'examples', 'page-views.yaml'), port, `127.0.0.1:${deadKafka}`);
    started.push(run.child);
    // its HTTP endpoints answer from the start of start-up, before it waits for Kafka
    await waitUntil('the processor to be starting (HTTP up, Kafka not answering)', run.answers, {
      timeoutMs: 90_000,
      intervalMs: 200,
    });
    expect(run.output()).not.toContain('"msg":"consuming"');
    const sent = Date.now();
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 143, signal: null });
    expect(Date.now() - sent).toBeLessThan(10_000);
    expect(run.output()).toContain('kappaflow: SIGTERM during start-up, exiting');
  });

  it('once consuming: drains and exits 0 (the start-up handler is gone)', { timeout: 120_000 }, async () => {
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
    const run = spawnRun(join(dir, 'pipeline.yaml'), port, inject('kafkaBrokers').join(','));
    started.push(run.child);
    await waitUntil('the processor consuming', async () => run.output().includes('"msg":"consuming"'), {
      timeoutMs: 90_000,
      intervalMs: 200,
    });
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.output()).toContain('"msg":"draining"');
    expect(run.output()).toContain('"msg":"stopped"');
    expect(run.output()).not.toContain('during start-up');
    rmSync(dir, { recursive: true, force: true });
  });
});
