// Hot partitions: one partition carrying far more lag or traffic than the others. More replicas
// cannot help it (a partition is consumed by one replica), so it is reported instead.

export interface PartitionLoad {
  /** partition id as in Redis keys: "<n>" or "<topicIndex>.<n>" */
  partition: string;
  lag: number;
  /** records/second arriving on it, when measured */
  recordsPerSecond?: number;
}

export interface HotPartition extends PartitionLoad {
  /** what made it hot */
  by: 'lag' | 'rate';
  /** its value divided by the mean of the other partitions (Infinity when they idle) */
  ratio: number;
}

export interface HotOptions {
  /** how many times the others' mean a partition must carry; default 4 */
  factor?: number;
  /** lag below this is never hot (default: the lag threshold) */
  minLag: number;
  /** rate below this is never hot; default 1 record/second */
  minRate?: number;
  /** at most this many are reported; default 32 (the status field's limit) */
  limit?: number;
}

function hotBy(
  loads: PartitionLoad[],
  value: (p: PartitionLoad) => number,
  floor: number,
  factor: number,
): Map<string, number> {
  const out = new Map<string, number>();
  if (loads.length < 2) return out;
  const total = loads.reduce((s, p) => s + value(p), 0);
  for (const p of loads) {
    const v = value(p);
    if (v < floor || v <= 0) continue;
    const othersMean = (total - v) / (loads.length - 1);
    const ratio = othersMean > 0 ? v / othersMean : Number.POSITIVE_INFINITY;
    if (ratio >= factor) out.set(p.partition, ratio);
  }
  return out;
}

/** Partitions whose lag or input rate is at least `factor` times the mean of the others. */
export function hotPartitions(loads: PartitionLoad[], options: HotOptions): HotPartition[] {
  const factor = options.factor ?? 4;
  const byLag = hotBy(loads, (p) => p.lag, Math.max(1, options.minLag), factor);
  const byRate = hotBy(loads, (p) => p.recordsPerSecond ?? 0, options.minRate ?? 1, factor);
  const hot: HotPartition[] = [];
  for (const p of loads) {
    const lagRatio = byLag.get(p.partition);
    const rateRatio = byRate.get(p.partition);
    if (lagRatio !== undefined) hot.push({ ...p, by: 'lag', ratio: lagRatio });
    else if (rateRatio !== undefined) hot.push({ ...p, by: 'rate', ratio: rateRatio });
  }
  hot.sort((a, b) => b.lag - a.lag || (b.recordsPerSecond ?? 0) - (a.recordsPerSecond ?? 0));
  return hot.slice(0, options.limit ?? 32);
}
