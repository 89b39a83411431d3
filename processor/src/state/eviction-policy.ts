// Exactly-once rests on Redis keeping every key the processor wrote: an evicted window loses its
// counts, an evicted checkpoint makes the next owner replay records into windows that hold them.
// Redis evicts only under a maxmemory-policy other than `noeviction`, so a replica says so at start.
import { Cluster, type Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisClient } from './connection.ts';

export interface EvictionRisk {
  /** host:port of the node */
  node: string;
  policy: string;
  /** bytes; 0: no limit set, so Redis evicts nothing until one is */
  maxmemory: number;
}

/** The nodes (every master of a Cluster) whose maxmemory-policy lets Redis evict keys. */
export async function evictionRisks(redis: RedisClient): Promise<EvictionRisk[]> {
  // A Cluster client knows its masters once it has read the slot map.
  if (redis instanceof Cluster && redis.status !== 'ready')
    await new Promise((resolve) => redis.once('ready', resolve));
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const infos = await Promise.all(
    // INFO, not CONFIG GET: managed Redis services often refuse CONFIG.
    nodes.map(async (node) => ({ node, info: parseInfo(await node.info('memory')) })),
  );
  const risks: EvictionRisk[] = [];
  for (const { node, info } of infos) {
    const policy = info.get('maxmemory_policy');
    if (policy === undefined || policy === 'noeviction') continue;
    risks.push({ node: nodeName(node), policy, maxmemory: Number(info.get('maxmemory') ?? 0) });
  }
  return risks;
}

/** host:port, or for a client that follows Sentinels, the master's name. */
function nodeName(node: Redis): string {
  const { sentinels, name, host, port } = node.options;
  return sentinels && sentinels.length > 0 ? `the master "${name}" (Sentinel)` : `${host}:${port}`;
}

/**
 * Logs the nodes that may evict Kappaflow's keys, at error level where a memory limit is set (Redis
 * evicts as soon as it is reached) and as a warning otherwise. Never throws: a Redis that refuses
 * INFO (an ACL) or does not answer in time only gets a debug line, the processor runs either way.
 */
export async function logEvictionRisks(redis: RedisClient, logger: Logger, timeoutMs = 5000): Promise<void> {
  let risks: EvictionRisk[];
  let timer: NodeJS.Timeout | undefined;
  try {
    // A node that does not answer must not hold the replica's start: the check is advice.
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    });
    risks = await Promise.race([evictionRisks(redis), late]);
  } catch (error) {
    logger.debug({ error: (error as Error).message }, 'could not read Redis maxmemory-policy (INFO memory)');
    return;
  } finally {
    clearTimeout(timer);
  }
  for (const risk of risks) {
    const fix = 'set maxmemory-policy noeviction (CONFIG SET maxmemory-policy noeviction, or in redis.conf)';
    const effect = 'an evicted window loses counts and an evicted checkpoint counts records twice';
    if (risk.maxmemory > 0)
      logger.error(
        { ...risk, fix },
        `Redis ${risk.node} evicts keys when it reaches maxmemory (maxmemory-policy ${risk.policy}): ${effect}; ${fix}`,
      );
    else
      logger.warn(
        { ...risk, fix },
        `Redis ${risk.node} would evict keys once maxmemory is set (maxmemory-policy ${risk.policy}): ${effect}; ${fix}`,
      );
  }
}

function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}
