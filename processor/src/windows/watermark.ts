/**
 * Per-partition watermark: the highest event time seen so far in offset order. It only moves
 * forward, and since it is checkpointed with the partition's state, a replay after a crash sees the
 * same watermark at every record and so makes the same late/on-time decisions.
 */
export class Watermark {
  constructor(private current: number) {}

  get value(): number {
    return this.current;
  }

  observe(eventTime: number): void {
    if (eventTime > this.current) this.current = eventTime;
  }
}

/** Watermark of a partition that has seen no event yet. */
export const NO_WATERMARK = Number.MIN_SAFE_INTEGER;
