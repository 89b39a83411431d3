/**
 * HyperLogLogs built in the processor, byte for byte in Redis' own format (hyperloglog.c: 16,384
 * registers of 6 bits, MurmurHash64A with Redis' seed, "HYLL" header, sparse or dense encoding), so
 * that a partition owner can fold distinct values in memory and write the sketch as one absolute
 * value, while PFCOUNT / PFMERGE (the query side's merge of partitions and slices) read it exactly
 * as if PFADD had built it. The sparse encoding keeps a sketch of a few values at ~20 bytes.
 */

const REGISTERS = 16384;
const P = 14;
const HEADER = 16;
const DENSE_BYTES = HEADER + (REGISTERS * 6) / 8;
/** Redis' default hll-sparse-max-bytes: larger sketches are written dense, as PFADD would. */
const SPARSE_MAX_BYTES = 3000;
const SPARSE_MAX_VALUE = 32;

const M_HI = 0xc6a4a793;
const M_LO = 0x5bd1e995;
const SEED = 0xadc83b19;
const TWO_32 = 0x1_0000_0000;

// 64-bit words as two unsigned 32-bit halves (no BigInt on the hot path): the product's halves land here.
let outHi = 0;
let outLo = 0;

/** (aHi:aLo * bHi:bLo) mod 2^64 into outHi:outLo, from 16-bit limbs so every step stays exact in a double. */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const a0 = aLo & 0xffff;
  const a1 = aLo >>> 16;
  const b0 = bLo & 0xffff;
  const b1 = bLo >>> 16;
  const mid = a0 * b1 + a1 * b0;
  const low = a0 * b0 + (mid % 0x10000) * 0x10000;
  outLo = low >>> 0;
  const high = a1 * b1 + Math.floor(mid / 0x10000) + Math.floor(low / TWO_32);
  outHi = (high + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) >>> 0;
}

/** Redis' MurmurHash64A (seed 0xadc83b19) of the member's bytes, as [high 32 bits, low 32 bits]. */
export function murmur64a(data: Uint8Array): [number, number] {
  const len = data.length;
  mul64(0, len, M_HI, M_LO);
  let hHi = outHi;
  let hLo = (outLo ^ SEED) >>> 0;
  const whole = len - (len & 7);
  for (let i = 0; i < whole; i += 8) {
    const kLo = (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0;
    const kHi = (data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24)) >>> 0;
    mul64(kHi, kLo, M_HI, M_LO);
    // k ^= k >> 47: only the high half's top 17 bits reach the low half
    const xLo = (outLo ^ (outHi >>> 15)) >>> 0;
    mul64(outHi, xLo, M_HI, M_LO);
    hHi = (hHi ^ outHi) >>> 0;
    hLo = (hLo ^ outLo) >>> 0;
    mul64(hHi, hLo, M_HI, M_LO);
    hHi = outHi;
    hLo = outLo;
  }
  const rest = len & 7;
  if (rest > 0) {
    for (let j = rest - 1; j >= 0; j--) {
      const byte = data[whole + j]!;
      if (j >= 4) hHi = (hHi ^ (byte << (8 * (j - 4)))) >>> 0;
      else hLo = (hLo ^ (byte << (8 * j))) >>> 0;
    }
    mul64(hHi, hLo, M_HI, M_LO);
    hHi = outHi;
    hLo = outLo;
  }
  hLo = (hLo ^ (hHi >>> 15)) >>> 0;
  mul64(hHi, hLo, M_HI, M_LO);
  hHi = outHi;
  hLo = (outLo ^ (outHi >>> 15)) >>> 0;
  return [hHi, hLo];
}

/** The register a member sets and the value it offers (the run of zero bits after the index, + 1). */
export function registerOf(member: string): { index: number; value: number } {
  const [hi, lo] = murmur64a(Buffer.from(member));
  const index = lo & (REGISTERS - 1);
  // Redis: count = 1 + trailing zeros of (hash >> 14), the 50 bits above the index (at most 51).
  const low = lo >>> P;
  let value: number;
  if (low !== 0) value = 1 + ctz(low);
  else if (hi !== 0) value = 1 + (32 - P) + ctz(hi);
  else value = 1 + (32 - P) + 32;
  return { index, value };
}

function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** A sketch's registers: index -> value, only the non-zero ones. */
export type Registers = Map<number, number>;

/** Adds members to the registers (kept as the maximum value per register). */
export function addMembers(registers: Registers, members: Iterable<string>): void {
  for (const member of members) {
    const { index, value } = registerOf(member);
    if ((registers.get(index) ?? 0) < value) registers.set(index, value);
  }
}

/** Reads a Redis HyperLogLog string (sparse or dense); empty for a missing value. */
export function decodeHll(raw: Uint8Array | null | undefined): Registers {
  const registers: Registers = new Map();
  if (!raw || raw.length === 0) return registers;
  if (raw.length < HEADER || raw[0] !== 0x48 || raw[1] !== 0x59 || raw[2] !== 0x4c || raw[3] !== 0x4c)
    throw new Error('not a Redis HyperLogLog (no HYLL header)');
  if (raw[4] === 0) {
    if (raw.length < DENSE_BYTES) throw new Error('truncated dense HyperLogLog');
    for (let r = 0; r < REGISTERS; r++) {
      const value = denseGet(raw, r);
      if (value > 0) registers.set(r, value);
    }
    return registers;
  }
  let index = 0;
  for (let i = HEADER; i < raw.length; ) {
    const op = raw[i]!;
    if ((op & 0xc0) === 0) {
      index += (op & 0x3f) + 1;
      i += 1;
    } else if ((op & 0xc0) === 0x40) {
      index += (((op & 0x3f) << 8) | raw[i + 1]!) + 1;
      i += 2;
    } else {
      const value = ((op >> 2) & 0x1f) + 1;
      const run = (op & 0x03) + 1;
      for (let k = 0; k < run; k++) registers.set(index + k, value);
      index += run;
      i += 1;
    }
  }
  if (index !== REGISTERS) throw new Error('corrupt sparse HyperLogLog (registers do not add up)');
  return registers;
}

/** Writes the registers as Redis writes them: sparse while small, dense otherwise. */
export function encodeHll(registers: Registers): Buffer {
  return encodeSparse(registers) ?? encodeDense(registers);
}

function header(encoding: 0 | 1, size: number): Buffer {
  const out = Buffer.alloc(size);
  out.write('HYLL', 0, 'latin1');
  out[4] = encoding;
  // The cached cardinality is marked invalid: PFCOUNT computes it.
  out[15] = 0x80;
  return out;
}

function encodeSparse(registers: Registers): Buffer | undefined {
  const sorted = [...registers].sort((a, b) => a[0] - b[0]);
  const ops: number[] = [];
  let index = 0;
  const zeros = (count: number) => {
    while (count > 0) {
      if (count > 64) {
        const run = Math.min(count, REGISTERS);
        ops.push(0x40 | ((run - 1) >> 8), (run - 1) & 0xff);
        count -= run;
      } else {
        ops.push(count - 1);
        count = 0;
      }
    }
  };
  for (let i = 0; i < sorted.length; ) {
    const [at, value] = sorted[i]!;
    if (value > SPARSE_MAX_VALUE) return undefined;
    zeros(at - index);
    let run = 1;
    while (run < 4 && sorted[i + run]?.[0] === at + run && sorted[i + run]![1] === value) run++;
    ops.push(0x80 | ((value - 1) << 2) | (run - 1));
    index = at + run;
    i += run;
    if (HEADER + ops.length > SPARSE_MAX_BYTES) return undefined;
  }
  zeros(REGISTERS - index);
  const out = header(1, HEADER + ops.length);
  out.set(ops, HEADER);
  return out;
}

function encodeDense(registers: Registers): Buffer {
  const out = header(0, DENSE_BYTES);
  for (const [index, value] of registers) denseSet(out, index, value);
  return out;
}

function denseGet(raw: Uint8Array, register: number): number {
  const bit = register * 6;
  const byte = HEADER + (bit >> 3);
  const shift = bit & 7;
  const b0 = raw[byte]!;
  const b1 = byte + 1 < raw.length ? raw[byte + 1]! : 0;
  return ((b0 >> shift) | (b1 << (8 - shift))) & 63;
}

function denseSet(raw: Uint8Array, register: number, value: number): void {
  const bit = register * 6;
  const byte = HEADER + (bit >> 3);
  const shift = bit & 7;
  raw[byte] = (raw[byte]! & ~(63 << shift)) | ((value << shift) & 0xff);
  if (byte + 1 < raw.length) {
    raw[byte + 1] = (raw[byte + 1]! & ~(63 >> (8 - shift))) | (value >> (8 - shift));
  }
}
