import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir, runDir } from './paths.ts';
import { freePorts } from './ports.ts';
import {
  ensureRedisServer,
  nodeAt,
  type RedisNode,
  stopRedisNode,
  waitForPing,
  withRedisNode,
} from './redis.ts';
import { type ServiceProcess, startProcess, waitUntil } from './service.ts';

export const SENTINEL_MASTER = 'kappaflow';

export interface SentinelDeployment {
  /** `redis+sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/kappaflow` */
  url: string;
  /** Redis nodes: index 0 starts as the master, the others as its replicas */
  nodes: RedisNode[];
  sentinels: { port: number; process: ServiceProcess }[];
  /** The port of the master the Sentinels currently name. */
  masterPort(): Promise<number>;
  /** SIGKILLs (or stops) Redis node `index`. */
  stopNode(index: number, options?: { kill?: boolean }): Promise<void>;
  /** Starts node `index` again with its data, as a replica of the master the Sentinels name. */
  startNode(index: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a Redis master with `replicas` replicas (AOF, appendfsync always) and three Sentinels
 * (quorum 2) watching it, on loopback ports. `downAfterMs` is how long the master must not answer
 * before the Sentinels fail over.
 */
export async function startRedisSentinel(
  options: {
    replicas?: number;
    downAfterMs?: number;
    password?: string;
    /** the Sentinels' own `requirepass` (and `sentinel sentinel-pass`, so they still talk to each other) */
    sentinelPassword?: string;
  } = {},
): Promise<SentinelDeployment> {
  const binary = await ensureRedisServer();
  const replicas = options.replicas ?? 1;
  const dataDir = ensureDir(join(runDir, `redis-sentinel-${Date.now()}-${randomBytes(3).toString('hex')}`));
  const ports = await freePorts(1 + replicas + 3);
  const redisPorts = ports.slice(0, 1 + replicas);
  const sentinelPorts = ports.slice(1 + replicas);
  const auth = options.password ? ['--requirepass', options.password, '--masterauth', options.password] : [];
  const launch = (port: number, replicaOf: number | undefined) =>
    startProcess(
      `redis-${port}`,
      binary,
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--dir', ensureDir(join(dataDir, String(port)))],
        ...['--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--protected-mode', 'no'],
        ...(replicaOf ? ['--replicaof', '127.0.0.1', String(replicaOf)] : []),
        ...auth,
      ],
      { logFile: join(dataDir, `redis-${port}.log`) },
    );
  const nodes: RedisNode[] = redisPorts.map((port, i) => ({
    port,
    process: launch(port, i === 0 ? undefined : redisPorts[0]),
  }));
  await Promise.all(nodes.map((node) => waitForPing(node, options.password)));

  const sentinels = sentinelPorts.map((port) => {
    // Sentinels rewrite their configuration file (what they learn about replicas and epochs).
    const file = join(dataDir, `sentinel-${port}.conf`);
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        'protected-mode no',
        `dir ${dataDir}`,
        `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${redisPorts[0]} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER} ${options.downAfterMs ?? 3000}`,
        `sentinel failover-timeout ${SENTINEL_MASTER} 10000`,
        ...(options.password ? [`sentinel auth-pass ${SENTINEL_MASTER} ${options.password}`] : []),
        ...(options.sentinelPassword
          ? [`requirepass ${options.sentinelPassword}`, `sentinel sentinel-pass ${options.sentinelPassword}`]
          : []),
        '',
      ].join('\n'),
    );
    return {
      port,
      process: startProcess(`sentinel-${port}`, binary, [file, '--sentinel'], {
        logFile: join(dataDir, `sentinel-${port}.log`),
      }),
    };
  });

  const masterPort = async (): Promise<number> => {
    for (const sentinel of sentinels) {
      const answer = await withRedisNode(
        sentinel.port,
        (c) => c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER),
        options.sentinelPassword,
      ).catch(() => null);
      if (Array.isArray(answer)) return Number(answer[1]);
    }
    throw new Error('no Sentinel answers GET-MASTER-ADDR-BY-NAME');
  };
  // Ready when every Sentinel knows every replica and the other Sentinels.
  await waitUntil(
    'Sentinels watching the master and its replicas',
    async () => {
      for (const sentinel of sentinels) {
        const master = (await withRedisNode(
          sentinel.port,
          (c) => c.call('SENTINEL', 'MASTER', SENTINEL_MASTER),
          options.sentinelPassword,
        )) as string[];
        const field = (name: string) => master[master.indexOf(name) + 1];
        if (Number(field('num-slaves')) !== replicas || Number(field('num-other-sentinels')) !== 2)
          return false;
      }
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 500, service: sentinels[0]!.process },
  );

  return {
    url: `redis+sentinel://${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/${SENTINEL_MASTER}`,
    nodes,
    sentinels,
    masterPort,
    stopNode: (index, stopOptions = {}) => stopRedisNode(nodes, index, stopOptions),
    async startNode(index) {
      const node = nodeAt(nodes, index);
      // Started as the current master's replica, so it never serves its old data as a second master.
      const master = await masterPort();
      node.process = launch(node.port, master === node.port ? undefined : master);
      await waitForPing(node, options.password);
    },
    async stop() {
      await Promise.all([...sentinels, ...nodes].map((n) => n.process.stop()));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
