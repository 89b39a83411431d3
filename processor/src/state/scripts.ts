import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis } from 'ioredis';

const commandsDir = join(dirname(fileURLToPath(import.meta.url)), 'commands');

/**
 * Loads every `commands/<name>-<numkeys>.lua` as an ioredis command (EVALSHA with a fallback to
 * EVAL), one atomic state transition per script.
 */
export function defineCommands(redis: Redis | Cluster): void {
  for (const file of readdirSync(commandsDir)) {
    const match = /^([A-Za-z]+)-(\d+)\.lua$/.exec(file);
    if (!match) continue;
    const [, name, numberOfKeys] = match;
    redis.defineCommand(name!, {
      numberOfKeys: Number(numberOfKeys),
      lua: readFileSync(join(commandsDir, file), 'utf8'),
    });
  }
}

/** The scripts as typed calls (ioredis adds them at run time). */
export interface StateCommands {
  claimPartition(checkpointKey: string): Promise<[number, string | null, string | null]>;
  activateVersion(
    pipelinesKey: string,
    name: string,
    version: string,
    registration: string,
    mode: 'offer' | 'promote',
  ): Promise<[number, number]>;
  /** an array argument is flattened into the script's arguments (no spread: batches can be larger than the call stack allows) */
  commitBatch(checkpointKey: string, ...args: (string | readonly string[])[]): Promise<(number | string)[]>;
}
