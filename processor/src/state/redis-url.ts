/**
 * The one place Redis addresses are read. Three forms:
 *   redis://[:password@]host:port[/db]   (rediss:// for TLS): a single node
 *   redis-cluster://host:port,host:port  (rediss-cluster:// for TLS): any nodes of a Redis Cluster
 *   redis+sentinel://[:password@]host:port[,host:port]/<masterName>[?db=N]  (rediss+sentinel://
 *     for TLS): the master Redis Sentinel names, found again after each failover
 */
export type RedisTarget =
  | { kind: 'single'; url: string; tls: boolean }
  | { kind: 'cluster'; nodes: HostPort[]; tls: boolean }
  | {
      kind: 'sentinel';
      sentinels: HostPort[];
      masterName: string;
      db: number;
      password?: string;
      tls: boolean;
    };

export interface HostPort {
  host: string;
  port: number;
}

const SENTINEL = /^(rediss?)\+sentinel:\/\/(?:(?:[^:@/]*):([^@/]*)@)?([^/?@]+)\/([^/?]+)(?:\?(.*))?$/;

export function parseRedisUrl(url: string): RedisTarget {
  const cluster = /^(rediss?)-cluster:\/\/(.*)$/.exec(url);
  if (cluster) {
    const nodes = hostPorts(cluster[2]!, url, 'redis-cluster://host:port,host:port', 6379);
    return { kind: 'cluster', nodes, tls: cluster[1] === 'rediss' };
  }
  if (/^rediss?\+sentinel:/.test(url)) {
    const m = SENTINEL.exec(url);
    const usage = 'redis+sentinel://[:password@]host:port[,host:port]/<masterName>[?db=N]';
    if (!m) throw new Error(`cannot read the Sentinel address ${redactUrl(url)}; expected ${usage}`);
    const sentinels = hostPorts(m[3]!, url, usage, 26379);
    let db = 0;
    for (const pair of (m[5] ?? '').split('&').filter((p) => p.length > 0)) {
      const [key, value] = pair.split('=');
      if (key !== 'db' || !/^[0-9]{1,2}$/.test(value ?? '')) {
        throw new Error(
          `unknown or invalid parameter "${pair}" in ${redactUrl(url)}; only db=<0-99> is read`,
        );
      }
      db = Number(value);
    }
    return {
      kind: 'sentinel',
      sentinels,
      masterName: decodeURIComponent(m[4]!),
      db,
      ...(m[2] ? { password: decodeURIComponent(m[2]) } : {}),
      tls: m[1] === 'rediss',
    };
  }
  if (/^rediss?:\/\//.test(url)) return { kind: 'single', url, tls: url.startsWith('rediss:') };
  throw new Error(
    `unknown Redis address ${redactUrl(url)}; expected redis://host:port, rediss://host:port (TLS), redis-cluster://host:port,host:port or redis+sentinel://host:port,host:port/<masterName>`,
  );
}

/**
 * The cluster form of a spec's `redis.url` (`cluster: true`): `redis://` becomes `redis-cluster://`
 * and `rediss://` becomes `rediss-cluster://`, so TLS is kept.
 */
export function clusterUrl(url: string): string {
  return url.replace(/^(rediss?):\/\//, '$1-cluster://');
}

function hostPorts(list: string, url: string, usage: string, defaultPort: number): HostPort[] {
  const nodes = list
    .split(',')
    .filter((n) => n.length > 0)
    .map((node) => {
      const m = /^([^:]+)(?::([0-9]{1,5}))?$/.exec(node);
      const port = Number(m?.[2] ?? defaultPort);
      if (!m || port < 1 || port > 65535)
        throw new Error(`bad host:port "${node}" in ${redactUrl(url)}; expected ${usage}`);
      return { host: m[1]!, port };
    });
  if (nodes.length === 0) throw new Error(`no nodes in ${redactUrl(url)}; expected ${usage}`);
  return nodes;
}

/** Describes a Redis address for logs without its password. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}
