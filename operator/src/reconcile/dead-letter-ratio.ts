// The share of a replaying version's records that went to the dead-letter topic, from the counts
// its commits keep in each partition's Redis checkpoint (exact, and they survive restarts).

export interface DeadLetterCounts {
  /** records applied to the aggregates */
  records: number;
  /** records sent to the dead-letter topic instead */
  deadLettered: number;
}

/** Sums the partitions' counts. */
export function totalCounts(partitions: readonly DeadLetterCounts[]): DeadLetterCounts {
  let records = 0;
  let deadLettered = 0;
  for (const p of partitions) {
    records += p.records;
    deadLettered += p.deadLettered;
  }
  return { records, deadLettered };
}

/** dead-lettered / consumed (applied + dead-lettered), in [0, 1]; 0 before any record. */
export function deadLetterRatio(c: DeadLetterCounts): number {
  const consumed = c.records + c.deadLettered;
  return consumed > 0 ? c.deadLettered / consumed : 0;
}

/** Pure: why `counts` exceed `max` (reprocessing.maxDeadLetterRatio), or undefined when they do not. */
export function deadLetterExcess(c: DeadLetterCounts, max: number | undefined): string | undefined {
  if (max === undefined) return undefined;
  const ratio = deadLetterRatio(c);
  if (ratio <= max) return undefined;
  const percent = (x: number) => `${Number((x * 100).toPrecision(3))}%`;
  return `dead-lettered ${c.deadLettered} of ${c.records + c.deadLettered} records (${percent(ratio)}, more than reprocessing.maxDeadLetterRatio ${max} = ${percent(max)})`;
}

/**
 * Pure: the counts the promotion gate may judge, from a replay's lag reading: none while nothing is
 * counted yet but records wait (a 0/0 ratio would open the gate, and a fast replay could switch
 * before the next pass saw its dead letters); a replay with nothing to read is judged on zero counts.
 */
export function judgedCounts(reading: {
  partitions: readonly DeadLetterCounts[];
  totalLag: number;
}): DeadLetterCounts | undefined {
  const counts = totalCounts(reading.partitions);
  return counts.records + counts.deadLettered > 0 || reading.totalLag === 0 ? counts : undefined;
}
