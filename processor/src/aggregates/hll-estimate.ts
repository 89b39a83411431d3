/**
 * PFCOUNT of several Redis HyperLogLog strings, computed here: their registers merged (maximum per
 * register, as PFMERGE) and Redis' estimator (hyperloglog.c hllCount: Ertl's improved raw estimate,
 * in the same double arithmetic, so the same count). The query side merges a window's slices and
 * partitions per group this way instead of copying every partial into Redis to count it there.
 */
import { maxInto } from './redis-hll.ts';

const REGISTERS = 16_384;
/** 64 - 14: the register values that can occur are 0..Q + 1 */
const Q = 50;
/** 0.5 / ln 2 (Redis: 0.721347520444481703680, the same double) */
const ALPHA_INF = 0.7213475204444817;

function sigma(x: number): number {
  if (x === 1) return Number.POSITIVE_INFINITY;
  let y = 1;
  let z = x;
  let previous: number;
  do {
    x *= x;
    previous = z;
    z += x * y;
    y += y;
  } while (previous !== z);
  return z;
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let previous: number;
  do {
    x = Math.sqrt(x);
    previous = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
  } while (previous !== z);
  return z / 3;
}

/** The estimate from how many merged registers hold each value, as Redis' hllCount. */
function estimate(histogram: Int32Array): number {
  const m = REGISTERS;
  let z = m * tau((m - histogram[Q + 1]!) / m);
  for (let j = Q; j >= 1; j--) {
    z += histogram[j]!;
    z *= 0.5;
  }
  z += m * sigma(histogram[0]! / m);
  return Math.round((ALPHA_INF * m * m) / z);
}

// Scratch of countHlls (synchronous, so one of each is enough): most partials are sparse sketches of
// a few registers, so the histogram is kept as registers rise rather than counted over all 16,384.
const registers = new Uint8Array(REGISTERS);
const histogram = new Int32Array(64);

/** PFCOUNT over the given HyperLogLog strings (missing ones count as empty). */
export function countHlls(raws: readonly (Uint8Array | null | undefined)[]): number {
  registers.fill(0);
  histogram.fill(0);
  histogram[0] = REGISTERS;
  for (const raw of raws) maxInto(registers, histogram, raw);
  return estimate(histogram);
}
