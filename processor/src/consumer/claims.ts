import type { AggregateShape } from '../model/pipeline.ts';
import type { RedisClient } from '../state/connection.ts';
import { keys } from '../state/keys.ts';
import { OwnedTotals } from '../state/owned-totals.ts';
import { OwnedWindows } from '../state/owned-windows.ts';
import { NO_WATERMARK } from '../windows/watermark.ts';

/** This replica's hold on one partition, taken at the first batch after each group join. */
export interface Claim {
  epoch: number;
  /** next offset to apply, from the Redis checkpoint; null for a partition never committed */
  nextOffset: string | null;
  watermark: number;
  generation: number;
  /** whether records lost for good (before the log's start) were already reported for this claim */
  gapReported?: boolean;
  /** whether the sink outbox was drained since the claim (leftovers of a crashed owner) */
  outboxDrained?: boolean;
  /** when the partition was last committed (spec.source.idleTimeout); undefined until read */
  lastCommitAt?: number | null;
  /** the open windows' values this claim has read or written (fixed windows; see owned-windows.ts) */
  windows: OwnedWindows;
  /**
   * Offsets from `nextOffset` up to (not including) this one hold no record this consumer reads:
   * aborted transactions and transaction markers of a transactional topic (the repartition topic),
   * which kafkajs skips without a batch. Without it, a batch after them would look like Kafka
   * being ahead of the checkpoint, and seeking back to them would repeat for ever.
   */
  noRecordsUntil?: string;
}

export async function claimPartition(
  redis: RedisClient,
  prefix: string,
  generation: number,
  maxCachedFields?: number,
  /** the pipeline packs windows' and slices' sketches into their hashes (WindowShape.packedSketches) */
  packedSketches = false,
  /** write-side rollups: the aggregates whose merged sketches the claim keeps (state/owned-totals.ts) */
  rollupAggregates?: readonly AggregateShape[],
  /** the percentiles of spec.rankBy, whose per-part bounds the owner works out (OwnedWindows.stagedBounds) */
  rankedBounds?: readonly AggregateShape[],
): Promise<Claim> {
  const [epoch, offset, watermark] = await redis.claimPartition(keys.checkpoint(prefix));
  return {
    epoch: Number(epoch),
    nextOffset: offset ?? null,
    watermark: watermark === null || watermark === undefined ? NO_WATERMARK : Number(watermark),
    generation,
    windows: new OwnedWindows(maxCachedFields, packedSketches, ownedTotals(rollupAggregates), rankedBounds),
  };
}

/** The claim's keeper of merged sketches, when the pipeline keeps totals of any sketch aggregate. */
function ownedTotals(aggregates: readonly AggregateShape[] | undefined): OwnedTotals | undefined {
  if (!aggregates) return undefined;
  const totals = new OwnedTotals(aggregates);
  return totals.any ? totals : undefined;
}

/** Where the batch stands against the checkpoint: Redis is the truth, Kafka's position follows it. */
export type Alignment = { action: 'process'; skipBefore: bigint | null } | { action: 'seek'; offset: string };

export function alignWithCheckpoint(claim: Claim, firstOffset: string): Alignment {
  if (claim.nextOffset === null) return { action: 'process', skipBefore: null };
  const checkpoint = BigInt(claim.nextOffset);
  const first = BigInt(firstOffset);
  // Kafka is behind Redis (its offsets are committed after Redis): skip what Redis already has.
  if (checkpoint > first) return { action: 'process', skipBefore: checkpoint };
  // Kafka is ahead of Redis, e.g. Redis state was restored from an older copy: go back and replay
  // (unless all that lies between holds no record, see Claim.noRecordsUntil).
  if (first > recordsFrom(claim)) return { action: 'seek', offset: claim.nextOffset };
  return { action: 'process', skipBefore: null };
}

/** The first offset that can hold a record not yet in the checkpoint (see Claim.noRecordsUntil). */
export function recordsFrom(claim: Claim): bigint {
  const checkpoint = BigInt(claim.nextOffset ?? '0');
  const empty = claim.noRecordsUntil === undefined ? checkpoint : BigInt(claim.noRecordsUntil);
  return empty > checkpoint ? empty : checkpoint;
}

/**
 * Notes a fetched range that held no record for this consumer (kafkajs resolves it without a batch):
 * when it starts at or before where records may begin, they begin after it.
 */
export function skipEmptyRange(claim: Claim, firstOffset: string, lastOffset: string): void {
  if (claim.nextOffset === null) return;
  const from = recordsFrom(claim);
  if (BigInt(firstOffset) <= from && BigInt(lastOffset) >= from) {
    claim.noRecordsUntil = String(BigInt(lastOffset) + 1n);
  }
}
