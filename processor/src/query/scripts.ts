import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RedisClient } from '../state/connection.ts';

const commandsDir = join(dirname(fileURLToPath(import.meta.url)), 'commands');
let sources: { name: string; numberOfKeys: number; lua: string }[] | undefined;

/** The query scripts, `commands/<name>-<numkeys>.lua`, read once. */
function scripts() {
  sources ??= readdirSync(commandsDir).flatMap((file) => {
    const match = /^([A-Za-z]+)-(\d+)\.lua$/.exec(file);
    return match
      ? [
          {
            name: match[1]!,
            numberOfKeys: Number(match[2]),
            lua: readFileSync(join(commandsDir, file), 'utf8'),
          },
        ]
      : [];
  });
  return sources;
}

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
  queryDistinct(tempKey: string, ...args: (string | Buffer)[]): Promise<number[]>;
}

const defined = new WeakSet<object>();

export function queryCommands(redis: RedisClient): RedisClient & QueryCommands {
  if (!defined.has(redis)) {
    for (const { name, numberOfKeys, lua } of scripts()) redis.defineCommand(name, { numberOfKeys, lua });
    defined.add(redis);
  }
  return redis as RedisClient & QueryCommands;
}
