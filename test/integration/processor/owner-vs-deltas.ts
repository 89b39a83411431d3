// Commits the same batches twice: through the script's own delta arithmetic, and as the partition's
// owner writing absolute values (state/owned-windows.ts, state/owned-totals.ts), with a change of
// owner part way. The tests then compare what the two leave in Redis.
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { BatchFold } from '../../../processor/src/aggregates/fold.ts';
import { type Claim, claimPartition } from '../../../processor/src/consumer/claims.ts';
import { type CommitRequest, type CommitResult, commitBatch } from '../../../processor/src/state/commit.ts';
import type { RedisClient } from '../../../processor/src/state/connection.ts';
import { partitionPrefix } from '../../../processor/src/state/keys.ts';

export interface BothWays<R> {
  /** names the two partitions' prefixes */
  name: string;
  batches: readonly R[][];
  /** the batch before which a new owner claims the partition (an empty cache) */
  handoverAfter: number;
  foldOf: (records: R[]) => BatchFold;
  claimOwner: (prefix: string, generation: number) => Promise<Claim>;
  /** stages and commits a batch as the owner (the owner's applied is called here after) */
  commitAsOwner: (owner: Claim, request: Omit<CommitRequest, 'epoch'>) => Promise<CommitResult>;
  /** what the delta path's commits add to the request (e.g. rollups) */
  deltaOptions?: Partial<CommitRequest>;
}

/** Commits every batch both ways; returns the two prefixes to compare. */
export async function commitBothWays<R>(
  redis: RedisClient,
  run: BothWays<R>,
): Promise<{ deltaPrefix: string; ownerPrefix: string }> {
  const id = randomUUID();
  const deltaPrefix = partitionPrefix(`${run.name}-delta-${id}`, 1, 0);
  const ownerPrefix = partitionPrefix(`${run.name}-owner-${id}`, 1, 0);
  const deltaClaim = await claimPartition(redis, deltaPrefix, 1);
  let owner = await run.claimOwner(ownerPrefix, 1);
  let offset = 0;
  for (const [i, records] of run.batches.entries()) {
    if (i === run.handoverAfter) owner = await run.claimOwner(ownerPrefix, 2);
    const common = {
      firstOffset: String(offset),
      nextOffset: String(offset + records.length),
      watermark: 0,
      graceMs: 60_000,
      retentionMs: 60_000,
    };
    offset += records.length;
    const viaDeltas = await commitBatch(redis, {
      ...common,
      ...run.deltaOptions,
      prefix: deltaPrefix,
      epoch: deltaClaim.epoch,
      fold: run.foldOf(records),
    });
    expect(viaDeltas.status).toBe('applied');
    const viaOwner = await run.commitAsOwner(owner, {
      ...common,
      prefix: ownerPrefix,
      fold: run.foldOf(records),
    });
    expect(viaOwner.status).toBe('applied');
    if (viaOwner.status === 'applied') owner.windows.applied(viaOwner.closedWindows);
  }
  return { deltaPrefix, ownerPrefix };
}
