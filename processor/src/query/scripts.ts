import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RedisClient } from '../state/connection.ts';
import { defineLuaCommands } from '../state/lua.ts';

const commandsDir = join(dirname(fileURLToPath(import.meta.url)), 'commands');

/**
 * The read scripts of the query API, as typed calls. Each one runs on ONE partition's keys (all
 * under its hash tag), so it works on Redis Cluster; ioredis sends EVALSHA and falls back to EVAL.
 */
export interface QueryCommands {
  queryGroups(
    windowKey: string,
    mode: 'h' | 's',
    prefix: string,
    filters: string,
    extra: string,
  ): Promise<unknown[]>;
  queryRows(
    windowKey: string,
    spec: string,
    ...groups: string[]
  ): Promise<[(string | null)[], ...string[][]][]>;
  queryHllBuffer(windowKey: string, names: string, ...groups: string[]): Promise<(Buffer | null)[]>;
  queryRollupBuffer(windowKey: string, ...args: string[]): Promise<unknown[]>;
  queryTotalsBuffer(
    firstPart: string,
    spec: string,
    mode: 'count' | 'raw',
    ...parts: string[]
  ): Promise<unknown[]>;
  queryDistinct(tempKey: string, ...args: (string | Buffer)[]): Promise<number[]>;
  queryRank(
    windowKey: string,
    aggregate: string,
    from: string,
    count: string,
    ...groups: string[]
  ): Promise<unknown[]>;
}

const defined = new WeakSet<object>();

export function queryCommands(redis: RedisClient): RedisClient & QueryCommands {
  if (!defined.has(redis)) {
    defineLuaCommands(redis, commandsDir);
    defined.add(redis);
  }
  return redis as RedisClient & QueryCommands;
}
