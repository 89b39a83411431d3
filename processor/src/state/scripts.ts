import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis } from 'ioredis';
import { defineLuaCommands } from './lua.ts';
import type { StagedArguments } from './number-pairs.ts';

/** where the state scripts live (commands/<name>-<numkeys>.lua) */
export const commandsDir = join(dirname(fileURLToPath(import.meta.url)), 'commands');

/** Adds every `commands/<name>-<numkeys>.lua` to the client, one atomic state transition per script. */
export function defineCommands(redis: Redis | Cluster): void {
  defineLuaCommands(redis, commandsDir);
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
  /** trims the sink outbox to a sequence number (see commands/trimOutbox-2.lua); returns the head's */
  trimOutbox(outboxKey: string, trimmedKey: string, upTo: string): Promise<number>;
  /**
   * an array argument is flattened into the script's arguments (no spread: batches can be larger
   * than the call stack allows), a NumberPairs in it into its pairs (script-command.ts)
   */
  commitBatch(checkpointKey: string, ...args: (string | StagedArguments)[]): Promise<(number | string)[]>;
}
