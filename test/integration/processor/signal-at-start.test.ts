// A SIGTERM while `kappaflow run` is still starting (here: waiting for a Kafka that does not answer)
// ends it at once with code 0. In a container the process is PID 1, which the kernel spares every
// signal it has no handler for: without the start-up handler the signal was lost and the kubelet
// killed the pod only at the end of its 60 s grace period (seen on the real nodes when a Pipeline
// was scaled to 0 right after a pod started).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { repoRoot } from '../../../harness/paths.ts';
import { freePorts } from '../../../harness/ports.ts';
import { waitUntil } from '../../../harness/service.ts';

describe('kappaflow run: a signal during start-up', () => {
  it('SIGTERM while waiting for Kafka exits 0 at once, saying so', { timeout: 120_000 }, async () => {
    const [deadKafka, port] = (await freePorts(2)) as [number, number];
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'bin', 'kappaflow.js'),
        'run',
        join(repoRoot, 'examples', 'page-views.yaml'),
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
      ],
      {
        env: { ...process.env, KAFKA_BROKERS: `127.0.0.1:${deadKafka}`, REDIS_URL: inject('redisUrl') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    try {
      // its HTTP endpoints answer from the start of start-up, before it waits for Kafka
      await waitUntil(
        'the processor to be starting (HTTP endpoints up, Kafka not answering)',
        async () =>
          (await fetch(`http://127.0.0.1:${port}/healthz`)
            .then((r) => r.status)
            .catch(() => 0)) > 0,
        { timeoutMs: 90_000, intervalMs: 200 },
      );
      expect(output).not.toContain('"msg":"consuming"');
      const sent = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - sent).toBeLessThan(10_000);
      expect(output).toContain('signal during start-up: exiting before anything is drained');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
