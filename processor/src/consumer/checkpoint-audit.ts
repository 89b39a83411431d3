import type { RedisClient } from '../state/connection.ts';
import { keys } from '../state/keys.ts';
import type { Claim } from './claims.ts';

/**
 * The commit script notices lost writes (a Redis failover to a replica that lacked them) only at
 * the partition's next batch. A partition with no new records would keep serving the smaller
 * numbers for good, so each replica also re-reads the checkpoints of the partitions it holds every
 * few seconds and replays any that went back.
 */
export const AUDIT_INTERVAL_MS = Number(process.env.KAPPAFLOW_AUDIT_INTERVAL_MS ?? 2000);

export interface AuditedClaim {
  id: string;
  prefix: string;
  claim: Claim;
}

export interface Divergence {
  id: string;
  claim: Claim;
  /** what Redis holds now: the next offset, or null when the checkpoint is gone */
  storedOffset: string | null;
}

/**
 * Whether a stored checkpoint contradicts this owner's claim. Within one epoch only this owner
 * writes, and only forward: commits may land while the read is in flight, and a commit Redis has
 * applied can be read before its reply reaches the owner, so any offset at or past the claim's
 * offset before the read is consistent. Only a smaller one (or none) means Redis lost writes. A
 * newer epoch is another owner's business (the commit script fences us).
 */
export function contradicts(
  claim: Pick<Claim, 'epoch'>,
  offsetBefore: string,
  stored: { epoch: string | null; offset: string | null },
): boolean {
  const storedEpoch = stored.epoch === null ? 0 : Number(stored.epoch);
  if (storedEpoch > claim.epoch) return false;
  if (storedEpoch < claim.epoch) return true;
  return stored.offset === null || BigInt(stored.offset) < BigInt(offsetBefore);
}

/** Reads every held partition's checkpoint (one request each, so it also works across Cluster slots). */
export async function auditCheckpoints(
  redis: RedisClient,
  held: readonly AuditedClaim[],
): Promise<Divergence[]> {
  const committed = held.filter((h) => h.claim.nextOffset !== null);
  const before = committed.map((h) => h.claim.nextOffset!);
  const stored = await Promise.all(
    committed.map((h) => redis.hmget(keys.checkpoint(h.prefix), 'epoch', 'offset')),
  );
  const found: Divergence[] = [];
  for (const [i, h] of committed.entries()) {
    const [epoch, offset] = stored[i]!;
    if (contradicts(h.claim, before[i]!, { epoch: epoch ?? null, offset: offset ?? null })) {
      found.push({ id: h.id, claim: h.claim, storedOffset: offset ?? null });
    }
  }
  return found;
}
