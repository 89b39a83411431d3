/**
 * The log-bucket mapping of DDSketch (Masson, Rim, Lee; VLDB 2019): a value x > 0 falls in bucket
 * ceil(log_gamma(x)) with gamma = (1 + a) / (1 - a). Any quantile read back from the bucket counts
 * is within relative error `a` of the true value, and sketches merge exactly by adding counts per
 * bucket, which is what lets partitions keep partial sketches as Redis hashes updated with HINCRBY.
 *
 * Buckets are named as strings: "p<i>" for positive values, "n<i>" for negative ones (mirrored),
 * "z" for values too close to zero to map.
 */
/** The default relative accuracy (a pipeline's percentile may ask for 0.001 to 0.1). */
export const RELATIVE_ACCURACY = 0.01;
const MIN_INDEXABLE = 1e-9;

/** ln(gamma) per accuracy: a handful of distinct values per process. */
const logGammas = new Map<number, number>();
function logGammaOf(accuracy: number): number {
  let value = logGammas.get(accuracy);
  if (value === undefined) {
    value = Math.log((1 + accuracy) / (1 - accuracy));
    logGammas.set(accuracy, value);
  }
  return value;
}

export function bucketOf(value: number, accuracy = RELATIVE_ACCURACY): string {
  const magnitude = Math.abs(value);
  if (magnitude < MIN_INDEXABLE) return 'z';
  const index = Math.ceil(Math.log(magnitude) / logGammaOf(accuracy));
  return bucketName(value < 0 ? negativeNames : positiveNames, value < 0 ? 'n' : 'p', index);
}

// Bucket names are made once per index: a percentile folds one per record, and most records of a
// pipeline fall in a few hundred buckets.
const NAMED_INDEXES = 8192;
const positiveNames: (string | undefined)[] = new Array(NAMED_INDEXES).fill(undefined);
const negativeNames: (string | undefined)[] = new Array(NAMED_INDEXES).fill(undefined);

function bucketName(names: (string | undefined)[], sign: 'n' | 'p', index: number): string {
  const at = index + NAMED_INDEXES / 2;
  if (at < 0 || at >= NAMED_INDEXES) return `${sign}${index}`;
  let name = names[at];
  if (name === undefined) {
    name = `${sign}${index}`;
    names[at] = name;
  }
  return name;
}

/** The representative value of a bucket: the point with equal relative error to both bounds. */
export function bucketValue(bucket: string, accuracy = RELATIVE_ACCURACY): number {
  if (bucket === 'z') return 0;
  const index = Number(bucket.slice(1));
  const gamma = (1 + accuracy) / (1 - accuracy);
  const value = (2 * gamma ** index) / (gamma + 1);
  return bucket[0] === 'n' ? -value : value;
}

/**
 * The q-quantile (0 < q < 1) of a sketch given as bucket -> count, or null when it is empty. The
 * accuracy must be the one the buckets were made with (the pipeline's registration carries it).
 */
export function quantile(
  buckets: ReadonlyMap<string, number>,
  q: number,
  accuracy = RELATIVE_ACCURACY,
): number | null {
  // Rank as in DDSketch: the smallest value whose cumulative count exceeds q * (n - 1).
  return firstPast(buckets, accuracy, (total) => q * (total - 1), false);
}

/**
 * An upper bound, from one part's buckets, on the q-quantile of any merge of this sketch with
 * others (the top-N index of a percentile, query/top-index.ts): the smallest bucket value whose
 * cumulative count reaches q * n. If every part's count up to v reaches q * n_i, the merge's count
 * up to v reaches q * N > q * (N - 1), so `quantile` of the merge is at most v. A part's own
 * quantile is no such bound (two parts of {1, 100} have p90 1; their merge has p90 100).
 */
export function upperQuantile(
  buckets: ReadonlyMap<string, number>,
  q: number,
  accuracy = RELATIVE_ACCURACY,
): number | null {
  return firstPast(buckets, accuracy, (total) => q * total, true);
}

/** The value of the first bucket (in value order) whose cumulative count passes (or, inclusive, reaches) a rank. */
function firstPast(
  buckets: ReadonlyMap<string, number>,
  accuracy: number,
  rankOf: (total: number) => number,
  inclusive: boolean,
): number | null {
  const entries = sortedBuckets(buckets);
  let total = 0;
  for (const entry of entries) total += entry.count;
  if (total === 0) return null;
  const rank = rankOf(total);
  let seen = 0;
  for (const entry of entries) {
    seen += entry.count;
    if (seen > rank || (inclusive && seen === rank)) return bucketValue(entry.bucket, accuracy);
  }
  return bucketValue(entries[entries.length - 1]!.bucket, accuracy);
}

/**
 * The non-empty buckets in value order, without computing values (a power per bucket): negative
 * ones by falling index, then zero, then positive ones by rising index.
 */
function sortedBuckets(buckets: ReadonlyMap<string, number>): { bucket: string; count: number }[] {
  const entries: { sign: number; index: number; bucket: string; count: number }[] = [];
  for (const [bucket, count] of buckets) {
    if (!(count > 0)) continue;
    const sign = bucket === 'z' ? 0 : bucket[0] === 'n' ? -1 : 1;
    entries.push({ sign, index: sign === 0 ? 0 : Number(bucket.slice(1)), bucket, count });
  }
  return entries.sort((a, b) => a.sign - b.sign || a.sign * (a.index - b.index));
}
