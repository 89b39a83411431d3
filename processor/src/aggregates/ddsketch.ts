/**
 * The log-bucket mapping of DDSketch (Masson, Rim, Lee; VLDB 2019): a value x > 0 falls in bucket
 * ceil(log_gamma(x)) with gamma = (1 + a) / (1 - a). Any quantile read back from the bucket counts
 * is within relative error `a` of the true value, and sketches merge exactly by adding counts per
 * bucket, which is what lets partitions keep partial sketches as Redis hashes updated with HINCRBY.
 *
 * Buckets are named as strings: "p<i>" for positive values, "n<i>" for negative ones (mirrored),
 * "z" for values too close to zero to map.
 */
export const RELATIVE_ACCURACY = 0.01;
const gamma = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
const logGamma = Math.log(gamma);
const MIN_INDEXABLE = 1e-9;

export function bucketOf(value: number): string {
  const magnitude = Math.abs(value);
  if (magnitude < MIN_INDEXABLE) return 'z';
  const index = Math.ceil(Math.log(magnitude) / logGamma);
  return `${value < 0 ? 'n' : 'p'}${index}`;
}

/** The representative value of a bucket: the point with equal relative error to both bounds. */
export function bucketValue(bucket: string): number {
  if (bucket === 'z') return 0;
  const index = Number(bucket.slice(1));
  const value = (2 * gamma ** index) / (gamma + 1);
  return bucket[0] === 'n' ? -value : value;
}

/** The q-quantile (0 < q < 1) of a sketch given as bucket -> count, or null when it is empty. */
export function quantile(buckets: ReadonlyMap<string, number>, q: number): number | null {
  const entries = [...buckets.entries()]
    .filter(([, count]) => count > 0)
    .map(([bucket, count]) => ({ value: bucketValue(bucket), count }))
    .sort((a, b) => a.value - b.value);
  const total = entries.reduce((sum, e) => sum + e.count, 0);
  if (total === 0) return null;
  // Rank as in DDSketch: the smallest value whose cumulative count exceeds q * (n - 1).
  const rank = q * (total - 1);
  let seen = 0;
  for (const entry of entries) {
    seen += entry.count;
    if (seen > rank) return entry.value;
  }
  return entries[entries.length - 1]!.value;
}
