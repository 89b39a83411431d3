import type { WindowShape } from '../model/pipeline.ts';

/**
 * Start times of the fixed windows (tumbling or hopping) that contain `eventTime`, oldest first.
 * Windows are aligned to the epoch, so every replica and every replay agrees on them.
 */
export function windowStarts(window: WindowShape, eventTime: number): number[] {
  if (window.type === 'session') throw new Error('session windows are assigned per key, not by time alone');
  const advance = window.type === 'hopping' ? window.advanceMs : window.sizeMs;
  const lastStart = eventTime - mod(eventTime, advance);
  const starts: number[] = [];
  for (let start = lastStart - window.sizeMs + advance; start <= lastStart; start += advance) {
    if (start + window.sizeMs > eventTime) starts.push(start);
  }
  return starts;
}

/**
 * The start of the oldest hopping window holding `eventTime` (windowStarts(...)[0], without the
 * array: the sliced fold asks it per record). `advance` divides `size` (spec/window.ts).
 */
export function oldestWindowStart(window: { sizeMs: number; advanceMs: number }, eventTime: number): number {
  return eventTime - mod(eventTime, window.advanceMs) - window.sizeMs + window.advanceMs;
}

/** Start of the slice (stream slicing, epoch-aligned like the windows) that holds `eventTime`. */
export function sliceStartOf(eventTime: number, sliceMs: number): number {
  return eventTime - mod(eventTime, sliceMs);
}

/** A window is closed once the partition's watermark has passed its end plus the grace period. */
export function isClosed(windowEnd: number, graceMs: number, watermark: number): boolean {
  return windowEnd + graceMs <= watermark;
}

function mod(a: number, b: number): number {
  return ((a % b) + b) % b;
}
