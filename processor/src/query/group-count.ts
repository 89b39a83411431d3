import { Cluster } from 'ioredis';
import type { RedisClient } from '../state/connection.ts';
import { keys, partitionPrefix } from '../state/keys.ts';
import type { PipelineRegistration } from '../state/registry.ts';
import type { WindowPart } from './read-context.ts';

/**
 * How many groups a window has, exactly. One group may be in several partitions and slices, so the
 * count is that of the union of the parts' groups.
 *
 * On one Redis node, every commit of a tumbling window also adds its groups to the window-level set
 * `kf:{p:v:~g}:g:<start>` in the same fenced script (commitBatch-1.lua, applyWindowGroups), so the
 * count is one SCARD. It is read in one MULTI with what proves the set whole: every part that has
 * state carries the mark that it wrote the set from its first batch on, and no partition's
 * watermark is past the window's start + retention (only then may a commit have dropped the set,
 * which a later batch would start again with part of the groups). Otherwise, and on a Redis Cluster
 * (where the sets would be in another slot than the commit's keys), the parts' own group sets
 * (`<part>:tot:g`, kept with the rollup totals) are read and their union counted here. Callers make
 * sure those are complete (the part's totals or top-N index were kept from its first batch on).
 */
export async function groupCountOf(
  redis: RedisClient,
  reg: PipelineRegistration,
  start: number,
  parts: readonly WindowPart[],
): Promise<number> {
  if (parts.length === 0) return 0;
  if (!(redis instanceof Cluster)) {
    const counted = await fromWindowSet(redis, reg, start, parts);
    if (counted !== undefined) return counted;
  }
  const all = new Set<string>();
  for (const members of await Promise.all(parts.map((part) => redis.smembers(`${part.hash}:tot:g`))))
    for (const g of members) all.add(g);
  return all.size;
}

async function fromWindowSet(
  redis: RedisClient,
  reg: PipelineRegistration,
  start: number,
  parts: readonly WindowPart[],
): Promise<number | undefined> {
  const set = keys.windowGroups(keys.groupSets(reg.name, reg.activeVersion), start);
  const multi = redis.multi();
  for (const id of reg.partitions)
    multi.hget(keys.checkpoint(partitionPrefix(reg.name, reg.activeVersion, id)), 'watermark');
  for (const part of parts) multi.exists(`${part.hash}:tot:wg`).exists(part.hash, `${part.hash}:keys`);
  multi.exists(set).scard(set);
  const replies = (await multi.exec()) ?? [];
  const values = replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
  const watermarks = values.slice(0, reg.partitions.length);
  if (watermarks.some((w) => w !== null && Number(w) > start + reg.retentionMs)) return undefined;
  let stateful = 0;
  for (let i = 0; i < parts.length; i++) {
    const [marked, state] = values.slice(reg.partitions.length + 2 * i, reg.partitions.length + 2 * i + 2);
    if (Number(state) > 0) {
      stateful++;
      if (Number(marked) === 0) return undefined;
    }
  }
  if (stateful === 0) return 0;
  const [exists, count] = values.slice(-2);
  return Number(exists) === 1 ? Number(count) : undefined;
}
