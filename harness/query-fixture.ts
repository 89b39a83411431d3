import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import { BatchFold } from '../processor/src/aggregates/fold.ts';
import {
  boundRankedAggregates,
  hoppingRankModes,
  rankedAggregates,
} from '../processor/src/aggregates/kinds.ts';
import { type Claim, claimPartition } from '../processor/src/consumer/claims.ts';
import type { AggregateShape, WindowShape } from '../processor/src/model/pipeline.ts';
import { commitBatch } from '../processor/src/state/commit.ts';
import type { RedisClient } from '../processor/src/state/connection.ts';
import { groupKeyOf, keys, partitionPrefix } from '../processor/src/state/keys.ts';
import { type PipelineRegistration, registerPipeline } from '../processor/src/state/registry.ts';
import { sliceStartOf, windowStarts } from '../processor/src/windows/assign.ts';

/**
 * Writes real pipeline state the way the processor does: claimPartition, then a BatchFold per batch
 * committed with commitBatch (the production Lua script), plus the registration. The events are kept
 * so tests can compute the expected answers on their own.
 */
export interface Event {
  partition: string;
  time: number;
  country: string;
  device: string;
  amount: number;
  user: string;
  item: string;
}

export const AGGREGATES: AggregateShape[] = [
  { name: 'orders', kind: 'count' },
  { name: 'revenue', kind: 'sum' },
  { name: 'minAmount', kind: 'min' },
  { name: 'maxAmount', kind: 'max' },
  { name: 'avgAmount', kind: 'avg' },
  { name: 'firstItem', kind: 'first' },
  { name: 'lastItem', kind: 'last' },
  { name: 'users', kind: 'countDistinct' },
  { name: 'p90', kind: 'percentile', q: 0.9 },
  { name: 'topItems', kind: 'topK', k: 3 },
];

export const WINDOW: WindowShape = { type: 'tumbling', sizeMs: 60_000, graceMs: 5_000 };
export const GROUP_BY = ['country', 'device'];

export function argsOf(e: Event): unknown[] {
  return [undefined, e.amount, e.amount, e.amount, e.amount, e.item, e.item, e.user, e.amount, e.item];
}

/** A small deterministic PRNG, so failures reproduce. */
export function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class PipelineWriter {
  readonly name: string;
  readonly registration: PipelineRegistration;
  readonly events: Event[] = [];
  private readonly epochs = new Map<string, number>();
  /** with `owner`: each partition's claim, whose cache writes absolute values as the consumer loop does */
  private readonly claims = new Map<string, Claim>();
  private readonly owner: boolean;
  private readonly offsets = new Map<string, bigint>();
  private readonly watermarks = new Map<string, number>();
  private readonly ranked: string[];
  private readonly rankedBounds: AggregateShape[];

  constructor(
    readonly redis: RedisClient,
    options: {
      name?: string;
      partitions?: number;
      window?: WindowShape;
      retentionMs?: number;
      groupBy?: string[];
      /**
       * Commit as the partition's owner (the consumer loop's path): absolute values from the
       * claim's cache, and with rollups the owner-kept merged sketches; each register() claims anew.
       */
      owner?: boolean;
      /**
       * spec.rankBy (with window.ranks): the ranked aggregates, default the count, sum, min and
       * max ones; a percentile listed here is indexed by its parts' bounds, which only an owner
       * packing sketches works out (as the consumer loop).
       */
      rankBy?: string[];
    } = {},
  ) {
    this.owner = options.owner === true;
    const rankBy = options.rankBy ?? rankedAggregates(AGGREGATES);
    this.rankedBounds = boundRankedAggregates(AGGREGATES, rankBy);
    this.ranked = rankBy.filter((name) => !this.rankedBounds.some((shape) => shape.name === name));
    this.name = options.name ?? `q-${randomBytes(4).toString('hex')}`;
    const partitions = Array.from({ length: options.partitions ?? 3 }, (_, i) => String(i));
    this.registration = {
      name: this.name,
      activeVersion: 1,
      topics: ['orders'],
      partitions,
      window: options.window ?? WINDOW,
      groupBy: options.groupBy ?? GROUP_BY,
      aggregates: AGGREGATES,
      retentionMs: options.retentionMs ?? 7 * 24 * 3600_000,
      updatedAt: Date.now(),
    };
  }

  async register(): Promise<void> {
    await registerPipeline(this.redis, this.registration);
    for (const id of this.registration.partitions) {
      const window = this.registration.window;
      const rollups = window.type !== 'session' && window.rollups === true;
      // an owner packs sketches into the window hashes when the registration says so (as the loop)
      const claim = await claimPartition(
        this.redis,
        this.prefix(id),
        1,
        undefined,
        this.owner && window.type !== 'session' && window.packedSketches === true,
        rollups ? this.registration.aggregates : undefined,
        window.type !== 'session' && window.ranks ? this.rankedBounds : [],
      );
      this.epochs.set(id, claim.epoch);
      this.claims.set(id, claim);
    }
  }

  prefix(id: string): string {
    return partitionPrefix(this.name, this.registration.activeVersion, id);
  }

  /**
   * Commits `events` in batches of `batchSize`, each batch dealt round-robin over the partitions
   * (event j of a batch to partition j mod n), as records keyed at random would arrive.
   */
  async commitSpread(events: Omit<Event, 'partition'>[], batchSize = events.length): Promise<void> {
    const partitions = this.registration.partitions;
    for (let i = 0; i < events.length; i += batchSize) {
      const batch = events.slice(i, i + batchSize);
      for (const [p, id] of partitions.entries())
        await this.commit(
          id,
          batch.filter((_, j) => j % partitions.length === p),
        );
    }
  }

  /** Commits one batch on one partition, exactly as the consumer loop would (watermark = max event time). */
  async commit(
    partition: string,
    events: Omit<Event, 'partition'>[],
    counters: { late?: number; deadLettered?: number } = {},
  ): Promise<void> {
    const fold = new BatchFold(AGGREGATES);
    let watermark = this.watermarks.get(partition) ?? Number.MIN_SAFE_INTEGER;
    const window = this.registration.window;
    for (const e of events) {
      const event = { ...e, partition };
      const prepared = fold.prepare(argsOf(event));
      const group = groupKeyOf(
        this.registration.groupBy.map((g) => (event as unknown as Record<string, unknown>)[g]),
      );
      const size = window.type === 'session' ? window.gapMs : window.sizeMs;
      const starts = windowStarts(window, e.time);
      // a hopping window with slices (what the processor compiles) is written per slice, as the
      // consumer does for on-time records; without sliceMs, per window
      if (window.type === 'hopping' && window.sliceMs) {
        const slice = sliceStartOf(e.time, window.sliceMs);
        fold.add(fold.slice(slice, slice + window.sliceMs, starts), group, e.time, prepared);
      } else for (const start of starts) fold.add(fold.window(start, start + size), group, e.time, prepared);
      fold.records++;
      if (e.time > watermark) watermark = e.time;
      this.events.push(event);
    }
    const first = this.offsets.get(partition) ?? 0n;
    const next = first + BigInt(events.length);
    const claim = this.owner && window.type !== 'session' ? this.claims.get(partition) : undefined;
    if (claim) await claim.windows.load(this.redis, this.prefix(partition), fold);
    const absolute = claim?.windows.stage(fold);
    const ownedTotals = claim?.windows.stageTotals(fold);
    const result = await commitBatch(this.redis, {
      ...(absolute ? { absolute, packedSketches: claim!.windows.packedSketches } : {}),
      ...(ownedTotals ? { ownedTotals } : {}),
      prefix: this.prefix(partition),
      epoch: this.epochs.get(partition)!,
      firstOffset: String(first),
      nextOffset: String(next),
      watermark,
      graceMs: window.graceMs,
      retentionMs: this.registration.retentionMs,
      ...(window.type === 'session' ? {} : { windowSizeMs: window.sizeMs }),
      ...(window.type === 'hopping' && window.sliceMs
        ? { slicing: { sizeMs: window.sizeMs, advanceMs: window.advanceMs, sliceMs: window.sliceMs } }
        : {}),
      ...(window.type !== 'session' && window.rollups
        ? {
            rollups: true,
            ...(window.ranks ? { ranked: this.ranked } : {}),
            ...(window.ranks && absolute && this.rankedBounds.length > 0
              ? {
                  rankedBounds: {
                    aggregates: this.rankedBounds.map((shape) => shape.name),
                    perPartial: claim!.windows.stagedBounds() ?? new Map(),
                  },
                }
              : {}),
            // as the consumer loop does: window-level group sets for tumbling windows, and for
            // sliced hopping windows with rankWholeWindows the groups new to them that their owner
            // works out
            ...(this.redis instanceof Cluster || window.type !== 'tumbling'
              ? {}
              : {
                  windowGroups: keys.groupSets(this.name, this.registration.activeVersion),
                  ...(window.ranks
                    ? {
                        globalRanks: AGGREGATES.filter(
                          (a) => a.kind === 'sum' && this.ranked.includes(a.name),
                        ).map((a) => a.name),
                      }
                    : {}),
                }),
            ...(this.redis instanceof Cluster ||
            window.type !== 'hopping' ||
            !window.sliceMs ||
            !window.rankWholeWindows ||
            !claim
              ? {}
              : {
                  windowGroups: keys.groupSets(this.name, this.registration.activeVersion),
                  sliceGroups: claim.windows.stageSliceGroups(fold, window.sizeMs, window.sliceMs),
                }),
            // and, for hopping windows with rankWholeWindows, their window-level ranking sets
            ...(this.redis instanceof Cluster ||
            window.type !== 'hopping' ||
            !window.ranks ||
            !window.rankWholeWindows
              ? {}
              : {
                  hoppingRanks: {
                    base: keys.groupSets(this.name, this.registration.activeVersion),
                    aggregates: hoppingRankModes(AGGREGATES, this.ranked),
                  },
                }),
          }
        : {}),
      fold,
      ...counters,
    });
    if (result.status !== 'applied') throw new Error(`commit ${result.status}`);
    claim?.windows.applied(result.closedWindows);
    this.offsets.set(partition, next);
    this.watermarks.set(partition, watermark);
  }

  watermark(partition: string): number | undefined {
    return this.watermarks.get(partition);
  }
}

/** Random events for `windows` consecutive windows starting at `base`, spread over the partitions. */
export function randomEvents(
  seed: number,
  options: { base: number; windows: number; count: number; countries?: string[]; devices?: string[] },
) {
  const next = rng(seed);
  const countries = options.countries ?? ['DE', 'FR', 'US', 'JP'];
  const devices = options.devices ?? ['ios', 'android', 'web'];
  const items = ['apple', 'pear', 'plum', 'kiwi', 'fig', 'lime'];
  const out: Omit<Event, 'partition'>[] = [];
  for (let i = 0; i < options.count; i++) {
    out.push({
      time: options.base + Math.floor(next() * options.windows * 60_000),
      country: countries[Math.floor(next() * countries.length)]!,
      device: devices[Math.floor(next() * devices.length)]!,
      amount: Math.round(next() * 10_000) / 100,
      user: `u${Math.floor(next() * 50)}`,
      item: items[Math.floor(next() ** 2 * items.length)]!,
    });
  }
  return out;
}
