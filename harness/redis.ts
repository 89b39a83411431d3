import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ensureDir, runDir } from './paths.ts';
import { freePorts } from './ports.ts';
import { withProgress } from './progress.ts';
import { run, type ServiceProcess, type StartedProcess, startProcess, waitUntil } from './service.ts';

/** Finds Debian's redis-server, installing it with apt-get when it is missing (we run as root here). */
export async function ensureRedisServer(): Promise<string> {
  for (const candidate of ['/usr/bin/redis-server', '/usr/local/bin/redis-server']) {
    if (existsSync(candidate)) return candidate;
  }
  await withProgress(
    'Installing redis-server with apt-get',
    async () => {
      await run('apt-get', ['update', '-qq']);
      await run('apt-get', ['install', '-y', '-qq', 'redis-server'], {
        env: { DEBIAN_FRONTEND: 'noninteractive' },
      });
    },
    '20-60s',
  );
  return '/usr/bin/redis-server';
}

export interface RedisNode {
  port: number;
  process: ServiceProcess;
}

export interface RedisDeployment {
  /** `redis://127.0.0.1:port` of the single node, or of the first cluster node */
  url: string;
  /** with the `tls` option: `rediss://127.0.0.1:<tls port>` */
  tlsUrl?: string;
  cluster: boolean;
  nodes: RedisNode[];
  /** Kills (SIGKILL) or stops every node and starts them again on the same ports, reloading the AOF. */
  restart(options?: { kill?: boolean; downMs?: number }): Promise<void>;
  /** Kills (SIGKILL) or stops one node; `startNode` brings it back with its data and cluster identity. */
  stopNode(index: number, options?: { kill?: boolean }): Promise<void>;
  startNode(index: number): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisOptions {
  cluster?: boolean;
  /** Redis Cluster: replicas per master (default 0): 1 gives 3 masters + 3 replicas for failover drills */
  replicas?: number;
  keep?: boolean;
  detached?: boolean;
  /** `requirepass` (and `masterauth`): clients must AUTH with it. Default: no password. */
  password?: string;
  /**
   * A single node also listens with TLS (mutual: clients need a certificate the CA signed) on a
   * second port, `tlsUrl`; the plain port stays for the harness's own checks.
   */
  tls?: { cert: string; key: string; ca: string };
  /** Called as each redis-server starts, before it answers: a caller can stop it if the start fails. */
  onProcess?: (started: StartedProcess) => void;
}

/**
 * Starts a real redis-server with AOF on (appendfsync always, so a SIGKILL loses nothing that was
 * acknowledged), or a three-master Redis Cluster on loopback ports.
 */
export async function startRedis(options: RedisOptions = {}): Promise<RedisDeployment> {
  const binary = await ensureRedisServer();
  const replicas = options.cluster ? (options.replicas ?? 0) : 0;
  const count = options.cluster ? 3 * (1 + replicas) : 1;
  const dataDir = ensureDir(join(runDir, `redis-${Date.now()}-${randomBytes(3).toString('hex')}`));
  const tls = options.cluster ? undefined : options.tls;
  const allPorts = await freePorts(tls ? count + 1 : count);
  const ports = allPorts.slice(0, count);
  const tlsPort = tls ? allPorts[count] : undefined;
  const args = (port: number) => {
    const dir = ensureDir(join(dataDir, String(port)));
    const base = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
      '--protected-mode',
      'no',
      '--daemonize',
      'no',
      ...(options.password ? ['--requirepass', options.password, '--masterauth', options.password] : []),
      ...(tls
        ? [
            ...['--tls-port', String(tlsPort), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key],
            ...['--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'yes'],
          ]
        : []),
    ];
    return options.cluster
      ? [
          ...base,
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, 'nodes.conf'),
          '--cluster-node-timeout',
          '5000',
          // A replica that was cut off for a while may still be promoted (drills make it lag on purpose).
          '--cluster-replica-validity-factor',
          '0',
        ]
      : base;
  };
  const launch = (port: number) => {
    const service = startProcess(`redis-${port}`, binary, args(port), {
      logFile: join(dataDir, `redis-${port}.log`),
      detached: options.detached ?? false,
    });
    if (service.child.pid !== undefined)
      options.onProcess?.({ name: service.name, pid: service.child.pid, dataDir });
    return service;
  };
  const nodes: RedisNode[] = ports.map((port) => ({ port, process: launch(port) }));
  const password = options.password;
  await Promise.all(nodes.map((node) => waitForPing(node, password)));

  if (options.cluster) {
    await run('redis-cli', [
      ...(password ? ['-a', password, '--no-auth-warning'] : []),
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
    await waitForClusterOk(ports, password);
  }

  return {
    url: `redis://127.0.0.1:${ports[0]}`,
    ...(tlsPort ? { tlsUrl: `rediss://127.0.0.1:${tlsPort}` } : {}),
    cluster: options.cluster === true,
    nodes,
    async restart(restartOptions = {}) {
      await Promise.all(nodes.map((n) => (restartOptions.kill ? n.process.kill() : n.process.stop())));
      await new Promise((r) => setTimeout(r, restartOptions.downMs ?? 0));
      for (const node of nodes) node.process = launch(node.port);
      await Promise.all(nodes.map((node) => waitForPing(node, password)));
      if (options.cluster) await waitForClusterOk(ports, password);
    },
    stopNode: (index, stopOptions = {}) => stopRedisNode(nodes, index, stopOptions),
    async startNode(index) {
      const node = nodeAt(nodes, index);
      node.process = launch(node.port);
      await waitForPing(node, password);
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.process.stop()));
      if (!options.keep) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function nodeAt(nodes: RedisNode[], index: number): RedisNode {
  const node = nodes[index];
  if (!node) throw new Error(`no Redis node at index ${index}; there are ${nodes.length}`);
  return node;
}

/** Stops one node (SIGKILL with `kill`, else a clean shutdown); `startNode` brings it back. */
export async function stopRedisNode(
  nodes: RedisNode[],
  index: number,
  options: { kill?: boolean } = {},
): Promise<void> {
  const node = nodeAt(nodes, index);
  await (options.kill ? node.process.kill() : node.process.stop());
}

export async function waitForPing(node: RedisNode, password: string | undefined): Promise<void> {
  await waitUntil(
    `redis-server on port ${node.port}`,
    // LOADING errors while the AOF replays make PING fail, which is what we wait out.
    async () => (await withRedisNode(node.port, (c) => c.ping(), password)) === 'PONG',
    { timeoutMs: 30_000, service: node.process },
  );
}

async function waitForClusterOk(ports: number[], password: string | undefined): Promise<void> {
  await waitUntil(
    'Redis Cluster state ok',
    async () => {
      for (const port of ports) {
        const info = await withRedisNode(port, (c) => c.cluster('INFO'), password);
        if (!String(info).includes('cluster_state:ok')) return false;
      }
      return true;
    },
    { timeoutMs: 30_000 },
  );
}

/** Runs `use` with a short-lived client of the Redis (or Sentinel) on `port`, without retries. */
export async function withRedisNode<T>(
  port: number,
  use: (client: Redis) => Promise<T>,
  password?: string,
): Promise<T> {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    ...(password ? { password } : {}),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}
