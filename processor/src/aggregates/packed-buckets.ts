/**
 * A DDSketch's bucket counts as one text value, `<bucket>:<count>,...` (buckets as in ddsketch.ts:
 * `p<i>`, `n<i>`, `z`), for a slice hash field written whole by the partition owner. Text rather
 * than bytes: a sketch of a (slice, group) holds a handful of buckets (~8 bytes each), the query
 * scripts split it with one gmatch, and it reads back into the same bucket map the key layout gives.
 */
export function encodeBuckets(counts: ReadonlyMap<string, number>): string {
  let out = '';
  for (const [bucket, count] of counts) {
    if (count === 0) continue;
    out += out === '' ? `${bucket}:${count}` : `,${bucket}:${count}`;
  }
  return out;
}

export function decodeBuckets(text: string | null | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  if (!text) return counts;
  for (const entry of text.split(',')) {
    const colon = entry.lastIndexOf(':');
    if (colon <= 0) throw new Error(`corrupt packed DDSketch entry "${entry}"`);
    counts.set(entry.slice(0, colon), Number(entry.slice(colon + 1)));
  }
  return counts;
}

/** Adds a batch's bucket counts into the sketch's. */
export function addBuckets(counts: Map<string, number>, more: ReadonlyMap<string, number>): void {
  for (const [bucket, count] of more) counts.set(bucket, (counts.get(bucket) ?? 0) + count);
}

/** The counts as the flat `[bucket, count, ...]` list a sketch key's HGETALL gives. */
export function flatBuckets(text: string): string[] {
  const flat: string[] = [];
  for (const [bucket, count] of decodeBuckets(text)) flat.push(bucket, String(count));
  return flat;
}
