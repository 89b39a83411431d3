import { join } from 'node:path';
import { ensureDir, repoRoot, runDir } from './paths.ts';
import { type ServiceProcess, startProcess, waitUntil } from './service.ts';

export interface ProcessorProcess extends ServiceProcess {
  port: number;
}

/**
 * Starts a real `kappaflow run` process (the same entry point users run), waiting until it
 * answers /healthz. Tests SIGKILL these to prove nothing is lost or counted twice.
 */
export async function spawnProcessor(options: {
  file: string;
  brokers: string[];
  redisUrl: string;
  port: number;
  name: string;
  env?: NodeJS.ProcessEnv;
  logDir?: string;
}): Promise<ProcessorProcess> {
  const logDir = ensureDir(options.logDir ?? join(runDir, 'processors'));
  const child = startProcess(
    options.name,
    process.execPath,
    [
      join(repoRoot, 'bin', 'kappaflow.js'),
      'run',
      options.file,
      '--port',
      String(options.port),
      '--host',
      '127.0.0.1',
    ],
    {
      logFile: join(logDir, `${options.name}.log`),
      env: {
        KAFKA_BROKERS: options.brokers.join(','),
        REDIS_URL: options.redisUrl,
        KAPPAFLOW_REPLICA_ID: options.name,
        LOG_LEVEL: 'info',
        ...options.env,
      },
    },
  );
  try {
    await waitUntil(
      `processor ${options.name} /healthz`,
      async () => (await fetch(`http://127.0.0.1:${options.port}/healthz`)).ok,
      {
        timeoutMs: 90_000,
        service: child,
      },
    );
  } catch (e) {
    // A replica that never became healthy is nobody's to stop: it would keep consuming (and hold its
    // partitions) under the next test.
    await child.stop().catch(() => {});
    throw e;
  }
  return Object.assign(child, { port: options.port });
}
