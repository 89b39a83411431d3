import type { RedisClient } from '../../processor/src/state/connection.ts';

/** Redis' own count of the bytes it holds for data (INFO memory `used_memory`), in MiB. */
export async function usedMemoryMiB(redis: RedisClient): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN) / 2 ** 20;
}

/**
 * A key's kind: its name with the hash tag, numbers and group keys taken out, so
 * `kf:{eos-1:1:3}:w:1767225600000:hll:visitors|["/p7"]` counts as `kf:{}:w:N:hll:visitors|*`.
 */
export function keyKind(key: string): string {
  return key
    .replace(/\{[^}]*\}/, '{}')
    .replace(/\|.*$/, '|*')
    .replace(/\d+/g, 'N');
}

/**
 * Every key's MEMORY USAGE summed by kind, largest first: what a growth of Redis' memory is made
 * of (a soak's Redis grew ~1 MiB/min; this tells a leak from state the run is meant to build).
 */
export async function memoryByKind(
  redis: RedisClient,
): Promise<{ kind: string; keys: number; MiB: number }[]> {
  const kinds = new Map<string, { keys: number; bytes: number }>();
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    const sizes = await Promise.all(batch.map((k) => redis.memory('USAGE', k, 'SAMPLES', 0)));
    batch.forEach((key, i) => {
      const kind = keyKind(key);
      const entry = kinds.get(kind) ?? { keys: 0, bytes: 0 };
      entry.keys++;
      entry.bytes += Number(sizes[i] ?? 0);
      kinds.set(kind, entry);
    });
  } while (cursor !== '0');
  return [...kinds]
    .map(([kind, { keys, bytes }]) => ({ kind, keys, MiB: Number((bytes / 2 ** 20).toFixed(2)) }))
    .sort((a, b) => b.MiB - a.MiB);
}
