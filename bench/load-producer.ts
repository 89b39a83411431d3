/** The freshness benchmark's load from the Java client (bench/load-producer/LoadProducer.java). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureKafkaJars } from '../harness/kafka.ts';
import { repoRoot } from '../harness/paths.ts';
import { type ServiceProcess, startProcess, waitUntil } from '../harness/service.ts';
import type { TopicSpec } from './data.ts';
import { benchDir, PARTITIONS, workDir } from './options.ts';

export interface LoadProducer {
  pid: number | undefined;
  /** stops it (SIGTERM) and resolves with the records the broker acknowledged and the sends that failed */
  stop: () => Promise<{ sent: number; failed: number; seconds: number }>;
}

/**
 * Starts producing `spec`'s records at `rate` until stopped, for `maxSeconds` at most (from when
 * it is ready: JVM start and compiling the one source file take a few seconds and are not part of
 * the load).
 */
export async function startLoadProducer(
  brokers: string[],
  topic: string,
  spec: TopicSpec,
  rate: number,
  maxSeconds: number,
): Promise<LoadProducer> {
  const libs = await ensureKafkaJars();
  const logFile = join(workDir, `load-producer-${topic}.log`);
  const child: ServiceProcess = startProcess(
    'load producer',
    'java',
    [
      '-Xmx256m',
      '-cp',
      join(libs, '*'),
      join(benchDir, 'load-producer', 'LoadProducer.java'),
      brokers.join(','),
      topic,
      String(rate),
      String(maxSeconds),
      String(spec.keys),
      String(spec.skew ?? 0),
      String(PARTITIONS),
      '7',
    ],
    { logFile, cwd: repoRoot },
  );
  const output = () => readFileSync(logFile, 'utf8');
  try {
    await waitUntil('the Java load producer', async () => /^ready$/m.test(output()), {
      timeoutMs: 120_000,
      service: child,
    });
  } catch (error) {
    await child.stop(10_000);
    throw error;
  }
  return {
    pid: child.child.pid,
    async stop() {
      await child.stop(30_000);
      const line = /^sent (\d+) failed (\d+) ([\d.]+)$/m.exec(output());
      if (!line) throw new Error(`the Java load producer failed:\n${output().slice(-2000)}`);
      return { sent: Number(line[1]), failed: Number(line[2]), seconds: Number(line[3]) };
    },
  };
}
