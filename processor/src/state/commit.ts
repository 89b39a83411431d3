import {
  type BatchFold,
  type Buckets,
  bucketCounts,
  memberList,
  type WindowDelta,
} from '../aggregates/fold.ts';
import type { HoppingRankMode } from '../aggregates/kinds.ts';
import type { SessionUpdate } from '../windows/session-folder.ts';
import type { RedisClient } from './connection.ts';
import { keys } from './keys.ts';
import { argumentCount, plainArguments, type StagedArguments } from './number-pairs.ts';
import type { StagedTotals } from './owned-totals.ts';
import { totalsOf } from './rollup-totals.ts';
import { encodesScriptCalls } from './script-command.ts';

export type CommitResult =
  | {
      status: 'applied';
      closedWindows: number[] /** replicas that have the commit (with `waitForReplicas`) */;
      replicated?: number;
    }
  | { status: 'fenced'; storedEpoch: number }
  | { status: 'duplicate'; storedOffset: string }
  | { status: 'diverged'; storedOffset: string | null };

export interface CommitRequest {
  prefix: string;
  epoch: number;
  /**
   * The next offset the writer last saw stored (from its claim or its last commit), or null for
   * none; a different stored value refuses the batch as diverged. Omit to skip the check.
   */
  expectedOffset?: string | null;
  firstOffset: string;
  nextOffset: string;
  watermark: number;
  graceMs: number;
  retentionMs: number;
  /**
   * Tumbling and hopping windows: their size, so a window leaves the partition's index `retention`
   * after its end (spec.retention). Without it, after its start (session windows, whose end is not
   * in the index: an open session stays).
   */
  windowSizeMs?: number;
  fold: BatchFold;
  late?: number;
  deadLettered?: number;
  /** queue the windows this batch closes in the partition's outbox, for the sink topic */
  outbox?: boolean;
  /** session windows: the sessions to write and merge, and each aggregate's kind (to merge state) */
  sessions?: { updates: SessionUpdate[]; gapMs: number; kinds: Record<string, string> };
  /**
   * Per partial (WindowDelta.key), the absolute values of its hash fields (field, value, ...) computed by the
   * partition's owner (see owned-windows.ts); those windows' counts, sums, min/max and first/last
   * are written with HSET instead of being sent as deltas.
   */
  absolute?: ReadonlyMap<string, StagedArguments>;
  /**
   * Per partial, where each count's and sum's own fields start among its absolute values
   * (OwnedWindows.stagedBlocks): the script takes the ranked aggregates' new values from there.
   */
  absoluteBlocks?: ReadonlyMap<string, Readonly<Record<string, number>>>;
  /**
   * Windows and slices carry their distinct sets and percentile sketches among the absolute values,
   * as packed fields (OwnedWindows.packedSketches): the payload leaves them out of the sketch keys.
   */
  packedSketches?: boolean;
  /**
   * Hopping windows kept per slice (stream slicing): the window size and advance, so the script
   * can register the windows a slice is part of and expire a slice when its last window closes.
   */
  slicing?: { sizeMs: number; advanceMs: number; sliceMs: number };
  /**
   * Write-side rollups (WindowShape.rollups, not for session windows): every window and slice also
   * adds the batch's all-groups totals to its totals keys (state/rollup-totals.ts).
   */
  rollups?: boolean;
  /**
   * With `rollups`: the aggregates whose per-part ranking index (query/top-index.ts) the script
   * keeps, a sorted set of group -> minus the part's value, written from the values it just stored.
   */
  ranked?: readonly string[];
  /**
   * With `rollups`: the percentiles of spec.rankBy and, per partial whose sketches the owner packs,
   * each touched group's upper bound per aggregate as (group, bound, ...) texts
   * (OwnedWindows.stagedBounds), which the script keeps in the part's top-N index. A partial without
   * bounds loses its index (readers scan it then).
   */
  rankedBounds?: {
    aggregates: readonly string[];
    perPartial: ReadonlyMap<string, Readonly<Record<string, readonly string[]>>>;
  };
  /**
   * With `rollups`, on one Redis node (never a Cluster: another hash tag): the key base of the
   * version's window-level group sets (keys.groupSets), which the script adds the batch's groups to.
   */
  windowGroups?: string;
  /**
   * With `windowGroups`, sliced hopping windows: per slice, the windows and groups to add to their
   * sets (OwnedWindows.stageSliceGroups). A slice without it leaves the window sets alone.
   */
  sliceGroups?: ReadonlyMap<string, readonly (string | readonly string[])[]>;
  /**
   * With `ranked` and `windowGroups` (tumbling windows on one Redis node): the ranked sums whose
   * window-level index across partitions (query/global-top.ts) the script keeps beside the group sets.
   */
  globalRanks?: readonly string[];
  /**
   * With `ranked`, hopping windows on one Redis node: the ranked counts, min and max whose
   * window-level sets across partitions and slices (query/global-top.ts) the script keeps, with how
   * a part's change combines into them, and the sets' key base (keys.groupSets).
   */
  hoppingRanks?: { base: string; aggregates: readonly (readonly [string, HoppingRankMode])[] };
  /**
   * With rollups: per partial, its merged sketches as absolute values kept by the partition's owner
   * (state/owned-totals.ts), written as absolute values (a HyperLogLog's raised registers, the
   * touched buckets' and members' counts) instead of the batch's members and bucket counts.
   */
  ownedTotals?: ReadonlyMap<string, StagedTotals>;
  /** Redis WAIT after the commit, in the same round trip on the same node (Cluster: the partition's master) */
  waitForReplicas?: { replicas: number; timeoutMs: number };
}

/** One Redis round trip for the whole batch of one partition: deltas and checkpoint together. */
export async function commitBatch(redis: RedisClient, request: CommitRequest): Promise<CommitResult> {
  const args = commitArguments(request);
  // Blocks of numeric pairs need our encoder; a client without it gets them as text.
  if (!encodesScriptCalls(redis, 'commitBatch'))
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!;
      if (typeof arg !== 'string') args[i] = plainArguments(arg);
    }
  const wait = request.waitForReplicas;
  if (!wait || wait.replicas <= 0) return parseReply(await redis.commitBatch(...args));
  // WAIT has no key: in one pipeline with the script it goes to the node that ran the script.
  const pipeline = redis.pipeline() as ReturnType<RedisClient['pipeline']> & {
    commitBatch(...args: (string | StagedArguments)[]): unknown;
  };
  pipeline.commitBatch(...args);
  const replies = (await pipeline.wait(wait.replicas, wait.timeoutMs).exec()) ?? [];
  const [[scriptError, reply] = [null, null], [waitError, replicated] = [null, 0]] = replies;
  if (scriptError) throw scriptError;
  if (waitError) throw waitError;
  const result = parseReply(reply as (number | string)[]);
  return result.status === 'applied' ? { ...result, replicated: Number(replicated) } : result;
}

/** The script's arguments (exported for bench/fold-micro.ts, which measures building them). */
export function commitArguments(request: CommitRequest): [string, ...(string | StagedArguments)[]] {
  const rollups = request.rollups === true && !request.sessions;
  // the owner's totals sketches ride only beside the totals payload that says where they are
  const ownedTotals = rollups ? request.ownedTotals : undefined;
  return [
    keys.checkpoint(request.prefix),
    request.prefix,
    String(request.epoch),
    request.firstOffset,
    request.nextOffset,
    String(request.watermark),
    String(request.graceMs),
    String(request.retentionMs),
    String(request.fold.records),
    String(Date.now()),
    encodePayload(
      request.fold,
      request.sessions,
      request.absolute,
      request.slicing,
      request.packedSketches,
      rollups,
      ownedTotals,
      request.ranked,
      request.windowGroups,
      request.globalRanks,
      request.hoppingRanks,
      request.sliceGroups,
      request.absoluteBlocks,
      request.windowSizeMs,
      request.rankedBounds,
    ),
    String(request.late ?? 0),
    String(request.deadLettered ?? 0),
    request.outbox ? '1' : '0',
    request.sessions ? '1' : '0',
    request.expectedOffset === undefined ? '' : (request.expectedOffset ?? '-'),
    // The absolute values ride as plain arguments after ARGV[15], in the payload's window order:
    // no JSON to build here nor to decode in the script. One array per window, which ioredis
    // flattens into the call (no copy of every value into one list here).
    ...absoluteArguments(request.fold, request.absolute, ownedTotals),
  ];
}

function parseReply(reply: (number | string)[]): CommitResult {
  const [status, ...rest] = reply;
  if (Number(status) === -1) return { status: 'fenced', storedEpoch: Number(rest[0]) };
  if (Number(status) === -2) return { status: 'duplicate', storedOffset: String(rest[0]) };
  if (Number(status) === -3) return { status: 'diverged', storedOffset: rest[0] ? String(rest[0]) : null };
  return { status: 'applied', closedWindows: rest.map(Number) };
}

/** The batch as the JSON the script decodes; numbers that must stay exact travel as strings. */
export function encodePayload(
  fold: BatchFold,
  sessions?: CommitRequest['sessions'],
  absolute?: CommitRequest['absolute'],
  slicing?: CommitRequest['slicing'],
  packedSketches?: boolean,
  rollups = false,
  ownedTotals?: CommitRequest['ownedTotals'],
  ranked?: readonly string[],
  windowGroups?: string,
  globalRanks?: readonly string[],
  hoppingRanks?: CommitRequest['hoppingRanks'],
  sliceGroups?: CommitRequest['sliceGroups'],
  absoluteBlocks?: CommitRequest['absoluteBlocks'],
  windowSizeMs?: number,
  rankedBounds?: CommitRequest['rankedBounds'],
): string {
  const rq = rollups && rankedBounds && rankedBounds.aggregates.length > 0 ? rankedBounds : undefined;
  const windows: Record<string, unknown>[] = [];
  for (const delta of fold.deltas()) {
    const pairs = absolute?.get(delta.key);
    const encoded: Record<string, unknown> = pairs
      ? encodeSketches(delta, argumentCount(pairs), packedSketches === true)
      : encodeWindow(delta);
    if (delta.covers) encoded.c = delta.covers;
    if (rollups) encoded.r = totalsOf(delta, ownedTotals);
    const blocks =
      pairs && rollups && ranked && ranked.length > 0 ? absoluteBlocks?.get(delta.key) : undefined;
    if (blocks) encoded.b = blocks;
    const adds = rollups && windowGroups && delta.covers ? sliceGroups?.get(delta.key) : undefined;
    if (adds) encoded.n = adds;
    const bounds = rq?.perPartial.get(delta.key);
    if (bounds) encoded.q = bounds;
    windows.push(encoded);
  }
  const sl = slicing ? { z: slicing.sizeMs, a: slicing.advanceMs, g: slicing.sliceMs } : undefined;
  const rk = rollups && ranked && ranked.length > 0 ? ranked : undefined;
  const wg = rollups ? windowGroups : undefined;
  const gr = rk && wg && globalRanks && globalRanks.length > 0 ? globalRanks : undefined;
  const hopping = rk && hoppingRanks && hoppingRanks.aggregates.length > 0 ? hoppingRanks : undefined;
  if (!sessions || sessions.updates.length === 0)
    return JSON.stringify({
      w: windows,
      sl,
      rk,
      wg,
      gr,
      hr: hopping?.aggregates,
      hb: hopping?.base,
      rq: rq?.aggregates,
      z: windowSizeMs,
    });
  const x = sessions.updates.map((u) => [u.group, u.start, u.end, u.end + sessions.gapMs, u.mergeFrom]);
  return JSON.stringify({ w: windows, x, k: sessions.kinds });
}

function absoluteArguments(
  fold: BatchFold,
  absolute?: CommitRequest['absolute'],
  ownedTotals?: CommitRequest['ownedTotals'],
): StagedArguments[] {
  if (!absolute && !ownedTotals) return [];
  const out: StagedArguments[] = [];
  for (const delta of fold.deltas()) {
    const pairs = absolute?.get(delta.key);
    if (pairs) out.push(pairs);
    // a window's totals sketches follow its own values (the script reads `r.n` of them)
    const totals = ownedTotals?.get(delta.key);
    if (totals) out.push(totals.args);
  }
  return out;
}

/**
 * A window whose hash fields travel as absolute values: `a` arguments of them, and its sketches
 * (only its topK ones when its distinct sets and percentile sketches are packed among those values).
 */
function encodeSketches(delta: WindowDelta, absoluteArgs: number, packed: boolean) {
  // Packed: the distinct sets and DDSketches are among the absolute values, so they are not listed here.
  if (packed)
    return { s: delta.start, e: delta.end, a: absoluteArgs, h: [], d: [], t: nestedCounts(delta.tops) };
  const { h, d, t } = encodeWindow(delta, false);
  return { s: delta.start, e: delta.end, a: absoluteArgs, h, d, t };
}

/** Sketch counts (DDSketch buckets, topK members) as [field, [member, count, ...], ...]. */
function nestedCounts(map: ReadonlyMap<string, Buckets>): unknown[] {
  const out: unknown[] = [];
  for (const [field, inner] of map) {
    const flat: (string | number)[] = [];
    for (const [member, count] of bucketCounts(inner)) flat.push(member, count);
    out.push(field, flat);
  }
  return out;
}

function encodeWindow(delta: WindowDelta, withFields = true) {
  const flat = (map: Map<string, number>, asText: boolean) => {
    const out: (string | number)[] = [];
    for (const [field, value] of map) out.push(field, asText ? String(value) : value);
    return out;
  };
  const timed = (map: Map<string, { time: number; value: string }>) => {
    const out: string[] = [];
    for (const [field, entry] of map) out.push(field, String(entry.time), entry.value);
    return out;
  };
  const distinct: unknown[] = [];
  for (const [field, members] of delta.distinct) distinct.push(field, memberList(members));
  if (!withFields)
    return {
      s: delta.start,
      e: delta.end,
      h: distinct,
      d: nestedCounts(delta.sketches),
      t: nestedCounts(delta.tops),
    };
  return {
    s: delta.start,
    e: delta.end,
    i: flat(delta.increments, false),
    f: flat(delta.sums, true),
    mn: flat(delta.mins, true),
    mx: flat(delta.maxs, true),
    fi: timed(delta.firsts),
    la: timed(delta.lasts),
    h: distinct,
    d: nestedCounts(delta.sketches),
    t: nestedCounts(delta.tops),
  };
}
